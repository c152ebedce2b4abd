//! The cell pool: warm cells, leases, scrubbing between invocations, crash cleanup, shutdown.

use std::collections::VecDeque;
use std::fs::File;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::cgroup::{self, CellCgroup, CgroupVersion, Layout};
use crate::child::{self, Hardening};
use crate::config::{Limits, PoolConfig, SandboxUser};
use crate::error::SandboxError;
use crate::netlink::{self, Rtnl};
use crate::{netns, nft};

/// Interface name of the cell side of the veth, inside the cell's namespace.
pub const CELL_IFNAME: &str = "eth0";

/// Resources the child must reach through `pre_exec`; shared so they outlive `spawn`.
#[derive(Debug)]
struct CellFds {
    netns: File,
    cgroup: CellCgroup,
    /// Bumped whenever a lease ends; a `Command` configured under an older lease refuses to
    /// start (the child compares before joining the cell).
    generation: AtomicU64,
}

#[derive(Debug)]
struct Cell {
    index: usize,
    name: String,
    host_if: String,
    host_addr: Ipv4Addr,
    cell_addr: Ipv4Addr,
    fds: Arc<CellFds>,
}

#[derive(Debug, Default)]
struct State {
    idle: VecDeque<Cell>,
    /// Killed, waiting for the scrubber to flush their conntrack entries.
    pending: Vec<Cell>,
    free: Vec<usize>,
    live: usize,
    shut: bool,
}

#[derive(Debug)]
struct Inner {
    cfg: PoolConfig,
    layout: Layout,
    user: SandboxUser,
    hardening: Arc<Hardening>,
    state: Mutex<State>,
    returned: Condvar,
    work: Condvar,
}

/// What [`CellPool::cleanup_stale`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CleanupReport {
    pub netns: usize,
    pub links: usize,
    pub cgroups: usize,
    pub table: bool,
}

