//! Real cells, real nft rules, real processes: egress redirection, isolation between cells,
//! privilege dropping, limits, scrubbing and crash cleanup. Needs root; skips otherwise.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use ipnet::Ipv4Net;
use nix::sys::socket::{getsockopt, sockopt::OriginalDst};
use tokio::net::{TcpListener, UdpSocket};
use warden_sandbox::{probe, CellLease, CellPool, Limits, PoolConfig, SandboxError};

const PY: &str = "/usr/bin/python3";

/// True when the test can run; prints why not otherwise.
fn can_run() -> bool {
    match probe("nobody") {
        Ok(_) => true,
        Err(e) => {
            println!("skipped: needs root and network namespaces ({e})");
            false
        }
    }
}

fn config(prefix: &str, third_octet: u8, proxy: u16, dns: u16) -> PoolConfig {
    let mut cfg = PoolConfig::new(proxy, dns, 9001);
    cfg.prefix = prefix.to_string();
    cfg.subnet = Ipv4Net::new(Ipv4Addr::new(10, 251, third_octet, 0), 24).unwrap();
    cfg.pool_size = 2;
    cfg.max_cells = 4;
    cfg
}

/// Runs `python3 -c code` inside the lease's cell (blocking).
fn py(lease: &CellLease, limits: &Limits, code: &str) -> Output {
    let mut cmd = Command::new(PY);
    cmd.arg("-c")
        .arg(code)
        .current_dir("/")
        .stdin(Stdio::null());
    lease.configure(&mut cmd, limits).unwrap();
    cmd.output().unwrap()
}

async fn py_async(lease: &CellLease, code: &str) -> Output {
    let mut cmd = Command::new(PY);
    cmd.arg("-c")
        .arg(code)
        .current_dir("/")
        .stdin(Stdio::null());
    lease.configure(&mut cmd, &Limits::default()).unwrap();
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Accepts one connection and returns (peer, original destination, first bytes).
async fn accept_one(l: &TcpListener) -> (SocketAddr, SocketAddrV4, Vec<u8>) {
    let (s, peer) = tokio::time::timeout(Duration::from_secs(5), l.accept())
        .await
        .expect("no connection")
        .unwrap();
    let std = s.into_std().unwrap();
    let orig = getsockopt(&std, OriginalDst).unwrap();
    let dst = SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(orig.sin_addr.s_addr)),
        u16::from_be(orig.sin_port),
    );
    std.set_nonblocking(false).unwrap();
    std.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = vec![0u8; 64];
    let n = std::io::Read::read(&mut &std, &mut buf).unwrap_or(0);
    buf.truncate(n);
    (peer, dst, buf)
}

const CONNECT: &str = r#"
import socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=3)
    s.sendall(("hello " + target).encode())
    s.close()
"#;

