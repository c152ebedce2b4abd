//! The broker end to end with real parts: a real Python Lambda handler run by `awslambdaric`
//! over Warden's Runtime API, real Cedar policies, a real secrets file, Warden's egress proxy
//! (and in isolated mode its DNS server, network-namespace cells and nftables rules), and two
//! local HTTP servers standing in for `api.internal` (declared) and `attacker.example`.
//!
//! Cooperative-mode tests run anywhere Python and awslambdaric are installed. Isolated-mode
//! tests need root, network namespaces, nftables and a Python the `nobody` user can run; they
//! print `SKIPPED:` with the reason when the machine cannot provide that.

use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use warden_broker::lambda::AgentRef;
use warden_broker::{Broker, BrokerOptions, ToolFailure, ToolRequest, ToolResult};
use warden_config::SandboxMode;
use warden_core::egress::{Decision, EgressEvent, EventKind, Observation, Reason};
use warden_core::TenantId;
use warden_policy::{CallRequest, Caller, Catalog};

fn have_awslambdaric() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import awslambdaric"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

struct Upstreams {
    api: std::net::SocketAddr,
    attacker: std::net::SocketAddr,
    attacker_hits: Arc<AtomicUsize>,
    notes: Arc<AtomicUsize>,
}

async fn upstreams() -> Upstreams {
    let notes = Arc::new(AtomicUsize::new(0));
    let n = notes.clone();
    let api = Router::new()
        .route(
            "/orders/{id}",
            get(|| async { r#"{"orderId":"A-1043","status":"shipped"}"# }),
        )
        .route(
            "/orders/{id}/notes",
            post(move || {
                n.fetch_add(1, Ordering::SeqCst);
                async { "noted" }
            }),
        );
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let attacker = Router::new().fallback(move || {
        h.fetch_add(1, Ordering::SeqCst);
        async { "thanks" }
    });
    let serve = |r: Router| async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, r).await });
        a
    };
    Upstreams {
        api: serve(api).await,
        attacker: serve(attacker).await,
        attacker_hits: hits,
        notes,
    }
}

/// Writes a project with the `cases` tool and loads it.
fn project(dir: &Path, up: &Upstreams, mode: &str) -> warden_config::Config {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    std::fs::create_dir_all(dir.join("tools/cases")).unwrap();
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    for f in ["functions.json", "cases.py"] {
        std::fs::copy(cases.join(f), dir.join("tools/cases").join(f)).unwrap();
    }
    std::fs::copy(cases.join("policy.cedar"), dir.join("policies/cases.cedar")).unwrap();
    let secrets = dir.join("secrets/tenants.toml");
    std::fs::write(
        &secrets,
        "[acme]\nORDERS_API_KEY = \"acme-key-7f3a9c51d2\"\n[globex]\nORDERS_API_KEY = \"globex-key-0b8e44aa\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(dir.join("secrets/jwt.key"), "k".repeat(48)).unwrap();
    let toml = format!(
        r#"
version = 1
[server]
data_dir = "data"
[auth]
[[auth.keys]]
kind = "hs256"
secret_file = "secrets/jwt.key"
[admin]
token = "admin-token-0123456789abcdef"
[tools.cases]
functions = "tools/cases/functions.json"
handler = ["python3", "-m", "awslambdaric", "cases.lambda_handler"]
workdir = "tools/cases"
egress = ["api.internal"]
secrets = ["ORDERS_API_KEY"]
timeout_ms = 4000
[secrets]
provider = "file"
path = "secrets/tenants.toml"
[sandbox]
mode = "{mode}"
[sandbox.hosts]
"api.internal" = "{api}"
"attacker.example" = "{attacker}"
"#,
        api = up.api,
        attacker = up.attacker,
    );
    let path = dir.join("warden.toml");
    std::fs::write(&path, toml).unwrap();
    warden_config::load(&path, &warden_config::ProcessEnv).unwrap_or_else(|e| panic!("{e}"))
}

async fn broker(config: &warden_config::Config, options: BrokerOptions) -> Result<Broker, String> {
    let catalog = Arc::new(Catalog::from_config(config).map_err(|e| e.to_string())?);
    let secrets = warden_secrets::from_config(&config.secrets, &config.base_dir)
        .map_err(|e| e.to_string())?;
    Broker::start(
        catalog,
        secrets,
        config.tools.clone(),
        options,
        Arc::new(warden_egress::NoResolver),
        None,
    )
    .await
}

fn request(tenant: &str, case: &str, inv: &str) -> ToolRequest {
    request_with(tenant, vec![("case".into(), case.into())], inv)
}

fn request_with(tenant: &str, parameters: Vec<(String, String)>, inv: &str) -> ToolRequest {
    ToolRequest {
        caller: Caller {
            tenant: tenant.into(),
            subject: "user-1".into(),
            claims: BTreeMap::new(),
        },
        tenant: TenantId::new(tenant).unwrap(),
        agent: AgentRef {
            name: "support".into(),
            id: "support".into(),
            alias: "TSTALIASID".into(),
            version: "DRAFT".into(),
        },
        session_id: "s-1".into(),
        invocation_id: inv.into(),
        input_text: "test".into(),
        session_attributes: BTreeMap::new(),
        prompt_session_attributes: BTreeMap::new(),
        call: CallRequest {
            tool: "cases".into(),
            function: Some("run_case".into()),
            parameters,
            ..CallRequest::default()
        },
    }
}

fn body(r: &ToolResult) -> Value {
    serde_json::from_str(&r.response.body).unwrap()
}

fn named<'a>(events: &'a [EgressEvent], name: &str) -> Vec<&'a EgressEvent> {
    events
        .iter()
        .filter(|e| e.name.as_deref() == Some(name))
        .collect()
}

