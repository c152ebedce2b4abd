//! Shared fixtures for the egress integration tests: local upstreams and a proxy harness.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use warden_egress::*;

pub const LOCAL: &str = "127.0.0.1:0";

/// A tiny HTTP/1.1 server: answers `ok METHOD PATH BODYLEN` and closes. Counts accepts.
pub async fn http_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind(LOCAL).await.unwrap();
    let addr = l.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                let head_end = loop {
                    let Ok(n) = s.read(&mut tmp).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let cl: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + cl {
                    let Ok(n) = s.read(&mut tmp).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                }
                let mut parts = head.split_whitespace();
                let (m, p) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let body = format!("ok {m} {p} {cl}");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, hits)
}

/// A raw TCP echo server. Counts accepts.
pub async fn echo_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind(LOCAL).await.unwrap();
    let addr = l.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    (addr, hits)
}

/// Records every body it sees; blocks bodies containing `AKIA`.
#[derive(Debug, Default)]
pub struct RecordingScanner {
    pub seen: Mutex<Vec<Vec<u8>>>,
}

impl PayloadScanner for RecordingScanner {
    fn scan(&self, _ctx: &InvocationContext, req: &ScanRequest<'_>) -> Vec<PayloadFinding> {
        self.seen.lock().unwrap().push(req.body.to_vec());
        if req.body.windows(4).any(|w| w == b"AKIA") {
            vec![PayloadFinding {
                rule_id: "secret.aws_access_key".into(),
                blocking: true,
            }]
        } else {
            Vec::new()
        }
    }
}

#[derive(Debug)]
pub struct Harness {
    pub proxy: SocketAddr,
    pub dns: SocketAddr,
    pub collector: Collector,
    pub table: AttributionTable,
    pub http: SocketAddr,
    pub http_hits: Arc<AtomicUsize>,
    pub echo: SocketAddr,
    pub echo_hits: Arc<AtomicUsize>,
    pub scanner: Arc<RecordingScanner>,
    pub egress: Egress,
}

#[derive(Debug)]
pub struct Options {
    pub mode: Mode,
    pub allow: Vec<&'static str>,
    pub original_dst: Option<SocketAddr>,
    pub attribute: bool,
    pub limits: Limits,
    pub synthetic: SyntheticPool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            allow: vec!["api.internal", "echo.internal"],
            original_dst: None,
            attribute: true,
            limits: Limits {
                peek_timeout: Duration::from_millis(300),
                head_timeout: Duration::from_secs(2),
                dial_timeout: Duration::from_secs(2),
                ..Limits::default()
            },
            synthetic: SyntheticPool::default(),
        }
    }
}

pub const INV: &str = "inv-1";

pub async fn harness(o: Options) -> Harness {
    let (http, http_hits) = http_upstream().await;
    let (echo, echo_hits) = echo_upstream().await;
    let hosts = HostMap::new()
        .with("api.internal", http)
        .unwrap()
        .with("echo.internal", echo)
        .unwrap()
        .with("attacker.example", echo)
        .unwrap();
    let collector = Collector::default();
    let table = AttributionTable::new();
    if o.attribute {
        table.register(
            "127.0.0.1".parse().unwrap(),
            InvocationContext {
                invocation_id: INV.into(),
                tool: "fetch".into(),
                tenant: "t1".into(),
                allowlist: Allowlist::parse(&o.allow).unwrap(),
                mode: o.mode,
                observation: Observation::Isolated,
            },
        );
    }
    let scanner = Arc::new(RecordingScanner::default());
    let od: Arc<dyn OriginalDst> = match o.original_dst {
        Some(a) => Arc::new(FixedOriginalDst(a)),
        None => Arc::new(NoOriginalDst),
    };
    let egress = Egress::builder(Arc::new(table.clone()), Arc::new(collector.clone()))
        .hosts(hosts)
        .limits(o.limits)
        .scanner(scanner.clone())
        .original_dst(od)
        .synthetic(o.synthetic)
        .build();
    let p = ProxyServer::bind(&egress, LOCAL.parse().unwrap())
        .await
        .unwrap();
    let d = DnsServer::bind(&egress, LOCAL.parse().unwrap())
        .await
        .unwrap();
    let proxy = p.local_addr().unwrap();
    let dns = d.local_addr().unwrap();
    p.spawn();
    d.spawn();
    Harness {
        proxy,
        dns,
        collector,
        table,
        http,
        http_hits,
        echo,
        echo_hits,
        scanner,
        egress,
    }
}

/// Wait until an event matching `pred` shows up (events of relayed connections are emitted
/// at close). Returns it.
pub async fn wait_event(c: &Collector, pred: impl Fn(&EgressEvent) -> bool) -> EgressEvent {
    for _ in 0..300 {
        if let Some(e) = c.snapshot().into_iter().find(|e| pred(e)) {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no matching event; have {:#?}", c.snapshot());
}

/// Send `req` and read the whole reply (until EOF or error).
pub async fn roundtrip(addr: SocketAddr, req: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(req).await?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("reply timed out")?;
    Ok(out)
}

/// A real TLS 1.2/1.3 ClientHello from rustls for `name`.
pub fn client_hello(name: &str) -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let server_name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), server_name).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}
