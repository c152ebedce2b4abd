//! Warm invocation overhead of the broker: the same trivial Python handler (awslambdaric)
//! called directly through a `FunctionHost`, and through `Broker::invoke` (policy, secrets,
//! attribution, Lambda format checks; cooperative mode, and isolated cells when the machine
//! allows). Prints p50/p99 per path and the difference.
//!
//! `cargo run --release -p warden-broker --example warm_overhead -- 300`

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use warden_broker::lambda::AgentRef;
use warden_broker::{Broker, BrokerOptions, FunctionHost, HandlerSpec, Outcome, ToolRequest};
use warden_config::SandboxMode;
use warden_core::TenantId;
use warden_policy::{CallRequest, Caller, Catalog};

const HANDLER: &str = r#"
def lambda_handler(event, context):
    return {"messageVersion": "1.0", "response": {"actionGroup": event["actionGroup"],
            "function": event["function"], "functionResponse": {"responseBody":
            {"TEXT": {"body": "ok"}}}}}
"#;

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn write_project(dir: &Path, mode: &str) -> warden_config::Config {
    std::fs::create_dir_all(dir.join("tool")).unwrap();
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(dir.join("tool/noop.py"), HANDLER).unwrap();
    std::fs::write(
        dir.join("tool/functions.json"),
        r#"{"functions":[{"name":"noop","description":"does nothing","parameters":{}}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("policies/noop.cedar"),
        "permit (principal, action == Warden::Action::\"noop:noop\", resource);\n",
    )
    .unwrap();
    std::fs::write(dir.join("jwt.key"), "k".repeat(48)).unwrap();
    let toml = format!(
        r#"version = 1
[server]
data_dir = "data"
[auth]
[[auth.keys]]
kind = "hs256"
secret_file = "jwt.key"
[admin]
token = "admin-token-0123456789abcdef"
[tools.noop]
functions = "tool/functions.json"
handler = ["python3", "-m", "awslambdaric", "noop.lambda_handler"]
workdir = "tool"
timeout_ms = 5000
[sandbox]
mode = "{mode}"
"#
    );
    std::fs::write(dir.join("warden.toml"), toml).unwrap();
    warden_config::load(&dir.join("warden.toml"), &warden_config::ProcessEnv).unwrap()
}

fn request(i: usize) -> ToolRequest {
    ToolRequest {
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
        invocation_id: format!("inv-{i}"),
        input_text: String::new(),
        session_attributes: BTreeMap::new(),
        prompt_session_attributes: BTreeMap::new(),
        call: CallRequest {
            tool: "noop".into(),
            function: Some("noop".into()),
            ..CallRequest::default()
        },
    }
}

async fn via_broker(mode: SandboxMode, config: &warden_config::Config, n: usize) -> Vec<Duration> {
    let broker = Broker::start(
        Arc::new(Catalog::from_config(config).unwrap()),
        Arc::new(warden_secrets::NoSecrets),
        config.tools.clone(),
        BrokerOptions {
            sandbox_mode: mode,
            pool_size: 1,
            cell_prefix: "wdbench".into(),
            cell_subnet: Some("10.214.0.0/16".parse().unwrap()),
            ..BrokerOptions::default()
        },
        Arc::new(warden_egress::NoResolver),
        None,
    )
    .await
    .unwrap();
    broker.invoke(&request(0)).await.unwrap(); // cold start
    let mut times = Vec::with_capacity(n);
    for i in 1..=n {
        let t = Instant::now();
        let r = broker.invoke(&request(i)).await.unwrap();
        times.push(t.elapsed());
        assert!(r.warm);
    }
    broker.shutdown().await;
    times
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = write_project(dir.path(), "cooperative");
    let tool = &config.tools["noop"];

    // Direct: the same handler on a FunctionHost, no broker.
    let host = FunctionHost::start(
        &HandlerSpec {
            function_name: "noop".into(),
            command: tool.handler.clone(),
            workdir: tool.workdir.clone(),
            env: Vec::new(),
            memory_mb: 128,
            launcher: None,
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let event = serde_json::json!({"messageVersion": "1.0", "actionGroup": "noop",
        "function": "noop", "parameters": [], "sessionAttributes": {}});
    let mut direct = Vec::with_capacity(n);
    for i in 0..=n {
        let t = Instant::now();
        let out = host.invoke(&event, Duration::from_secs(5)).await.unwrap();
        assert!(matches!(out, Outcome::Response(_)));
        if i > 0 {
            direct.push(t.elapsed());
        }
    }
    host.shutdown().await;
    let mut coop = via_broker(SandboxMode::Cooperative, &config, n).await;
    let d50 = percentile(&mut direct, 0.5);
    let c50 = percentile(&mut coop, 0.5);
    println!(
        "direct FunctionHost: p50 {:?} p99 {:?}",
        d50,
        percentile(&mut direct, 0.99)
    );
    println!(
        "broker, cooperative: p50 {:?} p99 {:?} (overhead p50 {:?})",
        c50,
        percentile(&mut coop, 0.99),
        c50.saturating_sub(d50)
    );
    match warden_sandbox::probe("nobody") {
        Ok(_) => {
            let mut iso = via_broker(SandboxMode::Isolated, &config, n).await;
            let i50 = percentile(&mut iso, 0.5);
            println!(
                "broker, isolated cell: p50 {:?} p99 {:?} (overhead p50 {:?})",
                i50,
                percentile(&mut iso, 0.99),
                i50.saturating_sub(d50)
            );
        }
        Err(e) => println!("broker, isolated cell: skipped ({e})"),
    }
}
