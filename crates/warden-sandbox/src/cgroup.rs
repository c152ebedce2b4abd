//! Per-cell cgroups on cgroup v2 or v1 (hybrid hosts): detection, limits, killing every
//! process of a cell, and removal.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::config::Limits;
use crate::error::{SandboxError, Unavailable};

/// Which cgroup hierarchy cells use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// Unified hierarchy with the memory and pids controllers available.
    V2,
    /// Legacy per-controller hierarchies (memory, pids, and cpu when mounted).
    V1,
}

/// Where the controllers are mounted.
#[derive(Debug, Clone)]
pub(crate) enum Layout {
    V2 {
        mount: PathBuf,
    },
    V1 {
        memory: PathBuf,
        pids: PathBuf,
        cpu: Option<PathBuf>,
    },
}

const PERIOD_US: u64 = 100_000;

impl Layout {
    /// Detects the hierarchy from `/proc/self/mounts`: a cgroup2 mount offering memory and pids
    /// wins; otherwise cgroup v1 memory and pids mounts are required.
    pub fn detect() -> Result<Layout, Unavailable> {
        let mounts = fs::read_to_string("/proc/self/mounts").map_err(|e| Unavailable::Cgroup {
            controller: "memory",
            reason: format!("cannot read /proc/self/mounts: {e}"),
        })?;
        Self::from_mounts(&mounts, |p| fs::read_to_string(p).ok())
    }

    pub(crate) fn from_mounts(
        mounts: &str,
        read: impl Fn(&Path) -> Option<String>,
    ) -> Result<Layout, Unavailable> {
        let (mut memory, mut pids, mut cpu) = (None, None, None);
        let mut v2_seen = Vec::new();
        for line in mounts.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                continue;
            }
            let (dir, fstype, opts) = (PathBuf::from(f[1]), f[2], f[3]);
            if fstype == "cgroup2" {
                let ctrls = read(&dir.join("cgroup.controllers")).unwrap_or_default();
                let has = |c: &str| ctrls.split_whitespace().any(|x| x == c);
                if has("memory") && has("pids") {
                    return Ok(Layout::V2 { mount: dir });
                }
                v2_seen.push(format!(
                    "{} (controllers: {:?})",
                    dir.display(),
                    ctrls.trim()
                ));
            } else if fstype == "cgroup" {
                for o in opts.split(',') {
                    match o {
                        "memory" => memory = Some(dir.clone()),
                        "pids" => pids = Some(dir.clone()),
                        "cpu" => cpu = Some(dir.clone()),
                        _ => {}
                    }
                }
            }
        }
        let seen = if v2_seen.is_empty() {
            "no cgroup2 mount".to_string()
        } else {
            format!("cgroup2 at {} lacks it", v2_seen.join(", "))
        };
        match (memory, pids) {
            (Some(memory), Some(pids)) => Ok(Layout::V1 { memory, pids, cpu }),
            (None, _) => Err(Unavailable::Cgroup {
                controller: "memory",
                reason: format!("{seen} and no cgroup v1 memory mount; enable the memory controller (cgroup_enable=memory)"),
            }),
            (_, None) => Err(Unavailable::Cgroup {
                controller: "pids",
                reason: format!("{seen} and no cgroup v1 pids mount; mount the pids controller"),
            }),
        }
    }

    pub fn version(&self) -> CgroupVersion {
        match self {
            Layout::V2 { .. } => CgroupVersion::V2,
            Layout::V1 { .. } => CgroupVersion::V1,
        }
    }

    /// The pool's parent directories, one per hierarchy.
    pub fn parents(&self, prefix: &str) -> Vec<PathBuf> {
        let name = format!("warden-{prefix}");
        match self {
            Layout::V2 { mount } => vec![mount.join(name)],
            Layout::V1 { memory, pids, cpu } => {
                let mut v = vec![memory.join(&name), pids.join(&name)];
                if let Some(cpu) = cpu {
                    if cpu != memory && cpu != pids {
                        v.push(cpu.join(&name));
                    }
                }
                v
            }
        }
    }

    /// Creates the pool's parent cgroups (and on v2 enables the controllers for them).
    pub fn setup_parents(&self, prefix: &str) -> Result<(), SandboxError> {
        if let Layout::V2 { mount } = self {
            enable_controllers(mount);
        }
        for dir in self.parents(prefix) {
            mkdir(&dir)?;
            if self.version() == CgroupVersion::V2 {
                enable_controllers(&dir);
            }
        }
        Ok(())
    }
}

