//! The `warden` binary's other commands: init, config check, token, audit verify on a
//! tampered log, graceful shutdown, and the demo.

mod common;

use common::*;
use serde_json::json;
use std::process::Command;

#[test]
fn init_writes_a_project_that_checks_and_refuses_to_overwrite() {
    let project = Project::new(|t| t);
    let out = project.warden(&["config", "check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 agent(s), 1 tool(s), 1 guardrail(s)"));
    for file in [
        "agents/support.script.json",
        "tools/orders/openapi.json",
        "tools/orders/app.py",
        "policies/orders.cedar",
        "secrets/tenants.toml",
    ] {
        assert!(project.path().join(file).is_file(), "{file}");
    }
    let key = std::fs::read_to_string(project.path().join("secrets/jwt-hs256.key")).unwrap();
    assert!(key.trim().len() >= 60, "fresh HS256 key");
    assert!(
        !std::fs::read_to_string(project.config())
            .unwrap()
            .contains(key.trim()),
        "secret in config"
    );
    let again = Command::new(BIN)
        .arg("init")
        .arg(project.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    // Two projects get different keys.
    let other = Project::new(|t| t);
    assert_ne!(other.hs256_secret(), project.hs256_secret());
}

#[test]
fn config_check_reports_every_problem_with_key_paths() {
    let project = Project::new(|t| {
        t.replace("max_steps = 8", "max_steps = 0\nflavour = \"x\"")
            .replace("listen = \"127.0.0.1:0\"", "listen = \"localhost\"")
            .replace("secrets/admin.token", "secrets/none.token")
            + "\n[surprise]\nx = 1\n"
    });
    let out = project.warden(&["config", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "agents.support.flavour: unknown field",
        "server.listen: `localhost`",
        "admin.token_file: cannot read",
        "surprise: unknown key",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    // serve refuses the same config with the same report.
    let out = project.warden(&["serve"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("surprise: unknown key"));
}

#[test]
fn token_issues_verifiable_dev_tokens() {
    let project = Project::new(|t| t);
    let out = project.warden(&["token", "--tenant", "acme", "--sub", "alice", "--ttl", "5m"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_audience(&["warden"]);
    v.set_issuer(&["https://auth.example.com/"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(&project.hs256_secret()),
        &v,
    )
    .unwrap();
    assert_eq!(data.claims["tenant_id"], "acme");
    assert_eq!(data.claims["sub"], "alice");
    let ttl = data.claims["exp"].as_u64().unwrap() - data.claims["iat"].as_u64().unwrap();
    assert_eq!(ttl, 300);
    let bad = project.warden(&["token", "--tenant", "a/b"]);
    assert!(!bad.status.success());
    let bad = project.warden(&["token", "--tenant", "acme", "--ttl", "forever"]);
    assert!(!bad.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_and_audit_verify_names_a_tampered_record() {
    let project = Project::new(|t| t);
    let server = Server::start(&project);
    let token = project.token("acme", |_| {});
    for _ in 0..5 {
        assert_eq!(
            invoke(&server, Some(&token), json!({"inputText": "hi"}))
                .await
                .0,
            200
        );
    }
    assert_eq!(
        invoke(&server, None, json!({"inputText": "hi"})).await.0,
        401
    );
    let status = server.stop();
    assert!(status.success(), "graceful shutdown exit status {status:?}");

    let out = project.warden(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("6 records"));

    let seg = project.path().join("warden-data/audit/audit-000001.jsonl");
    let text = std::fs::read_to_string(&seg).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let tampered = lines[2].replace("\"status\":200", "\"status\":201");
    assert_ne!(tampered, lines[2]);
    let mut changed = lines.clone();
    changed[2] = &tampered;
    std::fs::write(&seg, changed.join("\n") + "\n").unwrap();
    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .arg(project.path().join("warden-data/audit"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("audit-000001.jsonl:3 (seq 3)") && report.contains("hash mismatch"),
        "{report}"
    );
}

#[test]
fn demo_runs_end_to_end() {
    let out = Command::new(BIN).arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("demo passed"));
    assert!(!stdout.contains("[FAIL]"));
}

#[test]
fn scan_reports_sarif_and_fails_on_the_vulnerable_stack() {
    let stacks = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../warden-posture/tests/fixtures/stacks"
    );
    let out = Command::new(BIN)
        .args([
            "scan",
            "--format",
            "sarif",
            "--no-progress",
            "--fail-on",
            "high",
        ])
        .arg(format!("{stacks}/vulnerable-support-agent.yaml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(
        results.iter().any(|r| r["ruleId"] == "AGENT-001"),
        "no guardrail finding"
    );
    let out = Command::new(BIN)
        .args(["scan", "--no-progress"])
        .arg(format!("{stacks}/hardened-support-agent.yaml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The starter project written by `warden init` is clean too.
    let project = Project::new(|t| t);
    let out = Command::new(BIN)
        .args(["scan", "--no-progress"])
        .arg(project.config())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