fn connect_code(targets: &[String]) -> String {
    format!("import sys; sys.argv = ['x'] + {targets:?}\n{CONNECT}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_and_dns_go_to_warden_everything_else_is_dropped() {
    if !can_run() {
        return;
    }
    let proxy = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let dns = UdpSocket::bind("0.0.0.0:0").await.unwrap();
    let other_udp = UdpSocket::bind("0.0.0.0:0").await.unwrap();
    let cfg = config(
        "wta",
        1,
        proxy.local_addr().unwrap().port(),
        dns.local_addr().unwrap().port(),
    );
    let pool = CellPool::create(cfg).unwrap();
    let lease = pool.acquire("tenant-a").unwrap();
    let (cell, host) = (lease.cell_addr(), lease.host_addr());
    assert_eq!(cell.octets()[..3], [10, 251, 1]);
    assert_eq!(u32::from(cell), u32::from(host) + 1);

    let targets = vec![
        "93.184.216.34:80".to_string(),
        "169.254.169.254:80".into(),
        format!("{host}:22"),
    ];
    let code = connect_code(&targets);
    let child = py_async(&lease, &code);
    let accepts = async {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(accept_one(&proxy).await);
        }
        got
    };
    let (out, got) = tokio::join!(child, accepts);
    assert!(out.status.success(), "{}", text(&out));
    for (target, (peer, dst, bytes)) in targets.iter().zip(got) {
        assert_eq!(
            peer.ip(),
            std::net::IpAddr::V4(cell),
            "source must be the cell address"
        );
        assert_eq!(&dst.to_string(), target, "SO_ORIGINAL_DST");
        assert_eq!(bytes, format!("hello {target}").into_bytes());
    }

    // DNS to a hard-coded resolver lands on our DNS socket; other UDP goes nowhere.
    let other_port = other_udp.local_addr().unwrap().port();
    let code = format!(
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.sendto(b'other-host', ('{host}', {other_port}))\n\
         s.sendto(b'other-remote', ('8.8.4.4', {other_port}))\n\
         s.sendto(b'dns-query', ('8.8.8.8', 53))\n"
    );
    let out = py_async(&lease, &code).await;
    assert!(out.status.success(), "{}", text(&out));
    let mut buf = [0u8; 64];
    let (n, from) = tokio::time::timeout(Duration::from_secs(3), dns.recv_from(&mut buf))
        .await
        .expect("no DNS datagram")
        .unwrap();
    assert_eq!(&buf[..n], b"dns-query");
    assert_eq!(from.ip(), std::net::IpAddr::V4(cell));
    let stray =
        tokio::time::timeout(Duration::from_millis(500), other_udp.recv_from(&mut buf)).await;
    assert!(stray.is_err(), "non-DNS UDP must be dropped, got {stray:?}");

    // IPv6 is off inside the cell and cannot be used.
    let code = "import socket\nprint(open('/proc/sys/net/ipv6/conf/all/disable_ipv6').read().strip())\n\
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)\ns.settimeout(2)\n\
        try:\n    s.connect(('2001:db8::1', 80)); print('v6-connected')\nexcept OSError as e:\n    print('v6-failed', e.errno)\n";
    let out = py_async(&lease, code).await;
    let so = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        so.starts_with("1\n") && so.contains("v6-failed"),
        "{}",
        text(&out)
    );

    // ICMP is dropped even for root inside the namespace (raw socket echo to the host side).
    let icmp = format!(
        "import socket, struct\ns = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\n\
         s.settimeout(1.5)\nh = struct.pack('!BBHHH', 8, 0, 0, 1, 1)\n\
         c = ~sum(struct.unpack('!4H', h)) & 0xffff\nc = (c & 0xffff) + (c >> 16)\n\
         s.sendto(struct.pack('!BBHHH', 8, 0, c & 0xffff, 1, 1), ('{host}', 0))\n\
         try:\n    s.recv(64); print('icmp-reply')\nexcept socket.timeout:\n    print('icmp-timeout')\n"
    );
    let out = Command::new("ip")
        .args(["netns", "exec", lease.name(), PY, "-c", &icmp])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "icmp-timeout",
        "{}",
        text(&out)
    );

    pool.release(lease).unwrap();
    pool.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_api_is_reachable_only_from_its_own_cell() {
    if !can_run() {
        return;
    }
    let proxy = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let cfg = config("wtb", 2, proxy.local_addr().unwrap().port(), 15353);
    let pool = CellPool::create(cfg).unwrap();
    let a = pool.acquire("tenant-a").unwrap();
    let b = pool.acquire("tenant-b").unwrap();
    assert_ne!(a.name(), b.name());
    let runtime_a = TcpListener::bind((a.host_addr(), 9001)).await.unwrap();
    let target = vec![format!("{}:9001", a.host_addr())];
    let code = connect_code(&target);

    // From its own cell: straight to the Runtime API listener.
    let (out, got) = tokio::join!(py_async(&a, &code), accept_one(&runtime_a));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(got.0.ip(), std::net::IpAddr::V4(a.cell_addr()));
    assert_eq!(got.2, format!("hello {}", target[0]).into_bytes());

    // From another cell: redirected to the proxy like any other destination, never the API.
    let (out, got) = tokio::join!(py_async(&b, &code), accept_one(&proxy));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(got.0.ip(), std::net::IpAddr::V4(b.cell_addr()));
    assert_eq!(got.1.to_string(), target[0]);
    let stray = tokio::time::timeout(Duration::from_millis(300), runtime_a.accept()).await;
    assert!(stray.is_err(), "cell B reached cell A's Runtime API");
    pool.release(a).unwrap();
    pool.release(b).unwrap();
}

