//! Pool configuration, per-invocation resource limits, and the unprivileged sandbox user.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use ipnet::Ipv4Net;

use crate::error::{SandboxError, Unavailable};

/// How a [`crate::CellPool`] is built.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Cells created at startup and kept warm.
    pub pool_size: usize,
    /// Hard cap on cells, warm plus created on demand when the pool is empty.
    pub max_cells: usize,
    /// Name prefix for netns, veths, cgroups and the nft table: 1-8 lowercase ASCII letters.
    pub prefix: String,
    /// Address space for cells: one /30 per cell (host side `.1`, cell side `.2`).
    pub subnet: Ipv4Net,
    /// Host TCP port of the egress proxy; every TCP connection from a cell is redirected here.
    pub proxy_port: u16,
    /// Host UDP port of the DNS server; every UDP/53 datagram from a cell is redirected here.
    pub dns_port: u16,
    /// TCP port of the Lambda Runtime API; a cell may reach it on its own host-side address only.
    pub runtime_port: u16,
    /// Unprivileged user the handlers run as.
    pub user: String,
    /// How long `acquire` waits for a released cell when all `max_cells` are leased.
    pub acquire_timeout: Duration,
    /// How long a scrub may wait for the cell's processes to die.
    pub scrub_timeout: Duration,
}

impl PoolConfig {
    /// Defaults (prefix `wdn`, subnet 10.201.0.0/16, 4 warm cells, at most 64, user `nobody`)
    /// with the three ports Warden listens on.
    pub fn new(proxy_port: u16, dns_port: u16, runtime_port: u16) -> Self {
        PoolConfig {
            pool_size: 4,
            max_cells: 64,
            prefix: "wdn".to_string(),
            subnet: Ipv4Net::new(Ipv4Addr::new(10, 201, 0, 0), 16).expect("valid prefix length"),
            proxy_port,
            dns_port,
            runtime_port,
            user: "nobody".to_string(),
            acquire_timeout: Duration::from_secs(2),
            scrub_timeout: Duration::from_secs(3),
        }
    }

    /// Number of /30 blocks the subnet holds.
    pub fn subnet_capacity(&self) -> usize {
        let bits = 32 - u32::from(self.subnet.prefix_len());
        if bits < 2 {
            0
        } else {
            1usize << (bits - 2).min(30)
        }
    }

    pub(crate) fn validate(&self) -> Result<(), SandboxError> {
        let bad = |field: &'static str, value: String, reason: &str| SandboxError::Config {
            field,
            value,
            reason: reason.to_string(),
        };
        if self.prefix.is_empty()
            || self.prefix.len() > 8
            || !self.prefix.bytes().all(|b| b.is_ascii_lowercase())
        {
            return Err(bad(
                "prefix",
                self.prefix.clone(),
                "must be 1-8 lowercase ASCII letters (names are PREFIX<n>-h and must fit 15 bytes)",
            ));
        }
        if self.max_cells == 0 || self.max_cells > 9999 {
            return Err(bad(
                "max_cells",
                self.max_cells.to_string(),
                "must be 1..=9999",
            ));
        }
        if self.pool_size > self.max_cells {
            return Err(bad(
                "pool_size",
                self.pool_size.to_string(),
                "must not exceed max_cells",
            ));
        }
        if self.max_cells > self.subnet_capacity() {
            return Err(bad(
                "subnet",
                self.subnet.to_string(),
                "too small: one /30 per cell is needed for max_cells cells",
            ));
        }
        if self.subnet.network() != self.subnet.addr() {
            return Err(bad(
                "subnet",
                self.subnet.to_string(),
                "host bits must be zero",
            ));
        }
        for (field, port) in [
            ("proxy_port", self.proxy_port),
            ("dns_port", self.dns_port),
            ("runtime_port", self.runtime_port),
        ] {
            if port == 0 {
                return Err(bad(field, "0".into(), "must be a real port"));
            }
        }
        if self.runtime_port == self.proxy_port {
            return Err(bad(
                "runtime_port",
                self.runtime_port.to_string(),
                "must differ from proxy_port",
            ));
        }
        Ok(())
    }

    /// Host-side (`.1`) and cell-side (`.2`) addresses of cell `index`.
    pub(crate) fn addrs(&self, index: usize) -> (Ipv4Addr, Ipv4Addr) {
        let base = u32::from(self.subnet.network()) + (index as u32) * 4;
        (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2))
    }
}

/// Resource limits of one invocation, applied to the cell's cgroup by `configure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory limit in MiB (`memory.max` / `memory.limit_in_bytes`); swap is disabled where possible.
    pub memory_mb: u64,
    /// CPU share in percent of one core (`cpu.max` / `cpu.cfs_quota_us`); 0 means unlimited.
    pub cpu_percent: u32,
    /// Maximum number of tasks (`pids.max`).
    pub pids_max: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: 256,
            cpu_percent: 100,
            pids_max: 64,
        }
    }
}

/// An unprivileged user resolved from `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl SandboxUser {
    /// Looks `name` up in `/etc/passwd`.
    pub fn lookup(name: &str) -> Result<SandboxUser, Unavailable> {
        Self::lookup_in(Path::new("/etc/passwd"), name)
    }

    pub(crate) fn lookup_in(passwd: &Path, name: &str) -> Result<SandboxUser, Unavailable> {
        let missing = || Unavailable::UserMissing {
            user: name.to_string(),
        };
        let text = std::fs::read_to_string(passwd).map_err(|_| missing())?;
        for line in text.lines() {
            let mut f = line.split(':');
            if f.next() != Some(name) {
                continue;
            }
            let _pw = f.next();
            let uid = f.next().and_then(|s| s.parse::<u32>().ok());
            let gid = f.next().and_then(|s| s.parse::<u32>().ok());
            if let (Some(uid), Some(gid)) = (uid, gid) {
                if uid == 0 {
                    return Err(Unavailable::UserPrivileged {
                        user: name.to_string(),
                    });
                }
                return Ok(SandboxUser {
                    name: name.to_string(),
                    uid,
                    gid,
                });
            }
        }
        Err(missing())
    }
}
