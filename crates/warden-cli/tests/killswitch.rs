//! Kill switch end to end: admin API and CLI flips take effect in the running server within
//! one second, refusals are 503 naming scope and reason, and every flip is audited.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn flip(server: &Server, token: &str, body: Value) -> (u16, Value) {
    let resp = client()
        .put(format!("{}/admin/v1/killswitch", server.admin))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

/// Polls until the invoke status becomes `want`; returns how long it took.
async fn until_status(server: &Server, token: &str, want: u16) -> Duration {
    let start = Instant::now();
    loop {
        let (status, _, _) = invoke(server, Some(token), json!({"inputText": "hi"})).await;
        if status == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "status never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_api_flips_every_scope_and_requires_the_admin_token() {
    let project = Project::new(|t| t);
    let server = Server::start(&project);
    let admin = project.admin_token();
    let acme = project.token("acme", |_| {});
    let globex = project.token("globex", |_| {});

    // Without or with a wrong admin token: 401; the data-plane token is not an admin token.
    let resp = client()
        .get(format!("{}/admin/v1/killswitch", server.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (status, _) = flip(
        &server,
        &acme,
        json!({"scope": "global", "enabled": true, "reason": "x"}),
    )
    .await;
    assert_eq!(status, 401);
    // Bad requests change nothing.
    for bad in [
        json!({"scope": "everything", "enabled": true, "reason": "x"}),
        json!({"scope": "global", "enabled": true}),
        json!({"scope": "tenant:", "enabled": true, "reason": "x"}),
        json!({"scope": "global", "enabled": "yes", "reason": "x"}),
    ] {
        let (status, body) = flip(&server, &admin, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _, _) = invoke(&server, Some(&acme), json!({"inputText": "hi"})).await;
    assert_eq!(status, 200);

    // Tenant scope: acme is stopped, globex is not.
    let (status, state) = flip(
        &server,
        &admin,
        json!({"scope": "tenant:acme", "enabled": true, "reason": "incident 7"}),
    )
    .await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["entries"][0]["scope"], "tenant:acme");
    let (status, _, body) = invoke(&server, Some(&acme), json!({"inputText": "hi"})).await;
    assert_eq!(status, 503);
    assert_eq!(error_code(&body), "kill_switch");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("tenant:acme") && msg.contains("incident 7"),
        "{msg}"
    );
    assert_eq!(
        invoke(&server, Some(&globex), json!({"inputText": "hi"}))
            .await
            .0,
        200
    );

    // Agent scope stops every tenant for that agent.
    flip(
        &server,
        &admin,
        json!({"scope": "agent:support", "enabled": true, "reason": "bad deploy"}),
    )
    .await;
    let (status, _, body) = invoke(&server, Some(&globex), json!({"inputText": "hi"})).await;
    assert_eq!(status, 503);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("agent:support"));

    // Global wins over everything, and releasing restores service.
    flip(
        &server,
        &admin,
        json!({"scope": "global", "enabled": true, "reason": "3 AM"}),
    )
    .await;
    let (_, _, body) = invoke(&server, Some(&globex), json!({"inputText": "hi"})).await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`global`"));
    for scope in ["global", "agent:support", "tenant:acme"] {
        let (status, _) = flip(&server, &admin, json!({"scope": scope, "enabled": false})).await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        invoke(&server, Some(&acme), json!({"inputText": "hi"}))
            .await
            .0,
        200
    );
    let metrics = metrics(&server).await;
    assert!(
        metrics.contains("warden_killswitch_engaged{scope=\"global\"} 0"),
        "{metrics}"
    );

    // Every flip is in the audit log, which verifies.
    assert!(server.stop().success());
    let out = project.warden(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let audit =
        std::fs::read_to_string(project.path().join("warden-data/audit/audit-000001.jsonl"))
            .unwrap();
    let flips: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["kind"] == "killswitch.flip")
        .collect();
    assert_eq!(flips.len(), 6, "{audit}");
    assert_eq!(flips[0]["data"]["scope"], "tenant:acme");
    assert_eq!(flips[0]["data"]["actor"], "admin-api");
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_flip_against_the_store_reaches_a_running_server_within_a_second() {
    let project = Project::new(|t| t);
    let server = Server::start(&project);
    let token = project.token("acme", |_| {});
    assert_eq!(
        invoke(&server, Some(&token), json!({"inputText": "hi"}))
            .await
            .0,
        200
    );

    let flipped_at = Instant::now();
    let out = project.warden(&[
        "killswitch",
        "on",
        "--tenant",
        "acme",
        "--reason",
        "cli drill",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("the running server will audit it"));
    let took = until_status(&server, &token, 503).await;
    assert!(
        flipped_at.elapsed() < Duration::from_secs(1) + Duration::from_millis(500),
        "took {took:?}"
    );
    eprintln!("kill-switch propagation (CLI → first 503): {took:?}");
    let out = project.warden(&["killswitch", "status"]);
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.contains("tenant:acme")
            && status.contains("ENGAGED")
            && status.contains("cli drill"),
        "{status}"
    );

    project.warden(&["killswitch", "off", "--tenant", "acme"]);
    until_status(&server, &token, 200).await;
    // Bad CLI input is refused and changes nothing.
    let out = project.warden(&["killswitch", "on", "--tenant", "a b", "--reason", "x"]);
    assert!(!out.status.success());
    let out = project.warden(&["killswitch", "on", "--reason", " "]);
    assert!(!out.status.success());
    assert_eq!(
        invoke(&server, Some(&token), json!({"inputText": "hi"}))
            .await
            .0,
        200
    );

    // The server audited both CLI flips (it holds the audit log while running).
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(server.stop().success());
    let audit =
        std::fs::read_to_string(project.path().join("warden-data/audit/audit-000001.jsonl"))
            .unwrap();
    let flips: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("\"kind\":\"killswitch.flip\""))
        .collect();
    assert_eq!(flips.len(), 2, "{audit}");
    assert!(flips[0].contains("cli drill"));

    // With no server running, the CLI audits the flip itself.
    let out = project.warden(&["killswitch", "on", "--reason", "offline"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(audited)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(project.warden(&["audit", "verify"]).status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_lists_verdicts_and_verifies_the_audit_log() {
    let project = Project::new(|t| t);
    let server = Server::start(&project);
    let admin = project.admin_token();
    let token = project.token("acme", |_| {});
    assert_eq!(
        invoke(&server, Some(&token), json!({"inputText": "hi"}))
            .await
            .0,
        200
    );
    let (status, _, body) = invoke(
        &server,
        Some(&token),
        json!({"inputText": "my SSN is 536-22-8410"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["verdict"]["decision"], "block");
    // The index is written behind the request path; give it a moment.
    let mut rows = Value::Null;
    for _ in 0..30 {
        rows = client()
            .get(format!(
                "{}/admin/v1/verdicts?tenant=acme&decision=block",
                server.admin
            ))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if rows["verdicts"].as_array().is_some_and(|v| !v.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v = &rows["verdicts"][0];
    assert_eq!(
        v["rules"][0], "guard.pii.US_SOCIAL_SECURITY_NUMBER",
        "{rows}"
    );
    assert_eq!(v["tenantId"], "acme");
    assert!(
        !rows.to_string().contains("536-22-8410"),
        "verdicts never carry content"
    );
    let resp = client()
        .get(format!("{}/admin/v1/verdicts?bogus=1", server.admin))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let report: Value = client()
        .get(format!("{}/admin/v1/audit/verify", server.admin))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["records"].as_u64().unwrap() >= 2);
    // Neither the audit log nor anything on disk holds the SSN.
    let audit =
        std::fs::read_to_string(project.path().join("warden-data/audit/audit-000001.jsonl"))
            .unwrap();
    assert!(!audit.contains("536-22-8410"));
    assert!(audit.contains("guard.pii.US_SOCIAL_SECURITY_NUMBER"));
}
