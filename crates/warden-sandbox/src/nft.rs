//! The host nftables table for one pool: static rules plus per-cell set elements written once,
//! so acquiring or releasing a cell never touches nftables.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::config::PoolConfig;
use crate::error::SandboxError;

/// Name of the pool's table (family `inet`).
pub fn table_name(prefix: &str) -> String {
    format!("warden_cells_{prefix}")
}

/// Host-side veth name of cell `index`.
pub fn host_ifname(prefix: &str, index: usize) -> String {
    format!("{prefix}{index}-h")
}

/// Conntrack mark of every flow from a cell: its cell-side address, unique across pools
/// because pools use disjoint subnets.
pub(crate) fn conntrack_mark(cell_addr: std::net::Ipv4Addr) -> u32 {
    u32::from(cell_addr)
}

/// Finds the `nft` binary.
pub(crate) fn find_nft() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join("nft"))
        .find(|p| p.is_file())
}

/// The whole table as an `nft -f` script. Elements for every possible cell are listed up front.
pub(crate) fn script(cfg: &PoolConfig) -> String {
    let t = table_name(&cfg.prefix);
    let mut cells = String::new();
    let mut runtime = String::new();
    let mut marks = String::new();
    for i in 0..cfg.max_cells {
        let ifname = host_ifname(&cfg.prefix, i);
        let (host, cell) = cfg.addrs(i);
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(cells, "{sep}\"{ifname}\"");
        let _ = write!(runtime, "{sep}\"{ifname}\" . {host}");
        let _ = write!(marks, "{sep}\"{ifname}\" : {:#010x}", conntrack_mark(cell));
    }
    let (proxy, dns, rt) = (cfg.proxy_port, cfg.dns_port, cfg.runtime_port);
    format!(
        r#"table inet {t} {{
  set cells {{ type ifname; elements = {{ {cells} }}; }}
  set runtime {{ type ifname . ipv4_addr; elements = {{ {runtime} }}; }}
  map cellmark {{ type ifname : mark; elements = {{ {marks} }}; }}
  chain pre_filter {{
    type filter hook prerouting priority raw; policy accept;
    iifname @cells meta nfproto ipv4 meta l4proto tcp accept
    iifname @cells meta nfproto ipv4 udp dport 53 accept
    iifname @cells counter drop comment "cells: only TCP and DNS"
  }}
  chain pre_nat {{
    type nat hook prerouting priority dstnat; policy accept;
    ct mark set iifname map @cellmark comment "lets a scrub flush the cell's flows in the kernel"
    iifname . ip daddr @runtime tcp dport {rt} accept comment "own Runtime API"
    iifname @cells udp dport 53 redirect to :{dns}
    iifname @cells meta l4proto tcp redirect to :{proxy}
  }}
  chain in_filter {{
    type filter hook input priority filter; policy accept;
    iifname @cells ct state established,related accept
    iifname @cells tcp dport {proxy} accept
    iifname @cells udp dport {dns} accept
    iifname . ip daddr @runtime tcp dport {rt} accept
    iifname @cells counter drop
  }}
  chain fwd_filter {{
    type filter hook forward priority filter; policy accept;
    iifname @cells counter drop
    oifname @cells counter drop
  }}
}}
"#
    )
}

fn run_nft(args: &[&str], stdin: Option<&str>, what: &str) -> Result<(), SandboxError> {
    let nft = find_nft().ok_or(crate::error::Unavailable::NftMissing)?;
    let mut child = Command::new(&nft)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SandboxError::io(format!("run {}", nft.display()), e))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| SandboxError::io("write nft script", e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| SandboxError::io(format!("wait for {}", nft.display()), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(SandboxError::Nft {
            what: what.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Loads the table (replacing a leftover one of the same name).
pub(crate) fn install(cfg: &PoolConfig) -> Result<(), SandboxError> {
    let _ = delete(&cfg.prefix);
    run_nft(
        &["-f", "-"],
        Some(&script(cfg)),
        &format!("load table inet {}", table_name(&cfg.prefix)),
    )
}

/// Deletes the table; `Ok(false)` when there was none.
pub(crate) fn delete(prefix: &str) -> Result<bool, SandboxError> {
    let t = table_name(prefix);
    match run_nft(
        &["delete", "table", "inet", &t],
        None,
        &format!("delete table inet {t}"),
    ) {
        Ok(()) => Ok(true),
        Err(SandboxError::Nft { stderr, .. }) if stderr.contains("No such file") => Ok(false),
        Err(e) => Err(e),
    }
}

/// Checks that `nft` runs and can list rulesets.
pub(crate) fn check() -> Result<(), String> {
    run_nft(&["list", "tables"], None, "list tables").map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_lists_every_cell_and_the_ports() {
        let mut cfg = PoolConfig::new(15001, 15353, 9001);
        cfg.max_cells = 3;
        let s = script(&cfg);
        assert!(s.starts_with("table inet warden_cells_wdn {"));
        assert!(
            s.contains(r#"elements = { "wdn0-h", "wdn1-h", "wdn2-h" }"#),
            "{s}"
        );
        assert!(s.contains(r#""wdn2-h" . 10.201.0.9"#), "{s}");
        assert!(s.contains(r#""wdn1-h" : 0x0ac90006"#), "{s}");
        assert!(s.contains("iifname . ip daddr @runtime tcp dport 9001 accept"));
        assert!(s.contains("udp dport 53 redirect to :15353"));
        assert!(s.contains("meta l4proto tcp redirect to :15001"));
        // The runtime exception precedes the catch-all TCP redirect.
        assert!(
            s.find("@runtime tcp dport 9001 accept").unwrap()
                < s.find("redirect to :15001").unwrap()
        );
    }

    #[test]
    fn nft_accepts_the_script() {
        if !nix::unistd::geteuid().is_root() || find_nft().is_none() {
            println!("skipped: needs root and nft to check the ruleset syntax");
            return;
        }
        let mut cfg = PoolConfig::new(15001, 15353, 9001);
        cfg.prefix = "wchk".into();
        cfg.max_cells = 9999;
        cfg.subnet = "10.202.0.0/16".parse().unwrap();
        run_nft(&["-c", "-f", "-"], Some(&script(&cfg)), "check").unwrap();
    }
}
