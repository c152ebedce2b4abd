//! The tool API, the inspect API and `warden inspect` against the real `warden` binary: the
//! starter's `orders` tool (a real Python handler over the Lambda Runtime API, cooperative
//! sandbox mode so tests can run side by side) calling a local `api.internal`.

mod common;

use common::*;
use serde_json::{json, Value};

/// A local `api.internal` answering order lookups.
async fn api() -> std::net::SocketAddr {
    let app = axum::Router::new().route(
        "/orders/{id}",
        axum::routing::get(|| async { r#"{"status":"shipped","eta":"Tuesday"}"# }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    a
}

fn project_with_api(api: std::net::SocketAddr) -> Project {
    Project::new(|t| {
        t.replace(
            "\"api.internal\" = \"127.0.0.1:18080\"",
            &format!("\"api.internal\" = \"{api}\""),
        )
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_api_runs_the_real_handler_and_returns_egress_and_verdict() {
    if !have_python_module("awslambdaric") {
        eprintln!("SKIPPED: python3 with awslambdaric is not installed (scripts/test installs it)");
        return;
    }
    let project = project_with_api(api().await);
    let server = Server::start(&project);
    let token = project.token("acme", |_| {});
    let url = format!("{}/v1/tools/orders/invoke", server.base);
    let resp = client()
        .post(&url)
        .bearer_auth(&token)
        .json(
            &json!({"sessionId": "ext-1", "apiPath": "/orders/{orderId}", "httpMethod": "GET",
                      "parameters": [{"name": "orderId", "type": "string", "value": "A-1043"}],
                      "rationale": "Look up order A-1043 on api.internal"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["response"]["response"]["httpStatusCode"], 200,
        "{body}"
    );
    let egress = body["egress"].as_array().unwrap();
    assert!(
        egress.iter().any(|e| e["name"] == "api.internal"
            && e["decision"] == "allow"
            && e["tenant"] == "acme"),
        "{body}"
    );
    assert_eq!(body["verdict"]["decision"], "allow", "{body}");
    assert!(body["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "observation:cooperative"));

    // Schema validation: a value that breaks the pattern is a precise 400, nothing runs.
    let resp = client()
        .post(&url)
        .bearer_auth(&token)
        .json(
            &json!({"sessionId": "ext-1", "apiPath": "/orders/{orderId}", "httpMethod": "GET",
                      "parameters": {"orderId": "../../etc/passwd"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), "invalid_arguments");
    // Unknown tool and unknown operation: 404.
    for (path, op) in [("payments", "/orders/{orderId}"), ("orders", "/refunds")] {
        let resp = client()
            .post(format!("{}/v1/tools/{path}/invoke", server.base))
            .bearer_auth(&token)
            .json(&json!({"sessionId": "ext-1", "apiPath": op, "httpMethod": "GET"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path} {op}");
    }
    // No credentials: 401 before anything else.
    let resp = client()
        .post(&url)
        .json(&json!({"sessionId": "ext-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_blocks_a_trace_whose_egress_shows_an_undeclared_host() {
    if !have_python_module("awslambdaric") {
        eprintln!("SKIPPED: python3 with awslambdaric is not installed (scripts/test installs it)");
        return;
    }
    let project = project_with_api(api().await);
    let server = Server::start(&project);
    let token = project.token("acme", |_| {});
    // A real trace from Warden's own agent loop (which an external agent would send too).
    let (status, _, body) = invoke(
        &server,
        Some(&token),
        json!({"inputText": "Where is my order A-1043?", "enableTrace": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["verdict"]["decision"], "allow", "{body}");
    let trace = body["trace"].clone();
    let event = |name: &str, decision: &str| {
        json!({"time": "2026-11-22T10:00:00Z", "invocationId": "inv-9", "tool": "orders",
               "tenant": "acme", "kind": "tcp", "source": "10.201.0.2:40000", "name": name,
               "address": "203.0.113.7", "port": 80, "protocol": "http", "bytesSent": 120,
               "bytesReceived": 40, "decision": decision, "observation": "isolated"})
    };
    let egress = json!([
        event("api.internal", "allow"),
        event("attacker.example", "allow")
    ]);
    let resp = client()
        .post(format!("{}/v1/inspect", server.base))
        .bearer_auth(&token)
        .json(&json!({"trace": trace, "egress": egress}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["verdict"]["decision"], "block", "{v}");
    assert_eq!(
        v["verdict"]["reasons"][0]["message"],
        "Trace-vs-egress gap: the agent reported only a lookup_order call to api.internal, but the real egress shows an actual connection to undeclared host attacker.example."
    );
    // The same real trace reported without the call's observation: with no egress either,
    // the call never ran — evidence only when the egress is declared to cover that tool.
    let without_output: Vec<Value> = trace
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p.pointer("/trace/orchestrationTrace/observation/actionGroupInvocationOutput")
                .is_none()
        })
        .cloned()
        .collect();
    for (observed, expected) in [(json!([]), "allow"), (json!(["orders"]), "warn")] {
        let resp = client()
            .post(format!("{}/v1/inspect", server.base))
            .bearer_auth(&token)
            .json(&json!({"trace": without_output, "egress": [], "observedTools": observed}))
            .send()
            .await
            .unwrap();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["verdict"]["decision"], expected, "{v}");
        if expected == "warn" {
            assert_eq!(
                v["verdict"]["reasons"][0]["rule"], "gap.phantom-invocation",
                "{v}"
            );
        }
    }
    let resp = client()
        .post(format!("{}/v1/inspect", server.base))
        .bearer_auth(&token)
        .json(&json!({"trace": trace, "egress": [], "observedTools": ["nope"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Malformed evidence is a precise 400.
    let resp = client()
        .post(format!("{}/v1/inspect", server.base))
        .bearer_auth(&token)
        .json(&json!({"trace": "{not json", "egress": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid trace"),
        "{body}"
    );

    // The same evidence offline: `warden inspect` prints the verdict and exits 3 (block).
    let dir = project.path();
    std::fs::write(dir.join("trace.json"), trace.to_string()).unwrap();
    std::fs::write(dir.join("egress.json"), egress.to_string()).unwrap();
    let out = project.warden(&[
        "inspect",
        "--trace",
        dir.join("trace.json").to_str().unwrap(),
        "--egress",
        dir.join("egress.json").to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"]["reasons"][0]["rule"], "gap.undeclared-host");
    // A bad egress line names its line.
    std::fs::write(dir.join("bad.jsonl"), "{\"kind\":\"tcp\"}\nnot json\n").unwrap();
    let out = project.warden(&[
        "inspect",
        "--trace",
        dir.join("trace.json").to_str().unwrap(),
        "--egress",
        dir.join("bad.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