fn options(mode: SandboxMode, config: &warden_config::Config, prefix: &str) -> BrokerOptions {
    BrokerOptions {
        sandbox_mode: mode,
        pool_size: 2,
        hosts: config.sandbox.hosts.clone(),
        cell_prefix: prefix.into(),
        ..BrokerOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cooperative_mode_runs_real_handlers_and_records_their_egress() {
    if !have_awslambdaric() {
        eprintln!("SKIPPED: python3 with awslambdaric is not installed (scripts/test installs it)");
        return;
    }
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    let config = project(dir.path(), &up, "cooperative");
    let b = broker(
        &config,
        options(SandboxMode::Cooperative, &config, "unused"),
    )
    .await
    .unwrap();
    assert_eq!(b.observation(), Observation::Cooperative);

    // Declared host: allowed, one attributed event, the tenant's own secret in the env.
    let r = b
        .invoke(&request("acme", "declared", "inv-1"))
        .await
        .unwrap();
    let out = body(&r);
    assert_eq!(out["tenant"], "acme");
    assert_eq!(out["has_key"], true);
    assert_eq!(out["r"]["status"], 200, "{out}");
    let ev = named(&r.egress, "api.internal");
    assert_eq!(ev.len(), 1, "{:?}", r.egress);
    assert_eq!(ev[0].decision, Decision::Allow);
    assert_eq!(ev[0].invocation_id.as_deref(), Some("inv-1"));
    assert_eq!(ev[0].tenant.as_deref(), Some("acme"));
    assert_eq!(ev[0].tool.as_deref(), Some("cases"));
    assert_eq!(ev[0].observation, Observation::Cooperative);
    assert_eq!(ev[0].http_method.as_deref(), Some("GET"));

    // The warm handler serves the same tool and tenant again.
    let r = b
        .invoke(&request("acme", "undeclared", "inv-2"))
        .await
        .unwrap();
    assert!(r.warm, "second call reuses the warm handler");
    let ev = named(&r.egress, "attacker.example");
    assert_eq!(ev.len(), 1, "{:?}", r.egress);
    assert_eq!(ev[0].decision, Decision::Deny);
    assert_eq!(ev[0].reason, Some(Reason::UndeclaredHost));
    assert_eq!(up.attacker_hits.load(Ordering::SeqCst), 0);
    assert!(
        r.egress
            .iter()
            .all(|e| e.invocation_id.as_deref() == Some("inv-2")),
        "events of one call carry its id only"
    );

    // Another tenant gets its own handler (not the warm one) and its own secret.
    let r = b
        .invoke(&request("globex", "declared", "inv-3"))
        .await
        .unwrap();
    assert!(!r.warm);
    assert_eq!(body(&r)["tenant"], "globex");

    // A secret in a POST body to a declared host is blocked by the payload scan.
    let r = b
        .invoke(&request("acme", "secret_post", "inv-4"))
        .await
        .unwrap();
    let ev = named(&r.egress, "api.internal");
    assert_eq!(ev.len(), 1, "{:?}", r.egress);
    assert_eq!(ev[0].decision, Decision::Deny, "{:?}", ev[0]);
    assert_eq!(ev[0].reason, Some(Reason::PayloadBlocked));
    assert!(ev[0]
        .findings
        .iter()
        .any(|f| f.rule_id == "secret.injected"));
    assert_eq!(up.notes.load(Ordering::SeqCst), 0, "the note never arrived");

    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_refusals_and_handler_failures_are_precise() {
    if !have_awslambdaric() {
        eprintln!("SKIPPED: python3 with awslambdaric is not installed (scripts/test installs it)");
        return;
    }
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    let config = project(dir.path(), &up, "cooperative");
    let b = broker(
        &config,
        options(SandboxMode::Cooperative, &config, "unused"),
    )
    .await
    .unwrap();

    let code = |r: Result<ToolResult, ToolFailure>| match r {
        Ok(_) => "ok".to_string(),
        Err(e) => e.code().to_string(),
    };
    // Cedar: a forbid policy wins.
    assert_eq!(
        code(b.invoke(&request("acme", "forbidden", "p-1")).await),
        "policy_denied"
    );
    // Schema: unknown parameter; missing required parameter.
    let mut r = request("acme", "declared", "p-2");
    r.call.parameters.push(("extra".into(), "x".into()));
    assert_eq!(code(b.invoke(&r).await), "invalid_arguments");
    assert_eq!(
        code(b.invoke(&request_with("acme", vec![], "p-3")).await),
        "invalid_arguments"
    );
    // Tenant scope: an argument naming another tenant is refused (default `reject`).
    let r = request_with(
        "acme",
        vec![
            ("case".into(), "declared".into()),
            ("tenant".into(), "globex".into()),
        ],
        "p-4",
    );
    assert_eq!(code(b.invoke(&r).await), "tenant_mismatch");
    // Unknown tool.
    let mut r = request("acme", "declared", "p-5");
    r.call.tool = "payments".into();
    assert_eq!(code(b.invoke(&r).await), "unknown_tool");
    // A tenant without secrets: fail closed before anything runs.
    assert_eq!(
        code(b.invoke(&request("initech", "declared", "p-6")).await),
        "secrets_unavailable"
    );
    // Handler errors, garbage responses and timeouts.
    assert_eq!(
        code(b.invoke(&request("acme", "crash", "p-7")).await),
        "tool_error"
    );
    match b.invoke(&request("acme", "garbage", "p-8")).await {
        Err(e @ ToolFailure::BadResponse { .. }) => {
            assert!(e.to_string().contains("messageVersion"), "{e}")
        }
        other => panic!("expected a bad response, got {other:?}"),
    }
    let t = std::time::Instant::now();
    assert_eq!(
        code(b.invoke(&request("acme", "sleep", "p-9")).await),
        "tool_timeout"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    // After all that, a good call still works.
    assert_eq!(
        code(b.invoke(&request("acme", "declared", "p-10")).await),
        "ok"
    );
    b.shutdown().await;
}

/// Why isolated tests cannot run here, if they cannot.
fn isolation_unavailable() -> Option<String> {
    if !have_awslambdaric() {
        return Some("python3 with awslambdaric is not installed".into());
    }
    match warden_sandbox::probe("nobody") {
        Ok(caps) => {
            let python = std::process::Command::new("python3")
                .args(["-c", "import sys; print(sys.executable)"])
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            warden_sandbox::check_executable_for(&caps.user, "python3", Path::new(&python))
                .err()
                .map(|e| e.to_string())
        }
        Err(e) => Some(e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn isolated_cells_catch_what_handlers_really_do() {
    if let Some(why) = isolation_unavailable() {
        eprintln!("SKIPPED: needs root, network namespaces and nftables: {why}");
        return;
    }
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = project(dir.path(), &up, "isolated");
    let mut opts = options(SandboxMode::Isolated, &config, "wdbtest");
    opts.cell_subnet = Some("10.213.0.0/16".parse().unwrap());
    let b = broker(&config, opts).await.unwrap();
    assert_eq!(b.observation(), Observation::Isolated);

    // Declared host through the proxy environment: allowed, attributed, isolated.
    let r = b.invoke(&request("acme", "declared", "i-1")).await.unwrap();
    assert_eq!(body(&r)["r"]["status"], 200, "{}", r.response.body);
    let ev = named(&r.egress, "api.internal");
    assert!(!ev.is_empty(), "{:?}", r.egress);
    assert!(ev.iter().all(|e| e.decision == Decision::Allow
        && e.observation == Observation::Isolated
        && e.invocation_id.as_deref() == Some("i-1")));

    // A handler that ignores the proxy and dials an IP literal is still caught.
    let r = b
        .invoke(&request("acme", "ip_literal", "i-2"))
        .await
        .unwrap();
    let ev: Vec<_> = r
        .egress
        .iter()
        .filter(|e| e.address.as_deref() == Some("93.184.216.34"))
        .collect();
    assert_eq!(ev.len(), 1, "{:?}", r.egress);
    assert_eq!(ev[0].decision, Decision::Deny);
    assert_eq!(ev[0].reason, Some(Reason::BareIp));

    // A hard-coded DNS server is answered by Warden's DNS server, which records the query.
    let r = b
        .invoke(&request("acme", "dns_hardcoded", "i-3"))
        .await
        .unwrap();
    let dns: Vec<_> = r
        .egress
        .iter()
        .filter(|e| e.kind == EventKind::Dns)
        .collect();
    assert!(
        dns.iter()
            .any(|e| e.name.as_deref() == Some("exfil.attacker.example")),
        "{:?}",
        r.egress
    );

    // UDP and IPv6 go nowhere; the metadata address is refused and recorded.
    let r = b
        .invoke(&request("acme", "udp_ipv6_metadata", "i-4"))
        .await
        .unwrap();
    let out = body(&r);
    assert_ne!(out["udp"], "answered", "{out}");
    assert!(out["ipv6"]["error"].is_string(), "{out}");
    let meta: Vec<_> = r
        .egress
        .iter()
        .filter(|e| e.address.as_deref() == Some("169.254.169.254"))
        .collect();
    assert_eq!(meta.len(), 1, "{:?}", r.egress);
    assert_eq!(meta[0].reason, Some(Reason::MetadataAddress));

    // DNS tunnelling is flagged.
    let r = b
        .invoke(&request("acme", "dns_tunnel", "i-5"))
        .await
        .unwrap();
    assert!(
        r.egress
            .iter()
            .any(|e| e.kind == EventKind::Dns && e.reason == Some(Reason::DnsTunnel)),
        "{:?}",
        r.egress
    );

    // A child that outlives the call is killed with its cell; nothing of it is attributed to
    // the next call.
    let r = b
        .invoke(&request("acme", "fork_child", "i-6"))
        .await
        .unwrap();
    assert!(!r.egress.is_empty() || body(&r)["r"] == "forked");
    let r = b.invoke(&request("acme", "declared", "i-7")).await.unwrap();
    assert!(
        r.egress
            .iter()
            .all(|e| e.invocation_id.as_deref() == Some("i-7")
                && e.address.as_deref() != Some("93.184.216.34")),
        "{:?}",
        r.egress
    );

    // Timeout: the handler and its children are killed; the next call starts fresh.
    let r = b.invoke(&request("acme", "sleep", "i-8")).await;
    assert_eq!(r.unwrap_err().code(), "tool_timeout");
    let r = b.invoke(&request("acme", "declared", "i-9")).await.unwrap();
    assert_eq!(body(&r)["r"]["status"], 200);
    assert_eq!(up.attacker_hits.load(Ordering::SeqCst), 0);
    b.shutdown().await;
}
