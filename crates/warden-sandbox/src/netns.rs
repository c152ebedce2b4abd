//! Named network namespaces under `/run/netns` (visible to `ip netns`), created from a
//! short-lived thread so the calling thread never changes namespace.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use crate::error::SandboxError;
use crate::netlink::Rtnl;

/// Directory `ip netns` uses for named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

pub(crate) fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Creates the namespace `name`, bind-mounted at `/run/netns/NAME`, with IPv6 disabled, and
/// returns an fd for it plus a route netlink socket that lives inside it.
pub(crate) fn create(name: &str) -> Result<(File, Rtnl), SandboxError> {
    fs::create_dir_all(NETNS_DIR)
        .map_err(|e| SandboxError::io(format!("create {NETNS_DIR}"), e))?;
    let path = netns_path(name);
    File::create(&path).map_err(|e| SandboxError::io(format!("create {}", path.display()), e))?;
    let made = std::thread::scope(|s| {
        s.spawn(|| -> Result<Rtnl, SandboxError> {
            unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| SandboxError::io("unshare(CLONE_NEWNET)", e.into()))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| {
                SandboxError::io(format!("bind-mount netns at {}", path.display()), e.into())
            })?;
            for knob in ["all", "default"] {
                let p = format!("/proc/sys/net/ipv6/conf/{knob}/disable_ipv6");
                // A kernel without IPv6 has no such file, which is just as good.
                if Path::new(&p).exists() {
                    fs::OpenOptions::new()
                        .write(true)
                        .open(&p)
                        .and_then(|mut f| f.write_all(b"1"))
                        .map_err(|e| {
                            SandboxError::io(format!("write 1 to {p} in netns {name}"), e)
                        })?;
                }
            }
            Ok(Rtnl::open()?)
        })
        .join()
        .unwrap_or_else(|_| {
            Err(SandboxError::Netlink {
                op: format!("create netns {name}"),
                reason: "thread panicked".into(),
            })
        })
    });
    let rtnl = match made {
        Ok(r) => r,
        Err(e) => {
            remove(name);
            return Err(e);
        }
    };
    let fd = File::open(&path).map_err(|e| {
        remove(name);
        SandboxError::io(format!("open {}", path.display()), e)
    })?;
    Ok((fd, rtnl))
}

/// Unmounts and removes `/run/netns/NAME`; the namespace dies with its last user.
pub(crate) fn remove(name: &str) -> bool {
    let path = netns_path(name);
    let _ = umount2(&path, MntFlags::MNT_DETACH);
    fs::remove_file(&path).is_ok()
}

/// Names in `/run/netns`.
pub(crate) fn list() -> Vec<String> {
    fs::read_dir(NETNS_DIR)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Checks that a network namespace can be created (without naming it).
pub(crate) fn can_create() -> Result<(), String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))
        })
        .join()
        .unwrap_or_else(|_| Err("thread panicked".into()))
    })?;
    fs::create_dir_all(NETNS_DIR).map_err(|e| format!("cannot create {NETNS_DIR}: {e}"))
}