/// A pool of sandbox cells (one network namespace, veth pair and cgroup each) behind one
/// nftables table. Share it behind an `Arc`; dropping it shuts it down.
#[derive(Debug)]
pub struct CellPool {
    inner: Arc<Inner>,
    scrubber: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Exclusive use of one cell for one invocation. Give it back with [`CellPool::release`];
/// dropping it releases too (errors are then only logged with `tracing`). A `Command`
/// configured under a lease fails to spawn (ESTALE) once the lease has ended.
#[derive(Debug)]
pub struct CellLease {
    inner: Arc<Inner>,
    cell: Option<Cell>,
    tenant: String,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn cell_name(prefix: &str, index: usize) -> String {
    format!("{prefix}{index}")
}

/// Parses `PREFIX<digits>` and returns the digits' value.
fn index_of(prefix: &str, name: &str) -> Option<usize> {
    let rest = name.strip_prefix(prefix)?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

impl Inner {
    fn create_cell(&self, index: usize) -> Result<Cell, SandboxError> {
        let cfg = &self.cfg;
        let name = cell_name(&cfg.prefix, index);
        let host_if = nft::host_ifname(&cfg.prefix, index);
        let (host_addr, cell_addr) = cfg.addrs(index);
        let (ns_file, mut inner_rtnl) = netns::create(&name)?;
        let undo = |e: SandboxError| {
            if let Ok(mut r) = Rtnl::open() {
                if let Ok(Some(i)) = r.link_index(&host_if) {
                    let _ = r.delete_link(i);
                }
            }
            netns::remove(&name);
            e
        };
        let mut setup = || -> Result<CellCgroup, SandboxError> {
            let mut host = Rtnl::open()?;
            host.create_veth(&host_if, CELL_IFNAME, std::os::fd::AsFd::as_fd(&ns_file))?;
            let hi = host
                .link_index(&host_if)?
                .ok_or_else(|| SandboxError::Netlink {
                    op: format!("find {host_if}"),
                    reason: "created but not found".into(),
                })?;
            host.add_addr(hi, host_addr, 30)?;
            host.set_up(hi)?;
            let lo = inner_rtnl.link_index("lo")?.unwrap_or(1);
            inner_rtnl.set_up(lo)?;
            let ci = inner_rtnl
                .link_index(CELL_IFNAME)?
                .ok_or_else(|| SandboxError::Netlink {
                    op: format!("find {CELL_IFNAME} in netns {name}"),
                    reason: "peer not found".into(),
                })?;
            inner_rtnl.add_addr(ci, cell_addr, 30)?;
            inner_rtnl.set_up(ci)?;
            inner_rtnl.add_default_route(host_addr)?;
            CellCgroup::create(&self.layout, &cfg.prefix, &name)
        };
        let cgroup = setup().map_err(undo)?;
        Ok(Cell {
            index,
            name,
            host_if,
            host_addr,
            cell_addr,
            fds: Arc::new(CellFds {
                netns: ns_file,
                cgroup,
                generation: AtomicU64::new(0),
            }),
        })
    }

    /// Tears a cell down completely and frees its index.
    fn destroy_cell(&self, cell: Cell) -> Result<(), String> {
        let mut errors = Vec::new();
        let Cell {
            index,
            name,
            host_if,
            fds,
            ..
        } = cell;
        match Arc::try_unwrap(fds) {
            Ok(fds) => {
                if let Err(e) = fds.cgroup.destroy(self.cfg.scrub_timeout) {
                    errors.push(e);
                }
            }
            Err(shared) => {
                // A Command still holds the fds; at least empty the cgroup.
                if let Err(e) = shared.cgroup.kill_all(self.cfg.scrub_timeout) {
                    errors.push(e);
                }
            }
        }
        match Rtnl::open().and_then(|mut r| match r.link_index(&host_if)? {
            Some(i) => r.delete_link(i),
            None => Ok(()),
        }) {
            Ok(()) => {}
            Err(e) => errors.push(format!("delete {host_if}: {}", e.reason)),
        }
        netns::remove(&name);
        let mut st = lock(&self.state);
        st.live -= 1;
        st.free.push(index);
        let last_after_shutdown = st.shut && st.live == 0;
        drop(st);
        self.returned.notify_one();
        if last_after_shutdown {
            for p in self.layout.parents(&self.cfg.prefix) {
                let _ = std::fs::remove_dir(p);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    fn take_index(&self, st: &mut State) -> Option<usize> {
        if st.live >= self.cfg.max_cells {
            return None;
        }
        st.free.sort_unstable_by(|a, b| b.cmp(a));
        let i = st.free.pop()?;
        st.live += 1;
        Some(i)
    }

    fn untake_index(&self, i: usize) {
        let mut st = lock(&self.state);
        st.live -= 1;
        st.free.push(i);
        drop(st);
        self.returned.notify_one();
    }

    /// Creates a cell in place of a destroyed one, if the warm pool is below its size.
    fn replace_one(&self) {
        let idx = {
            let mut st = lock(&self.state);
            if st.shut || st.idle.len() + st.pending.len() >= self.cfg.pool_size {
                return;
            }
            self.take_index(&mut st)
        };
        let Some(i) = idx else { return };
        match self.create_cell(i) {
            Ok(c) => {
                lock(&self.state).idle.push_back(c);
                self.returned.notify_one();
            }
            Err(e) => {
                tracing::warn!(error = %e, "sandbox: could not replace a destroyed cell");
                self.untake_index(i);
            }
        }
    }

    /// First half of a scrub, on the caller's thread: kill everything in the cell. The cell
    /// then waits for the scrubber thread, which flushes its conntrack entries and makes it
    /// idle again.
    fn give_back(&self, cell: Cell) -> Result<(), SandboxError> {
        cell.fds.generation.fetch_add(1, Ordering::SeqCst);
        let killed = cell.fds.cgroup.kill_all(self.cfg.scrub_timeout);
        let mut st = lock(&self.state);
        if killed.is_ok() && !st.shut {
            st.pending.push(cell);
            drop(st);
            self.work.notify_one();
            return Ok(());
        }
        drop(st);
        let name = cell.name.clone();
        let destroyed = self.destroy_cell(cell);
        match killed {
            Err(reason) => {
                self.replace_one();
                Err(SandboxError::Scrub { cell: name, reason })
            }
            Ok(()) => destroyed.map_err(|reason| SandboxError::Scrub { cell: name, reason }),
        }
    }

    /// The scrubber thread: batches released cells, flushes their conntrack entries with one
    /// dump, and returns them to the idle queue (or destroys and replaces them on failure).
    fn scrubber(self: Arc<Self>) {
        loop {
            let batch: Vec<Cell> = {
                let mut st = lock(&self.state);
                while st.pending.is_empty() && !st.shut {
                    st = self.work.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                if st.pending.is_empty() {
                    return;
                }
                st.pending.drain(..).collect()
            };
            let marks: Vec<u32> = batch
                .iter()
                .map(|c| nft::conntrack_mark(c.cell_addr))
                .collect();
            let flushed = netlink::flush_conntrack(&marks);
            let mut failed = 0;
            for cell in batch {
                let shut = lock(&self.state).shut;
                if shut {
                    let _ = self.destroy_cell(cell);
                } else if let Err(e) = &flushed {
                    tracing::warn!(cell = %cell.name, reason = %e.reason, "sandbox: conntrack flush failed; destroying the cell");
                    let _ = self.destroy_cell(cell);
                    failed += 1;
                } else {
                    lock(&self.state).idle.push_back(cell);
                    self.returned.notify_one();
                }
            }
            for _ in 0..failed {
                self.replace_one();
            }
        }
    }
}

impl CellPool {
    /// Builds the pool: removes leftovers of a previous run with the same prefix, loads the nft
    /// table, prepares the cgroup parents and creates `pool_size` warm cells.
    pub fn create(cfg: PoolConfig) -> Result<CellPool, SandboxError> {
        cfg.validate()?;
        let user = SandboxUser::lookup(&cfg.user)?;
        let layout = Layout::detect()?;
        Self::cleanup_stale(&cfg.prefix)?;
        let hardening = Arc::new(Hardening {
            uid: user.uid,
            gid: user.gid,
            programs: child::seccomp_programs()?,
        });
        nft::install(&cfg)?;
        if let Err(e) = layout.setup_parents(&cfg.prefix) {
            let _ = nft::delete(&cfg.prefix);
            return Err(e);
        }
        let state = State {
            free: (0..cfg.max_cells).collect(),
            ..State::default()
        };
        let inner = Arc::new(Inner {
            cfg,
            layout,
            user,
            hardening,
            state: Mutex::new(state),
            returned: Condvar::new(),
            work: Condvar::new(),
        });
        let scrub_inner = inner.clone();
        let handle = std::thread::Builder::new()
            .name(format!("{}-scrub", inner.cfg.prefix))
            .spawn(move || scrub_inner.scrubber())
            .map_err(|e| SandboxError::io("spawn the cell scrubber thread", e))?;
        let pool = CellPool {
            inner,
            scrubber: Mutex::new(Some(handle)),
        };
        for _ in 0..pool.inner.cfg.pool_size {
            let idx = pool.inner.take_index(&mut lock(&pool.inner.state));
            let Some(i) = idx else { break };
            match pool.inner.create_cell(i) {
                Ok(c) => lock(&pool.inner.state).idle.push_back(c),
                Err(e) => {
                    pool.inner.untake_index(i);
                    pool.shutdown();
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }

    /// The configuration the pool was built with.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.cfg
    }

    /// The resolved unprivileged user handlers run as.
    pub fn user(&self) -> &SandboxUser {
        &self.inner.user
    }

    /// The cgroup hierarchy in use.
    pub fn cgroup_version(&self) -> CgroupVersion {
        self.inner.layout.version()
    }

    /// Cells currently idle (warm and scrubbed) in the pool.
    pub fn idle(&self) -> usize {
        lock(&self.inner.state).idle.len()
    }

    /// Takes a scrubbed cell for `tenant`. Order: a warm cell (O(1), no netlink, no nft); else a
    /// new cell created on the spot while fewer than `max_cells` exist (a few ms); else waits up
    /// to `acquire_timeout` for a release, then fails with [`SandboxError::Exhausted`]. Blocking:
    /// call it from `spawn_blocking` if the pool may be exhausted.
    pub fn acquire(&self, tenant: &str) -> Result<CellLease, SandboxError> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.cfg.acquire_timeout;
        let mut st = lock(&inner.state);
        loop {
            if st.shut {
                return Err(SandboxError::ShutDown);
            }
            if let Some(cell) = st.idle.pop_front() {
                return Ok(CellLease {
                    inner: inner.clone(),
                    cell: Some(cell),
                    tenant: tenant.to_string(),
                });
            }
            if let Some(i) = inner.take_index(&mut st) {
                drop(st);
                return match inner.create_cell(i) {
                    Ok(cell) => Ok(CellLease {
                        inner: inner.clone(),
                        cell: Some(cell),
                        tenant: tenant.to_string(),
                    }),
                    Err(e) => {
                        inner.untake_index(i);
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SandboxError::Exhausted {
                    max: inner.cfg.max_cells,
                    waited_ms: inner.cfg.acquire_timeout.as_millis() as u64,
                });
            }
            st = inner
                .returned
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Scrubs the cell and returns it to the pool for any tenant. Every process in the cell's
    /// cgroup is SIGKILLed and gone when this returns (microseconds when the handler already
    /// exited); the cell's conntrack entries are then deleted by the pool's scrubber thread,
    /// and only after that is the cell handed out again. If killing fails, the cell is
    /// destroyed, a new one is created in its place, and the error says why; a failed
    /// conntrack flush likewise destroys and replaces the cell (logged with `tracing`).
    pub fn release(&self, mut lease: CellLease) -> Result<(), SandboxError> {
        match lease.cell.take() {
            Some(cell) => lease.inner.give_back(cell),
            None => Ok(()),
        }
    }

    /// Destroys the cell instead of returning it (e.g. after a handler misbehaved). The pool
    /// creates a fresh cell on a later `acquire` when no warm one is left.
    pub fn discard(&self, mut lease: CellLease) -> Result<(), SandboxError> {
        match lease.cell.take() {
            Some(cell) => {
                cell.fds.generation.fetch_add(1, Ordering::SeqCst);
                let name = cell.name.clone();
                lease
                    .inner
                    .destroy_cell(cell)
                    .map_err(|reason| SandboxError::Scrub { cell: name, reason })
            }
            None => Ok(()),
        }
    }

    /// Removes leftovers of a pool with this prefix (netns under /run/netns, host veths, the nft
    /// table, cgroups, killing any process still in them) — e.g. after a crash. Safe to call
    /// when there are none. The prefix identifies one Warden instance: a live pool with the
    /// same prefix in another process would be torn down too.
    pub fn cleanup_stale(prefix: &str) -> Result<CleanupReport, SandboxError> {
        let mut report = CleanupReport::default();
        if let Ok(layout) = Layout::detect() {
            report.cgroups = cgroup::cleanup(&layout, prefix, Duration::from_secs(3));
        }
        let mut r = Rtnl::open()?;
        for name in r.link_names()? {
            let Some(base) = name.strip_suffix("-h") else {
                continue;
            };
            if index_of(prefix, base).is_some() {
                if let Some(i) = r.link_index(&name)? {
                    if r.delete_link(i).is_ok() {
                        report.links += 1;
                    }
                }
            }
        }
        for name in netns::list() {
            if index_of(prefix, &name).is_some() && netns::remove(&name) {
                report.netns += 1;
            }
        }
        if nft::find_nft().is_some() {
            report.table = nft::delete(prefix)?;
        }
        Ok(report)
    }

    /// Destroys idle cells, the nft table and the cgroup parents. Leased cells are destroyed
    /// when their lease is released or dropped. Idempotent; also run on drop of the last handle.
    pub fn shutdown(&self) {
        lock(&self.inner.state).shut = true;
        self.inner.work.notify_all();
        self.inner.returned.notify_all();
        let handle = self
            .scrubber
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        let idle: Vec<Cell> = lock(&self.inner.state).idle.drain(..).collect();
        for cell in idle {
            let _ = self.inner.destroy_cell(cell);
        }
        let _ = nft::delete(&self.inner.cfg.prefix);
        for p in self.inner.layout.parents(&self.inner.cfg.prefix) {
            let _ = std::fs::remove_dir(p);
        }
    }
}

impl Drop for CellPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl CellLease {
    fn cell(&self) -> &Cell {
        self.cell
            .as_ref()
            .expect("a lease holds its cell until release")
    }

    /// Cell-side address (`.2`): the source address the egress proxy sees.
    pub fn cell_addr(&self) -> Ipv4Addr {
        self.cell().cell_addr
    }

    /// Host-side address (`.1`): where this cell's Runtime API must listen.
    pub fn host_addr(&self) -> Ipv4Addr {
        self.cell().host_addr
    }

    /// Cell name (also the netns name under /run/netns and the cgroup name).
    pub fn name(&self) -> &str {
        &self.cell().name
    }

    /// Host-side veth name.
    pub fn host_ifname(&self) -> &str {
        &self.cell().host_if
    }

    /// Tenant the cell is leased to.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Pids currently in the cell's cgroup.
    pub fn pids(&self) -> Vec<i32> {
        cgroup::procs_of(&self.cell().fds.cgroup.procs_dir())
    }

    /// Applies `limits` to the cell's cgroup and arranges for `cmd`'s child, before exec, to:
    /// start a new session, join the cell's network namespace and cgroup, set RLIMIT_CORE 0,
    /// mark inherited fds above 2 close-on-exec, drop supplementary groups, switch to the
    /// sandbox uid/gid, clear all capabilities (bounding and ambient too), set no_new_privs and
    /// install the seccomp filters. Call once per command, before `spawn`.
    pub fn configure(&self, cmd: &mut Command, limits: &Limits) -> Result<(), SandboxError> {
        let cell = self.cell();
        cell.fds.cgroup.apply(limits)?;
        let fds = cell.fds.clone();
        let hardening = self.inner.hardening.clone();
        let generation = fds.generation.load(Ordering::SeqCst);
        let run = move || {
            if fds.generation.load(Ordering::SeqCst) != generation {
                // The lease this command was configured under has ended.
                return Err(std::io::Error::from_raw_os_error(libc::ESTALE));
            }
            child::enter_cell(&fds.netns, &fds.cgroup.procs, &hardening)
        };
        // SAFETY: `enter_cell` runs between fork and exec. It allocates nothing and takes no
        // locks: it only issues syscalls on fds and data prepared here, which the closure keeps
        // alive through the Arcs it owns.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(cmd, run);
        }
        Ok(())
    }
}

impl Drop for CellLease {
    fn drop(&mut self) {
        if let Some(cell) = self.cell.take() {
            if let Err(e) = self.inner.give_back(cell) {
                tracing::warn!(error = %e, "sandbox: releasing a dropped lease");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_do_not_collide_across_prefixes() {
        assert_eq!(index_of("wta", "wta12"), Some(12));
        assert_eq!(index_of("wt", "wta12"), None);
        assert_eq!(index_of("wta", "wta"), None);
        assert_eq!(index_of("wta", "wta1x"), None);
    }
}
