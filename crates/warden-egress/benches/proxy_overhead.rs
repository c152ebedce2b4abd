//! Criterion bench: connect + 1 KiB request / 1 KiB response, direct vs through the egress
//! proxy (absolute-URI plain HTTP with DLP window, and a CONNECT tunnel), all on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use warden_egress::*;

const BODY: usize = 1024;

async fn upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                let mut tmp = [0u8; 4096];
                loop {
                    let Ok(n) = s.read(&mut tmp).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        if buf.len() >= p + 4 + BODY {
                            break;
                        }
                    }
                }
                let mut resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {BODY}\r\nConnection: close\r\n\r\n"
                )
                .into_bytes();
                resp.extend(std::iter::repeat_n(b'r', BODY));
                let _ = s.write_all(&resp).await;
                let _ = s.shutdown().await;
            });
        }
    });
    a
}

fn request(target: &str) -> Vec<u8> {
    let mut r =
        format!("POST {target} HTTP/1.1\r\nHost: api.internal\r\nContent-Length: {BODY}\r\n\r\n")
            .into_bytes();
    r.extend(std::iter::repeat_n(b'q', BODY));
    r
}

async fn exchange(addr: SocketAddr, preamble: Option<&[u8]>, req: &[u8]) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    if let Some(p) = preamble {
        s.write_all(p).await.unwrap();
        let mut ok = [0u8; 39];
        s.read_exact(&mut ok).await.unwrap();
    }
    s.write_all(req).await.unwrap();
    let mut out = Vec::with_capacity(2048);
    s.read_to_end(&mut out).await.unwrap();
    assert!(out.len() > BODY);
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (up, proxy) = rt.block_on(async {
        let up = upstream().await;
        let table = AttributionTable::new();
        table.register(
            "127.0.0.1".parse().unwrap(),
            InvocationContext {
                invocation_id: "bench".into(),
                tool: "bench".into(),
                tenant: "t".into(),
                allowlist: Allowlist::parse(["api.internal"]).unwrap(),
                mode: Mode::Enforce,
                observation: Observation::Isolated,
            },
        );
        // Keep memory flat: a channel sink whose receiver drains and discards.
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let egress = Egress::builder(Arc::new(table), Arc::new(ChannelSink::new(tx)))
            .hosts(HostMap::new().with("api.internal", up).unwrap())
            .original_dst(Arc::new(NoOriginalDst))
            .build();
        let p = ProxyServer::bind(&egress, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let pa = p.local_addr().unwrap();
        p.spawn();
        (up, pa)
    });
    let direct_req = request("/upload");
    let proxy_req = request("http://api.internal/upload");
    let connect = b"CONNECT api.internal:80 HTTP/1.1\r\n\r\n".to_vec();
    let mut g = c.benchmark_group("connect_1k_request_response");
    g.bench_function("direct", |b| {
        b.to_async(&rt).iter(|| exchange(up, None, &direct_req))
    });
    g.bench_function("proxy_absolute_uri", |b| {
        b.to_async(&rt).iter(|| exchange(proxy, None, &proxy_req))
    });
    g.bench_function("proxy_connect_tunnel", |b| {
        b.to_async(&rt)
            .iter(|| exchange(proxy, Some(&connect), &direct_req))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