const INSPECT: &str = r#"
import ctypes, errno, os, socket, subprocess
st = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
for k in ["Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"]:
    print(k, " ".join(st[k].split()))
libc = ctypes.CDLL(None, use_errno=True)
for name, flags in [("newuser", 0x10000000), ("newnet", 0x40000000), ("newns", 0x20000)]:
    rc = libc.unshare(flags)
    print("unshare", name, rc, errno.errorcode.get(ctypes.get_errno()))
for name, args in [("raw", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)),
                   ("packet", (socket.AF_PACKET, socket.SOCK_RAW, 0)),
                   ("netlink", (socket.AF_NETLINK, socket.SOCK_RAW, 0)),
                   ("tcp", (socket.AF_INET, socket.SOCK_STREAM, 0))]:
    try:
        socket.socket(*args).close(); print("socket", name, "ok")
    except OSError as e:
        print("socket", name, errno.errorcode.get(e.errno))
import platform
nr_clone, nr_clone3 = (56, 435) if platform.machine() == "x86_64" else (220, 435)
for name, flag in [("newuser", 0x10000000), ("newnet", 0x40000000), ("newpid", 0x20000000)]:
    rc = libc.syscall(nr_clone, flag | 17, 0, 0, 0, 0)
    if rc == 0:
        os._exit(0)
    print("clone", name, rc, errno.errorcode.get(ctypes.get_errno()))
rc = libc.syscall(nr_clone3, 0, 0)
print("clone3", rc, errno.errorcode.get(ctypes.get_errno()))
r = subprocess.run(["unshare", "-rn", "true"], capture_output=True, text=True)
print("unshare-cmd", r.returncode, r.stderr.strip().replace("\n", " "))
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print("fork ok", os.getsid(0) == os.getpid())
"#;

#[test]
fn handler_runs_unprivileged_with_seccomp() {
    if !can_run() {
        return;
    }
    let pool = CellPool::create(config("wtc", 3, 15001, 15353)).unwrap();
    let lease = pool.acquire("t").unwrap();
    let out = py(&lease, &Limits::default(), INSPECT);
    assert!(out.status.success(), "{}", text(&out));
    let so = String::from_utf8_lossy(&out.stdout).to_string();
    let user = pool.user().clone();
    for want in [
        format!("Uid {0} {0} {0} {0}", user.uid),
        format!("Gid {0} {0} {0} {0}", user.gid),
        "Groups \n".into(),
        "CapInh 0000000000000000".into(),
        "CapPrm 0000000000000000".into(),
        "CapEff 0000000000000000".into(),
        "CapBnd 0000000000000000".into(),
        "CapAmb 0000000000000000".into(),
        "NoNewPrivs 1".into(),
        "Seccomp 2".into(),
        "unshare newuser -1 EPERM".into(),
        "unshare newnet -1 EPERM".into(),
        "unshare newns -1 EPERM".into(),
        "socket raw EPERM".into(),
        "socket packet EPERM".into(),
        "socket netlink EPERM".into(),
        "socket tcp ok".into(),
        "clone newuser -1 EPERM".into(),
        "clone newnet -1 EPERM".into(),
        "clone newpid -1 EPERM".into(),
        "clone3 -1 ENOSYS".into(),
        "fork ok True".into(),
    ] {
        assert!(so.contains(&want), "missing {want:?} in:\n{}", text(&out));
    }
    let line = so.lines().find(|l| l.starts_with("unshare-cmd")).unwrap();
    assert!(
        !line.starts_with("unshare-cmd 0"),
        "unshare -rn must fail: {line}"
    );
    assert!(line.contains("Operation not permitted"), "{line}");
}

