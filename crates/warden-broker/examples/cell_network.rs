//! Network cost of a sandbox cell, measured from inside one (root only): a Python handler
//! running in an isolated cell times TCP connects and small HTTP requests (a) directly to its
//! own Runtime API address — the one destination the cell rules let through untouched — and
//! (b) through the transparent egress proxy to a host-mapped name, and downloads 64 MiB
//! through the proxy; the example also downloads the same 64 MiB directly on the host.
//!
//! `cargo run --release -p warden-broker --example cell_network`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use warden_broker::lambda::AgentRef;
use warden_broker::{Broker, BrokerOptions, ToolRequest};
use warden_config::SandboxMode;
use warden_core::TenantId;
use warden_policy::{CallRequest, Caller, Catalog};

const BULK: usize = 64 * 1024 * 1024;

const HANDLER: &str = r#"
import http.client, json, os, socket, time

def pct(v, p):
    v = sorted(v)
    return v[int(round((len(v) - 1) * p))]

def timed_connects(host, port, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        s = socket.create_connection((host, port), timeout=5)
        out.append(time.perf_counter() - t)
        s.close()
    return out

def timed_requests(host, port, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        c = http.client.HTTPConnection(host, port, timeout=5)
        c.request("GET", "/ping", headers={"Host": host})
        c.getresponse().read()
        c.close()
        out.append(time.perf_counter() - t)
    return out

def lambda_handler(event, context):
    rt_host, rt_port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    socket.gethostbyname("bench.internal")  # warm Warden's DNS answer
    n = 300
    res = {}
    for name, (h, p) in {"direct": (rt_host, int(rt_port)), "proxy": ("bench.internal", 80)}.items():
        c = timed_connects(h, p, n)
        r = timed_requests(h, p, n)
        res[name] = {"connect_p50_us": pct(c, .5) * 1e6, "request_p50_us": pct(r, .5) * 1e6,
                     "request_p99_us": pct(r, .99) * 1e6}
    t = time.perf_counter()
    c = http.client.HTTPConnection("bench.internal", 80, timeout=30)
    c.request("GET", "/bulk", headers={"Host": "bench.internal"})
    resp = c.getresponse()
    got = 0
    while True:
        b = resp.read(1 << 20)
        if not b:
            break
        got += len(b)
    res["proxy_bulk_gbit_s"] = got * 8 / (time.perf_counter() - t) / 1e9
    res["bulk_bytes"] = got
    return {"messageVersion": "1.0", "response": {"actionGroup": event["actionGroup"],
            "function": event["function"], "functionResponse": {"responseBody":
            {"TEXT": {"body": json.dumps(res)}}}}}
"#;

#[tokio::main]
async fn main() {
    if let Err(e) = warden_sandbox::probe("nobody") {
        println!("skipped: cells are not available here: {e}");
        return;
    }
    let bulk = bytes::Bytes::from(vec![b'x'; BULK]);
    let app = axum::Router::new()
        .route("/ping", axum::routing::get(|| async { "pong" }))
        .route(
            "/bulk",
            axum::routing::get(move || {
                let b = bulk.clone();
                async move { b }
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });

    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("tool")).unwrap();
    std::fs::create_dir_all(d.join("policies")).unwrap();
    std::fs::write(d.join("tool/probe.py"), HANDLER).unwrap();
    std::fs::write(
        d.join("tool/functions.json"),
        r#"{"functions":[{"name":"probe","description":"measures","parameters":{}}]}"#,
    )
    .unwrap();
    std::fs::write(
        d.join("policies/probe.cedar"),
        "permit (principal, action == Warden::Action::\"probe:probe\", resource);\n",
    )
    .unwrap();
    std::fs::write(d.join("jwt.key"), "k".repeat(48)).unwrap();
    std::fs::write(
        d.join("warden.toml"),
        format!(
            r#"version = 1
[server]
data_dir = "data"
[auth]
[[auth.keys]]
kind = "hs256"
secret_file = "jwt.key"
[admin]
token = "admin-token-0123456789abcdef"
[tools.probe]
functions = "tool/functions.json"
handler = ["python3", "-m", "awslambdaric", "probe.lambda_handler"]
workdir = "tool"
egress = ["bench.internal"]
timeout_ms = 120000
memory_mb = 512
[sandbox.hosts]
"bench.internal" = "{server}"
"#
        ),
    )
    .unwrap();
    let config = warden_config::load(&d.join("warden.toml"), &warden_config::ProcessEnv).unwrap();
    let broker = Broker::start(
        Arc::new(Catalog::from_config(&config).unwrap()),
        Arc::new(warden_secrets::NoSecrets),
        config.tools.clone(),
        BrokerOptions {
            sandbox_mode: SandboxMode::Isolated,
            pool_size: 1,
            hosts: config.sandbox.hosts.clone(),
            cell_prefix: "wdnet".into(),
            cell_subnet: Some("10.215.0.0/16".parse().unwrap()),
            ..BrokerOptions::default()
        },
        Arc::new(warden_egress::NoResolver),
        None,
    )
    .await
    .unwrap();
    let r = broker
        .invoke(&ToolRequest {
            caller: Caller {
                tenant: "acme".into(),
                subject: "bench".into(),
                claims: BTreeMap::new(),
            },
            tenant: TenantId::new("acme").unwrap(),
            agent: AgentRef {
                name: "bench".into(),
                id: "bench".into(),
                alias: "TSTALIASID".into(),
                version: "DRAFT".into(),
            },
            session_id: "s".into(),
            invocation_id: "net-1".into(),
            input_text: String::new(),
            session_attributes: BTreeMap::new(),
            prompt_session_attributes: BTreeMap::new(),
            call: CallRequest {
                tool: "probe".into(),
                function: Some("probe".into()),
                ..CallRequest::default()
            },
        })
        .await
        .unwrap();
    broker.shutdown().await;
    let v: serde_json::Value = serde_json::from_str(&r.response.body).unwrap();
    // The same download directly on the host, for the throughput ratio.
    let t = Instant::now();
    let got = reqwest::get(format!("http://{server}/bulk"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    let host_gbit = got as f64 * 8.0 / t.elapsed().as_secs_f64() / 1e9;
    println!("from inside a cell (300 each, sequential, new connection each):");
    for k in ["direct", "proxy"] {
        println!(
            "  {k:6}: connect p50 {:.0} µs, small request p50 {:.0} µs p99 {:.0} µs",
            v[k]["connect_p50_us"].as_f64().unwrap(),
            v[k]["request_p50_us"].as_f64().unwrap(),
            v[k]["request_p99_us"].as_f64().unwrap()
        );
    }
    println!(
        "  added by the proxy: connect {:.0} µs, request {:.0} µs (p50)",
        v["proxy"]["connect_p50_us"].as_f64().unwrap()
            - v["direct"]["connect_p50_us"].as_f64().unwrap(),
        v["proxy"]["request_p50_us"].as_f64().unwrap()
            - v["direct"]["request_p50_us"].as_f64().unwrap()
    );
    let proxy_gbit = v["proxy_bulk_gbit_s"].as_f64().unwrap();
    println!(
        "64 MiB single stream: through the proxy from the cell {proxy_gbit:.2} Gbit/s; directly on the host {host_gbit:.2} Gbit/s ({:.0} %)",
        proxy_gbit / host_gbit * 100.0
    );
}
