//! Hardening of a handler process: the seccomp programs (compiled in the parent) and the
//! allocation-free `pre_exec` step that moves the child into its cell and drops privileges.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;

use nix::sched::{setns, CloneFlags};
use nix::sys::resource::{setrlimit, Resource};
use nix::unistd::{setgroups, setresgid, setresuid, setsid, Gid, Uid};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::error::SandboxError;

/// Syscalls that return EPERM for every argument.
const DENIED: &[i64] = &[
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_bpf,
    libc::SYS_ptrace,
    libc::SYS_process_vm_writev,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_userfaultfd,
];

/// Namespace flags refused in `clone(2)`.
const NS_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

fn arch() -> Result<TargetArch, SandboxError> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| SandboxError::Seccomp(e.to_string()))
}

fn cond(
    arg: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompRule, SandboxError> {
    let c = SeccompCondition::new(arg, len, op, value)
        .map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    SeccompRule::new(vec![c]).map_err(|e| SandboxError::Seccomp(e.to_string()))
}

/// The two filters: EPERM for the deny list, ENOSYS for `clone3` (whose flags live in memory
/// seccomp cannot read, so libc falls back to `clone`, where the flags are checked).
pub(crate) fn seccomp_programs() -> Result<Vec<BpfProgram>, SandboxError> {
    let arch = arch()?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for nr in DENIED {
        rules.insert(*nr, vec![]);
    }
    let mut clone_rules = Vec::new();
    for flag in NS_FLAGS {
        clone_rules.push(cond(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(*flag),
            *flag,
        )?);
    }
    rules.insert(libc::SYS_clone, clone_rules);
    rules.insert(
        libc::SYS_socket,
        vec![
            cond(
                0,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                libc::AF_PACKET as u64,
            )?,
            cond(
                0,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                libc::AF_NETLINK as u64,
            )?,
            cond(
                1,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::MaskedEq(0xf),
                libc::SOCK_RAW as u64,
            )?,
        ],
    );
    let eperm = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    let mut clone3 = BTreeMap::new();
    clone3.insert(libc::SYS_clone3, vec![]);
    let enosys = SeccompFilter::new(
        clone3,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    let mut out = Vec::new();
    for f in [eperm, enosys] {
        out.push(BpfProgram::try_from(f).map_err(|e| SandboxError::Seccomp(e.to_string()))?);
    }
    Ok(out)
}

/// Everything the child needs, prepared in the parent.
#[derive(Debug)]
pub(crate) struct Hardening {
    pub uid: u32,
    pub gid: u32,
    pub programs: Vec<BpfProgram>,
}

/// Linux capability header/data for `capset(2)` (version 3, two 32-bit words).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

fn errno() -> io::Error {
    io::Error::last_os_error()
}

fn nix_err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Runs in the forked child before `exec`. Allocation-free: only raw fds, integers and the
/// pre-built BPF programs are touched. Order matters: namespace and cgroup first (they need
/// privileges), then credentials, capabilities, no_new_privs, seccomp last.
pub(crate) fn enter_cell(netns: &File, procs: &[File], h: &Hardening) -> io::Result<()> {
    setsid().map_err(nix_err)?;
    setns(netns, CloneFlags::CLONE_NEWNET).map_err(nix_err)?;
    for f in procs {
        nix::unistd::write(f, b"0").map_err(nix_err)?;
    }
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(nix_err)?;
    // Mark every inherited descriptor above stderr close-on-exec.
    // SAFETY: close_range with the CLOEXEC flag only changes descriptor flags; no memory is passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc != 0 {
        let e = errno();
        if e.raw_os_error() != Some(libc::ENOSYS) && e.raw_os_error() != Some(libc::EINVAL) {
            return Err(e);
        }
    }
    setgroups(&[]).map_err(nix_err)?;
    let gid = Gid::from_raw(h.gid);
    setresgid(gid, gid, gid).map_err(nix_err)?;
    // Drop the bounding set while CAP_SETPCAP is still held.
    for cap in 0..64 {
        // SAFETY: PR_CAPBSET_DROP takes an integer capability number; no pointers.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if rc != 0 && errno().raw_os_error() != Some(libc::EINVAL) {
            return Err(errno());
        }
    }
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes only integer arguments.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if rc != 0 && errno().raw_os_error() != Some(libc::EINVAL) {
        return Err(errno());
    }
    let uid = Uid::from_raw(h.uid);
    setresuid(uid, uid, uid).map_err(nix_err)?;
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header and data are live, properly laid out (repr(C)) for the duration of the
    // call; version 3 reads exactly two CapData entries.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if rc != 0 {
        return Err(errno());
    }
    nix::sys::prctl::set_no_new_privs().map_err(nix_err)?;
    for prog in &h.programs {
        seccompiler::apply_filter(prog).map_err(|_| io::Error::from_raw_os_error(libc::EACCES))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seccomp_programs_compile() {
        let progs = seccomp_programs().unwrap();
        assert_eq!(progs.len(), 2);
        assert!(progs[0].len() > DENIED.len());
    }
}