#[test]
fn memory_and_pids_limits_hold() {
    if !can_run() {
        return;
    }
    let pool = CellPool::create(config("wtd", 4, 15001, 15353)).unwrap();
    let lease = pool.acquire("t").unwrap();
    let limits = Limits {
        memory_mb: 48,
        cpu_percent: 50,
        pids_max: 8,
    };
    let out = py(&lease, &limits, "b = bytearray(400 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('survived')");
    assert_eq!(
        out.status.signal(),
        Some(9),
        "allocation over the limit must be killed: {}",
        text(&out)
    );

    let bomb = r#"
import os, time
ok = fail = 0
for _ in range(40):
    try:
        pid = os.fork()
    except OSError:
        fail += 1
        continue
    if pid == 0:
        os.closerange(0, 3)
        time.sleep(30)
        os._exit(0)
    ok += 1
print(ok, fail, flush=True)
os._exit(0)
"#;
    let out = py(&lease, &limits, bomb);
    let quota = Path::new("/sys/fs/cgroup/cpu/warden-wtd")
        .join(lease.name())
        .join("cpu.cfs_quota_us");
    let max = Path::new("/sys/fs/cgroup/warden-wtd")
        .join(lease.name())
        .join("cpu.max");
    if quota.exists() {
        assert_eq!(std::fs::read_to_string(&quota).unwrap().trim(), "50000");
    } else if max.exists() {
        assert_eq!(
            std::fs::read_to_string(&max).unwrap().trim(),
            "50000 100000"
        );
    }
    let so = String::from_utf8_lossy(&out.stdout).to_string();
    let nums: Vec<u32> = so
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    assert_eq!(nums.len(), 2, "{}", text(&out));
    assert!(
        nums[0] < 8 && nums[1] > 30,
        "fork bomb not bounded by pids.max=8: {}",
        text(&out)
    );
    assert!(
        !lease.pids().is_empty(),
        "sleeping children are still in the cell"
    );
    pool.release(lease).unwrap();
}