fn enable_controllers(dir: &Path) {
    // Each controller separately: cpu may be missing or bound elsewhere; memory and pids
    // failures surface later when the limit files are absent.
    for c in ["+memory", "+pids", "+cpu"] {
        let _ = write_file(&dir.join("cgroup.subtree_control"), c);
    }
}

fn mkdir(dir: &Path) -> Result<(), SandboxError> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(SandboxError::Cgroup {
            path: dir.to_path_buf(),
            reason: format!("mkdir: {e}"),
        }),
    }
}

fn write_file(path: &Path, value: &str) -> Result<(), SandboxError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| SandboxError::Cgroup {
            path: path.to_path_buf(),
            reason: format!("write {value:?}: {e}"),
        })
}

/// Pids listed in `dir/cgroup.procs`.
pub(crate) fn procs_of(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// SIGKILLs everything in the cgroup at `dirs` until it is empty or `timeout` passes.
/// `pids_dir` is the directory whose `pids.max` is set to 0 first so nothing can fork.
fn kill_all(
    procs_dir: &Path,
    pids_dir: Option<&Path>,
    v2: bool,
    timeout: Duration,
) -> Result<(), String> {
    if let Some(p) = pids_dir {
        let _ = write_file(&p.join("pids.max"), "0");
    }
    if v2 && procs_dir.join("cgroup.kill").exists() {
        let _ = write_file(&procs_dir.join("cgroup.kill"), "1");
    }
    let start = Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        let pids = procs_of(procs_dir);
        if pids.is_empty() {
            return Ok(());
        }
        for pid in &pids {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        if start.elapsed() > timeout {
            return Err(format!(
                "{} process(es) still in {} after {} ms: {:?}",
                pids.len(),
                procs_dir.display(),
                timeout.as_millis(),
                pids
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// One cell's cgroup(s) with `cgroup.procs` held open for the child to join.
#[derive(Debug)]
pub(crate) struct CellCgroup {
    layout: Layout,
    dirs: Vec<PathBuf>,
    /// Open for writing; the child writes "0" to each to join.
    pub procs: Vec<File>,
}

impl CellCgroup {
    pub fn create(layout: &Layout, prefix: &str, cell: &str) -> Result<CellCgroup, SandboxError> {
        let dirs: Vec<PathBuf> = layout
            .parents(prefix)
            .into_iter()
            .map(|p| p.join(cell))
            .collect();
        let mut procs = Vec::new();
        for d in &dirs {
            mkdir(d)?;
            let p = d.join("cgroup.procs");
            procs.push(OpenOptions::new().write(true).open(&p).map_err(|e| {
                SandboxError::Cgroup {
                    path: p.clone(),
                    reason: format!("open: {e}"),
                }
            })?);
        }
        Ok(CellCgroup {
            layout: layout.clone(),
            dirs,
            procs,
        })
    }

    fn dir_for(&self, root: &Path) -> PathBuf {
        self.dirs
            .iter()
            .find(|d| d.starts_with(root))
            .cloned()
            .unwrap_or_else(|| self.dirs[0].clone())
    }

    /// Directory whose `cgroup.procs` lists every process of the cell.
    pub fn procs_dir(&self) -> PathBuf {
        match &self.layout {
            Layout::V2 { .. } => self.dirs[0].clone(),
            Layout::V1 { pids, .. } => self.dir_for(pids),
        }
    }

    /// Writes the limits into the cgroup files.
    pub fn apply(&self, limits: &Limits) -> Result<(), SandboxError> {
        for (field, v) in [
            ("memory_mb", limits.memory_mb),
            ("pids_max", u64::from(limits.pids_max)),
        ] {
            if v == 0 {
                return Err(SandboxError::Config {
                    field,
                    value: "0".into(),
                    reason: "must be at least 1".into(),
                });
            }
        }
        let bytes = limits.memory_mb.saturating_mul(1024 * 1024);
        let quota = if limits.cpu_percent == 0 {
            None
        } else {
            Some(u64::from(limits.cpu_percent) * PERIOD_US / 100)
        };
        match &self.layout {
            Layout::V2 { .. } => {
                let d = &self.dirs[0];
                write_file(&d.join("memory.max"), &bytes.to_string())?;
                if d.join("memory.swap.max").exists() {
                    write_file(&d.join("memory.swap.max"), "0")?;
                }
                write_file(&d.join("pids.max"), &limits.pids_max.to_string())?;
                if d.join("cpu.max").exists() {
                    let v = match quota {
                        Some(q) => format!("{q} {PERIOD_US}"),
                        None => format!("max {PERIOD_US}"),
                    };
                    write_file(&d.join("cpu.max"), &v)?;
                }
            }
            Layout::V1 { memory, pids, cpu } => {
                let m = self.dir_for(memory);
                let memsw = m.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    write_file(&memsw, "-1")?;
                }
                write_file(&m.join("memory.limit_in_bytes"), &bytes.to_string())?;
                if memsw.exists() {
                    write_file(&memsw, &bytes.to_string())?;
                } else {
                    let _ = write_file(&m.join("memory.swappiness"), "0");
                }
                write_file(
                    &self.dir_for(pids).join("pids.max"),
                    &limits.pids_max.to_string(),
                )?;
                if let Some(cpu) = cpu {
                    let c = self.dir_for(cpu);
                    write_file(&c.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
                    let q = quota.map(|q| q.to_string()).unwrap_or_else(|| "-1".into());
                    write_file(&c.join("cpu.cfs_quota_us"), &q)?;
                }
            }
        }
        Ok(())
    }

    /// Kills every process of the cell and waits until the cgroup is empty.
    pub fn kill_all(&self, timeout: Duration) -> Result<(), String> {
        let pids_dir = match &self.layout {
            Layout::V2 { .. } => self.dirs[0].clone(),
            Layout::V1 { pids, .. } => self.dir_for(pids),
        };
        kill_all(
            &self.procs_dir(),
            Some(&pids_dir),
            self.layout.version() == CgroupVersion::V2,
            timeout,
        )
    }

    /// Kills everything and removes the directories.
    pub fn destroy(self, timeout: Duration) -> Result<(), String> {
        let killed = self.kill_all(timeout);
        drop(self.procs);
        for d in &self.dirs {
            let _ = fs::remove_dir(d);
        }
        killed
    }
}

/// Removes every cell cgroup under the pool's parents (killing what runs there) and the parents.
/// Returns how many cell cgroups were removed.
pub(crate) fn cleanup(layout: &Layout, prefix: &str, timeout: Duration) -> usize {
    let v2 = layout.version() == CgroupVersion::V2;
    let mut removed = 0;
    let parents = layout.parents(prefix);
    // Kill first (v1: the pids hierarchy sees every process), then remove in all hierarchies.
    for parent in &parents {
        let Ok(rd) = fs::read_dir(parent) else {
            continue;
        };
        for entry in rd.flatten() {
            let dir = entry.path();
            if dir.is_dir() {
                let has_pids = dir.join("pids.max").exists();
                let _ = kill_all(&dir, has_pids.then_some(dir.as_path()), v2, timeout);
            }
        }
    }
    for parent in &parents {
        let Ok(rd) = fs::read_dir(parent) else {
            continue;
        };
        for entry in rd.flatten() {
            let dir = entry.path();
            if dir.is_dir() && fs::remove_dir(&dir).is_ok() && Some(parent) == parents.first() {
                removed += 1;
            }
        }
        let _ = fs::remove_dir(parent);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_host_uses_v1() {
        let mounts = "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid 0 0\n\
                      cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,memory 0 0\n\
                      cgroup /sys/fs/cgroup/pids cgroup rw,pids 0 0\n\
                      cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n";
        let l = Layout::from_mounts(mounts, |_| Some(String::new())).unwrap();
        match l {
            Layout::V1 { memory, pids, cpu } => {
                assert_eq!(memory, PathBuf::from("/sys/fs/cgroup/memory"));
                assert_eq!(pids, PathBuf::from("/sys/fs/cgroup/pids"));
                assert_eq!(cpu, Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")));
            }
            other => panic!("expected v1, got {other:?}"),
        }
    }

    #[test]
    fn pure_v2_with_controllers_wins() {
        let mounts = "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n";
        let l =
            Layout::from_mounts(mounts, |_| Some("cpuset cpu io memory pids\n".into())).unwrap();
        assert!(matches!(l, Layout::V2 { ref mount } if mount == Path::new("/sys/fs/cgroup")));
        assert_eq!(
            l.parents("wdn"),
            vec![PathBuf::from("/sys/fs/cgroup/warden-wdn")]
        );
    }

    #[test]
    fn missing_controllers_are_named() {
        let mounts = "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n";
        let err = Layout::from_mounts(mounts, |_| Some(String::new())).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("memory"), "{msg}");
        assert!(msg.contains("/sys/fs/cgroup/unified"), "{msg}");
    }
}
