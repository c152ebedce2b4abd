//! Startup checks: can this host run sandbox cells, and can the sandbox user run a handler?

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::cgroup::{CgroupVersion, Layout};
use crate::config::SandboxUser;
use crate::error::Unavailable;
use crate::{netlink, netns, nft};

/// What the host offers for cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub cgroup: CgroupVersion,
    pub nft: PathBuf,
    pub user: SandboxUser,
}

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;

fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

/// Checks everything cells need, in order, and returns the first missing piece: Linux, root,
/// CAP_NET_ADMIN and CAP_SYS_ADMIN, network namespace creation and /run/netns, `nft`,
/// conntrack netlink, cgroup memory and pids controllers, the sandbox user.
pub fn probe(user: &str) -> Result<Capabilities, Unavailable> {
    if !cfg!(target_os = "linux") {
        return Err(Unavailable::NotLinux {
            os: std::env::consts::OS,
        });
    }
    let euid = nix::unistd::geteuid().as_raw();
    if euid != 0 {
        return Err(Unavailable::NotRoot { euid });
    }
    let caps = effective_caps().unwrap_or(0);
    for (bit, cap) in [
        (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
        (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
    ] {
        if caps & (1 << bit) == 0 {
            return Err(Unavailable::MissingCapability { cap });
        }
    }
    netns::can_create().map_err(|reason| Unavailable::Netns { reason })?;
    let nft = nft::find_nft().ok_or(Unavailable::NftMissing)?;
    nft::check().map_err(|reason| Unavailable::NftBroken { reason })?;
    netlink::conntrack_available().map_err(|e| Unavailable::Conntrack { reason: e.reason })?;
    let cgroup = Layout::detect()?.version();
    let user = SandboxUser::lookup(user)?;
    Ok(Capabilities { cgroup, nft, user })
}

fn may(meta: &std::fs::Metadata, user: &SandboxUser, bit: u32) -> bool {
    let mode = meta.permissions().mode();
    if meta.uid() == user.uid {
        mode & (bit << 6) != 0
    } else if meta.gid() == user.gid {
        mode & (bit << 3) != 0
    } else {
        mode & bit != 0
    }
}

fn check_dirs(
    what: &str,
    shown: &Path,
    path: &Path,
    user: &SandboxUser,
) -> Result<(), Unavailable> {
    let mut dir = PathBuf::new();
    let comps: Vec<Component<'_>> = path.components().collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        dir.push(c);
        let Ok(meta) = std::fs::metadata(&dir) else {
            continue;
        };
        if meta.is_dir() && !may(&meta, user, 0o1) {
            return Err(Unavailable::NotReachable {
                what: what.to_string(),
                path: shown.to_path_buf(),
                user: user.name.clone(),
                dir: dir.clone(),
                mode: meta.permissions().mode() & 0o7777,
            });
        }
    }
    Ok(())
}

fn check_one(what: &str, path: &Path, user: &SandboxUser) -> Result<PathBuf, Unavailable> {
    let not_found = |reason: String| Unavailable::NotFound {
        what: what.to_string(),
        path: path.to_path_buf(),
        reason,
    };
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        let p = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&p)
            .map(|d| d.join(path))
            .find(|c| c.is_file())
            .ok_or_else(|| not_found("not found on PATH".into()))?
    };
    check_dirs(what, &path, &path, user)?;
    let real = std::fs::canonicalize(&path).map_err(|e| not_found(e.to_string()))?;
    check_dirs(what, &path, &real, user)?;
    let meta = std::fs::metadata(&real).map_err(|e| not_found(e.to_string()))?;
    if !meta.is_file() || !may(&meta, user, 0o1) {
        return Err(Unavailable::NotExecutable {
            what: what.to_string(),
            path: real,
            user: user.name.clone(),
            mode: meta.permissions().mode() & 0o7777,
            owner: meta.uid(),
        });
    }
    Ok(real)
}

/// Checks that `user` can execute `path` (`what` names it in messages, e.g. "handler
/// interpreter"): every directory on the way (through symlinks) must be searchable and the
/// file executable by that user. A script's `#!` interpreter is checked as well. Returns the
/// resolved path.
pub fn check_executable_for(
    user: &SandboxUser,
    what: &str,
    path: &Path,
) -> Result<PathBuf, Unavailable> {
    let real = check_one(what, path, user)?;
    let head = std::fs::read(&real)
        .ok()
        .map(|b| b.into_iter().take(256).collect::<Vec<u8>>());
    if let Some(head) = head {
        if let Some(rest) = head.strip_prefix(b"#!") {
            let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
            let line = String::from_utf8_lossy(line);
            if let Some(interp) = line.split_whitespace().next() {
                check_one(
                    &format!("interpreter of {}", real.display()),
                    Path::new(interp),
                    user,
                )?;
                if !may(
                    &std::fs::metadata(&real).map_err(|e| Unavailable::NotFound {
                        what: what.to_string(),
                        path: real.clone(),
                        reason: e.to_string(),
                    })?,
                    user,
                    0o4,
                ) {
                    let meta = std::fs::metadata(&real).ok();
                    return Err(Unavailable::NotExecutable {
                        what: format!("{what} (script, needs read)"),
                        path: real.clone(),
                        user: user.name.clone(),
                        mode: meta
                            .as_ref()
                            .map(|m| m.permissions().mode() & 0o7777)
                            .unwrap_or(0),
                        owner: meta.map(|m| m.uid()).unwrap_or(0),
                    });
                }
            }
        }
    }
    Ok(real)
}