/// Conntrack entries with original source `addr`, counted with the conntrack tool.
fn conntrack_entries(addr: Ipv4Addr) -> usize {
    let out = Command::new("conntrack")
        .args(["-L", "-s", &addr.to_string()])
        .output()
        .expect("conntrack tool (apt-get install conntrack)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

#[test]
fn release_kills_orphans_and_reacquire_is_clean() {
    if !can_run() {
        return;
    }
    let proxy = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let mut cfg = config("wte", 5, proxy.local_addr().unwrap().port(), 15353);
    cfg.pool_size = 1;
    cfg.max_cells = 1;
    let pool = CellPool::create(cfg).unwrap();
    let lease = pool.acquire("tenant-a").unwrap();
    let name = lease.name().to_string();
    let mut cmd = Command::new("/bin/bash");
    // An orphan that outlives its parent and holds a TCP connection open (a conntrack entry).
    cmd.args([
        "-c",
        "exec 3<>/dev/tcp/93.184.216.34/80; sleep 300 >/dev/null 2>&1 & echo $!",
    ])
    .current_dir("/");
    lease.configure(&mut cmd, &Limits::default()).unwrap();
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let mut stale = Command::new("/bin/true");
    lease.configure(&mut stale, &Limits::default()).unwrap();
    assert_eq!(
        lease.pids(),
        vec![pid],
        "the orphan outlives its parent inside the cell"
    );
    let (_conn, peer) = proxy.accept().unwrap();
    let cell = lease.cell_addr();
    assert_eq!(peer.ip(), std::net::IpAddr::V4(cell));
    assert!(
        conntrack_entries(cell) > 0,
        "expected a conntrack entry from {cell}"
    );
    pool.release(lease).unwrap();

    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let state = status
        .lines()
        .find(|l| l.starts_with("State:"))
        .unwrap_or("State: gone");
    assert!(
        state.contains("gone") || state.contains('Z'),
        "orphan {pid} still alive: {state}"
    );

    // A command configured under the ended lease cannot start in the cell any more.
    let err = stale.status().expect_err("stale command must not spawn");
    assert_eq!(err.raw_os_error(), Some(libc::ESTALE), "{err}");

    // The only cell comes back once the scrubber has flushed its conntrack entries.
    let again = pool.acquire("tenant-b").unwrap();
    assert_eq!(again.name(), name);
    assert_eq!(
        conntrack_entries(cell),
        0,
        "release must flush the cell's conntrack entries"
    );
    assert_eq!(again.tenant(), "tenant-b");
    assert!(again.pids().is_empty());
    drop(again); // Drop releases as well.
    let t = std::time::Instant::now();
    while pool.idle() != 1 && t.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(pool.idle(), 1);
}

#[test]
fn acquire_waits_for_a_release_then_times_out() {
    if !can_run() {
        return;
    }
    let mut cfg = config("wtg", 6, 15001, 15353);
    cfg.pool_size = 0;
    cfg.max_cells = 1;
    cfg.acquire_timeout = Duration::from_millis(300);
    let pool = std::sync::Arc::new(CellPool::create(cfg).unwrap());
    let first = pool.acquire("a").unwrap(); // created on demand
    match pool.acquire("b") {
        Err(SandboxError::Exhausted { max: 1, .. }) => {}
        other => panic!("expected Exhausted, got {other:?}"),
    }
    let p2 = pool.clone();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        p2.release(first).unwrap();
    });
    let second = pool
        .acquire("b")
        .expect("a release within the timeout hands the cell over");
    releaser.join().unwrap();
    assert_eq!(second.tenant(), "b");
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn table_exists(prefix: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", "inet", &warden_sandbox::table_name(prefix)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn cleanup_stale_removes_a_crashed_pool() {
    if !can_run() {
        return;
    }
    let pool = CellPool::create(config("wtf", 7, 15001, 15353)).unwrap();
    let lease = pool.acquire("t").unwrap();
    let mut cmd = Command::new("/bin/sleep");
    cmd.arg("300");
    lease.configure(&mut cmd, &Limits::default()).unwrap();
    let mut child = cmd.spawn().unwrap();
    std::mem::forget(lease);
    std::mem::forget(pool);
    assert!(Path::new("/run/netns/wtf0").exists() && link_exists("wtf0-h") && table_exists("wtf"));

    let report = CellPool::cleanup_stale("wtf").unwrap();
    assert_eq!(
        (report.netns, report.links, report.cgroups, report.table),
        (2, 2, 2, true),
        "{report:?}"
    );
    assert!(
        !Path::new("/run/netns/wtf0").exists() && !link_exists("wtf0-h") && !table_exists("wtf")
    );
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the stale cell's process was killed"
    );
    assert!(
        !Path::new("/sys/fs/cgroup/pids/warden-wtf").exists()
            && !Path::new("/sys/fs/cgroup/warden-wtf").exists()
    );

    // A new pool with the same prefix starts cleanly and shuts down without leftovers.
    let pool = CellPool::create(config("wtf", 7, 15001, 15353)).unwrap();
    assert_eq!(pool.idle(), 2);
    drop(pool);
    assert!(
        !Path::new("/run/netns/wtf1").exists() && !link_exists("wtf1-h") && !table_exists("wtf")
    );
}

#[test]
fn concurrent_leases_never_share_a_cell() {
    if !can_run() {
        return;
    }
    let mut cfg = config("wth", 8, 15001, 15353);
    cfg.pool_size = 2;
    cfg.max_cells = 3;
    cfg.acquire_timeout = Duration::from_secs(5);
    let pool = std::sync::Arc::new(CellPool::create(cfg).unwrap());
    let held = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (pool, held) = (pool.clone(), held.clone());
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let lease = pool.acquire(&format!("tenant-{t}")).unwrap();
                    assert!(
                        held.lock().unwrap().insert(lease.name().to_string()),
                        "cell handed out twice"
                    );
                    std::thread::sleep(Duration::from_micros(200));
                    held.lock().unwrap().remove(lease.name());
                    pool.release(lease).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
