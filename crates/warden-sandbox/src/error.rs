//! Error types: `SandboxError` for pool operations, `Unavailable` for missing host prerequisites.

use std::path::PathBuf;

/// Why the host cannot run sandbox cells. Every message says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("sandbox cells need Linux (this is {os}); use cooperative mode")]
    NotLinux { os: &'static str },
    #[error("sandbox cells need root (effective uid is {euid}); run warden as root or use cooperative mode")]
    NotRoot { euid: u32 },
    #[error("sandbox cells need capability {cap} (missing from CapEff in /proc/self/status); run with it or use cooperative mode")]
    MissingCapability { cap: &'static str },
    #[error("network namespaces are unavailable: {reason}")]
    Netns { reason: String },
    #[error("`nft` was not found on PATH or in /usr/sbin, /sbin: install the nftables package (apt-get install nftables)")]
    NftMissing,
    #[error("`nft` does not work here: {reason}")]
    NftBroken { reason: String },
    #[error("conntrack netlink is unavailable: {reason} (load the nf_conntrack_netlink module)")]
    Conntrack { reason: String },
    #[error("no usable cgroup {controller} controller: {reason}")]
    Cgroup {
        controller: &'static str,
        reason: String,
    },
    #[error(
        "sandbox user {user:?} does not exist in /etc/passwd: create it or configure another user"
    )]
    UserMissing { user: String },
    #[error("sandbox user {user:?} has uid 0: configure an unprivileged user")]
    UserPrivileged { user: String },
    #[error("{what} {path} does not exist: {reason}")]
    NotFound {
        what: String,
        path: PathBuf,
        reason: String,
    },
    #[error("{what} {path} is not reachable by user {user}: {dir} is mode {mode:04o} (grant traverse with chmod o+x {dir} or install it elsewhere)")]
    NotReachable {
        what: String,
        path: PathBuf,
        user: String,
        dir: PathBuf,
        mode: u32,
    },
    #[error("{what} {path} is not executable by user {user}: it is mode {mode:04o}, owned by uid {owner} (chmod o+rx {path} or install it elsewhere)")]
    NotExecutable {
        what: String,
        path: PathBuf,
        user: String,
        mode: u32,
        owner: u32,
    },
}

/// A failed pool operation.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid sandbox config: {field} = {value:?}: {reason}")]
    Config {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error("{op}: {source}")]
    Io {
        op: String,
        #[source]
        source: std::io::Error,
    },
    #[error("netlink {op} failed: {reason}")]
    Netlink { op: String, reason: String },
    #[error("nft {what} failed: {stderr}")]
    Nft { what: String, stderr: String },
    #[error("cgroup {path}: {reason}")]
    Cgroup { path: PathBuf, reason: String },
    #[error("seccomp filter: {0}")]
    Seccomp(String),
    #[error(
        "no free sandbox cell: all {max} cells are leased and none came back within {waited_ms} ms"
    )]
    Exhausted { max: usize, waited_ms: u64 },
    #[error("the cell pool is shut down")]
    ShutDown,
    #[error("scrubbing cell {cell} failed (it was destroyed and replaced): {reason}")]
    Scrub { cell: String, reason: String },
}

impl SandboxError {
    pub(crate) fn io(op: impl Into<String>, source: std::io::Error) -> Self {
        SandboxError::Io {
            op: op.into(),
            source,
        }
    }
}
