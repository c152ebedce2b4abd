//! `warden demo`: runs the gateway on the embedded starter project and drives it over real
//! sockets — an authenticated invocation, refusals, the kill switch — then verifies the audit
//! log. Exits 0 only if every outcome is the expected one.

use crate::{init, ops};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

struct Check {
    failures: Vec<String>,
}

impl Check {
    fn expect(&mut self, what: &str, ok: bool, detail: String) {
        println!("  [{}] {what}: {detail}", if ok { "ok" } else { "FAIL" });
        if !ok {
            self.failures.push(what.to_string());
        }
    }
}

fn project_dir() -> Result<PathBuf> {
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).map_err(|e| anyhow!("no system randomness: {e}"))?;
    let name: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    Ok(std::env::temp_dir().join(format!("warden-demo-{name}")))
}

pub fn run(keep: bool) -> Result<ExitCode> {
    let dir = project_dir()?;
    init::write_starter(&dir, false)?;
    // The demo binds ephemeral ports so it never collides with a running server.
    let cfg_path = dir.join("warden.toml");
    let text = std::fs::read_to_string(&cfg_path)?
        .replace("\"127.0.0.1:8080\"", "\"127.0.0.1:0\"")
        .replace("\"127.0.0.1:8081\"", "\"127.0.0.1:0\"");
    std::fs::write(&cfg_path, text)?;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(scenario(&cfg_path));
    if keep {
        println!("demo project kept at {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn scenario(cfg_path: &std::path::Path) -> Result<ExitCode> {
    let config = ops::load_config(cfg_path)?;
    let audit_dir = config.audit.dir.clone();
    let admin_token = config.admin.token.expose().clone();
    let token = ops::make_token(&config, "acme", "demo-user", "10m")?;
    println!(
        "Warden demo: starter project at {}",
        config.base_dir.display()
    );
    let app = warden_server::build(config).map_err(|e| anyhow!("{e}"))?;
    let running = warden_server::start(app).await?;
    let base = format!("http://{}", running.bound.data);
    let admin = format!("http://{}", running.bound.admin);
    println!("  gateway: data plane {base}, admin {admin}");
    let http = reqwest::Client::new();
    let mut check = Check {
        failures: Vec::new(),
    };
    let invoke = |text: &str, auth: Option<&str>| {
        let mut req = http
            .post(format!("{base}/v1/agents/support/sessions/demo-1/invoke"))
            .json(&json!({"inputText": text, "enableTrace": true}));
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        req.send()
    };

    println!("\n1. An authenticated customer of tenant `acme` asks the support agent a question");
    let resp = invoke("Hello, what can you help me with?", Some(&token)).await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    check.expect("status 200", status == 200, status.to_string());
    println!("     completion: {}", body["completion"]);
    println!("     verdict:    {}", body["verdict"]);
    let scripted = body["trace"].as_array().is_some_and(|t| {
        t.iter().any(|p| {
            p["trace"]["orchestrationTrace"]["modelInvocationInput"]["foundationModel"]
                .as_str()
                .is_some_and(|m| m.starts_with("scripted:"))
        })
    });
    check.expect(
        "verdict allow, tenant from the token",
        body["verdict"]["decision"] == "allow" && body["verdict"]["tenantId"] == "acme",
        format!(
            "decision={} tenant={}",
            body["verdict"]["decision"], body["verdict"]["tenantId"]
        ),
    );
    check.expect(
        "trace says it was scripted",
        scripted,
        format!(
            "{} trace parts",
            body["trace"].as_array().map_or(0, Vec::len)
        ),
    );

    println!("\n   The same customer pastes a social security number");
    let resp = invoke(
        "My SSN is 536-22-8410, can you update my account?",
        Some(&token),
    )
    .await?;
    let body: Value = resp.json().await?;
    println!("     completion: {}", body["completion"]);
    check.expect(
        "the guardrail blocks it before the model runs",
        body["verdict"]["decision"] == "block"
            && body["verdict"]["reasons"][0]["rule"] == "guard.pii.US_SOCIAL_SECURITY_NUMBER"
            && !body.to_string().contains("536-22-8410"),
        format!(
            "decision={} rule={}",
            body["verdict"]["decision"], body["verdict"]["reasons"][0]["rule"]
        ),
    );

    println!("\n2. A request without credentials");
    let resp = invoke("Hello", None).await?;
    let www = resp.headers().get("www-authenticate").cloned();
    let status = resp.status();
    let body: Value = resp.json().await?;
    check.expect(
        "refused with 401 and WWW-Authenticate",
        status == 401 && www.is_some(),
        format!("{status} {}", body["error"]["message"]),
    );

    println!("\n3. An operator engages the kill switch for tenant `acme` through the admin API");
    let flip = http
        .put(format!("{admin}/admin/v1/killswitch"))
        .bearer_auth(&admin_token)
        .json(&json!({"scope": "tenant:acme", "enabled": true, "reason": "demo: suspected abuse"}))
        .send()
        .await?;
    check.expect(
        "kill switch engaged",
        flip.status() == 200,
        flip.status().to_string(),
    );
    let resp = invoke("Hello again", Some(&token)).await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    check.expect(
        "next request refused with 503 naming the scope",
        status == 503
            && body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("tenant:acme")),
        format!("{status} {}", body["error"]["message"]),
    );
    let release = http
        .put(format!("{admin}/admin/v1/killswitch"))
        .bearer_auth(&admin_token)
        .json(&json!({"scope": "tenant:acme", "enabled": false, "reason": "demo over"}))
        .send()
        .await?;
    check.expect(
        "kill switch released",
        release.status() == 200,
        release.status().to_string(),
    );
    let resp = invoke("Hello once more", Some(&token)).await?;
    check.expect(
        "served again",
        resp.status() == 200,
        resp.status().to_string(),
    );

    println!("\n4. The order lookup needs the tool sandbox");
    let resp = invoke("Where is my order A-1043?", Some(&token)).await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    println!(
        "     {status}: {} (tool calls need the sandbox cells, which this build does not wire in yet)",
        body["error"]["message"]
    );

    // Let the verdict index catch up before listing it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let verdicts: Value = http
        .get(format!("{admin}/admin/v1/verdicts"))
        .bearer_auth(&admin_token)
        .send()
        .await?
        .json()
        .await?;
    println!(
        "\n5. Verdicts indexed: {}",
        verdicts["verdicts"].as_array().map_or(0, Vec::len)
    );
    running
        .shutdown()
        .await
        .context("shutting the gateway down")?;

    println!("\n6. The audit log");
    match warden_audit::verify_path(&audit_dir) {
        Ok(r) => check.expect(
            "hash chain verifies",
            true,
            format!("{} records, last hash {}", r.records, &r.last_hash[..16]),
        ),
        Err(bad) => check.expect("hash chain verifies", false, bad.to_string()),
    }

    if check.failures.is_empty() {
        println!("\ndemo passed");
        Ok(ExitCode::SUCCESS)
    } else {
        bail!("demo failed: {}", check.failures.join(", "))
    }
}
