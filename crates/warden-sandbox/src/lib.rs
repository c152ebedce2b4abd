//! Linux sandbox cells: a warm pool of network namespaces with redirect rules, and unprivileged, limited handler processes inside them.
//!
//! A cell is a named network namespace (`/run/netns/PREFIXn`) joined to the host by a veth
//! pair (`PREFIXn-h` on the host, `eth0` inside) on its own /30, plus a cgroup. One nftables
//! table per pool (`inet warden_cells_PREFIX`) lets cells send only TCP and UDP/53, redirects
//! every TCP connection to the egress proxy and every DNS datagram to the DNS server, except
//! TCP to the cell's own host-side address at the Runtime API port. Handlers are spawned with
//! [`CellLease::configure`], which moves them into the cell, limits them, drops to an
//! unprivileged user without capabilities and installs a seccomp filter.
//!
//! ```no_run
//! use std::process::Command;
//! use warden_sandbox::{probe, CellPool, Limits, PoolConfig};
//!
//! probe("nobody")?; // refuse to start, or fall back to cooperative mode, on error
//! let pool = CellPool::create(PoolConfig::new(15001, 15353, 9001))?;
//! let lease = pool.acquire("tenant-a")?;
//! // Bind the Runtime API for this invocation on lease.host_addr():9001 and attribute
//! // egress from lease.cell_addr() to it, then:
//! let mut cmd = Command::new("/usr/bin/python3");
//! cmd.arg("handler.py").current_dir("/");
//! lease.configure(&mut cmd, &Limits { memory_mb: 256, cpu_percent: 100, pids_max: 64 })?;
//! let status = cmd.status()?;
//! pool.release(lease)?; // kills leftovers; the cell returns once conntrack is flushed
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This is the only crate of the workspace with `unsafe`: the `pre_exec` hook and a few raw
//! syscalls in the child (`prctl`, `capset`, `close_range`).
#![deny(unsafe_op_in_unsafe_fn)]

mod cgroup;
mod child;
mod config;
mod error;
mod netlink;
mod netns;
mod nft;
mod pool;
mod probe;

pub use cgroup::CgroupVersion;
pub use config::{Limits, PoolConfig, SandboxUser};
pub use error::{SandboxError, Unavailable};
pub use netns::NETNS_DIR;
pub use nft::{host_ifname, table_name};
pub use pool::{CellLease, CellPool, CleanupReport, CELL_IFNAME};
pub use probe::{check_executable_for, probe, Capabilities};
