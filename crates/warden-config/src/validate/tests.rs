//! Tests for config loading: the canonical example, unknown keys, all-problems-at-once.

use super::*;
use std::collections::BTreeMap;

/// The canonical `warden.toml` of DESIGN.md §5.
pub(crate) const CANONICAL: &str = r#"
version = 1

[server]
listen = "127.0.0.1:8080"
admin_listen = "127.0.0.1:8081"
data_dir = "warden-data"

[auth]
tenant_claim = "tenant_id"
issuer = "https://auth.example.com/"
audience = "warden"
[[auth.keys]]
kind = "hs256"
secret_file = "secrets/jwt-hs256.key"
[[auth.aws_keys]]
access_key_id = "AKIAWARDENEXAMPLE01"
secret_env = "WARDEN_AWS_SECRET_ACME"
tenant = "acme"

[admin]
token_file = "secrets/admin.token"

[limits]
max_body_bytes = 262144
max_input_chars = 20000

[ratelimit]
requests_per_minute = 600
burst = 50
tokens_per_minute = 200000
[ratelimit.tenants.acme]
requests_per_minute = 60
burst = 5

[guardrails.support]
prompt_attack = "high"
blocked_input_message = "Sorry, I can't help with that."
blocked_output_message = "Sorry, I can't share that."
[guardrails.support.pii]
EMAIL = "ANONYMIZE"
US_SOCIAL_SECURITY_NUMBER = "BLOCK"
CREDIT_DEBIT_CARD_NUMBER = "BLOCK"
[[guardrails.support.denied_topics]]
name = "investment-advice"
definition = "Recommendations about specific investments or securities"
examples = ["Which stocks should I buy?"]
[guardrails.support.words]
deny = ["competitor-x"]
profanity = true

[agents.support]
instructions = "You are a customer support agent for Example Corp. Only look up orders of the signed-in customer."
guardrail = "support"
action_groups = ["orders"]
max_steps = 8
[agents.support.model]
provider = "scripted"
script = "agents/support.script.json"

[tools.orders]
schema = "tools/orders/openapi.json"
handler = ["python3", "-m", "awslambdaric", "app.lambda_handler"]
workdir = "tools/orders"
egress = ["api.internal:443"]
secrets = ["ORDERS_API_KEY"]
timeout_ms = 5000
effects = "read"

[secrets]
provider = "file"
path = "secrets/tenants.toml"

[sandbox]
mode = "isolated"
pool_size = 4
[sandbox.hosts]
"api.internal" = "127.0.0.1:18443"

[detector]
mode = "enforce"
[judge]
provider = "none"

[audit]
durability = "fsync"

[export]
control_plane_url = "http://127.0.0.1:9090/v1/verdicts"
"#;

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for d in ["secrets", "agents", "tools/orders"] {
        std::fs::create_dir_all(p.join(d)).unwrap();
    }
    std::fs::write(p.join("secrets/jwt-hs256.key"), "k".repeat(48) + "\n").unwrap();
    std::fs::write(p.join("secrets/admin.token"), "admin-token-0123456789").unwrap();
    std::fs::write(p.join("secrets/tenants.toml"), "").unwrap();
    std::fs::write(p.join("agents/support.script.json"), "{}").unwrap();
    std::fs::write(p.join("tools/orders/openapi.json"), "{}").unwrap();
    dir
}

fn env() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "WARDEN_AWS_SECRET_ACME".to_string(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_string(),
    )])
}

fn problems(text: &str, dir: &Path) -> Vec<String> {
    match load_str(text, &dir.join("warden.toml"), &env()) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .problems
            .into_iter()
            .map(|p| format!("{}: {}", p.key, p.message))
            .collect(),
    }
}

#[test]
fn canonical_example_loads() {
    let dir = project();
    let cfg = load_str(CANONICAL, &dir.path().join("warden.toml"), &env()).unwrap();
    assert_eq!(cfg.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(cfg.server.data_dir, dir.path().join("warden-data"));
    assert_eq!(cfg.auth.keys.len(), 1);
    assert_eq!(cfg.auth.aws_keys[0].tenant.as_str(), "acme");
    let acme = TenantId::new("acme").unwrap();
    let other = TenantId::new("other").unwrap();
    assert_eq!(cfg.ratelimit.for_tenant(&acme).requests_per_minute, 60);
    assert_eq!(cfg.ratelimit.for_tenant(&acme).tokens_per_minute, 200_000);
    assert_eq!(cfg.ratelimit.for_tenant(&other).burst, 50);
    assert!(cfg.guardrails.contains_key("support"));
    let tool = &cfg.tools["orders"];
    assert!(tool.egress[0].matches("api.internal", 443));
    assert!(!tool.egress[0].matches("api.internal", 80));
    assert_eq!(cfg.sandbox.hosts["api.internal"].port(), 18443);
    assert_eq!(cfg.audit.dir, dir.path().join("warden-data/audit"));
}

#[test]
fn secrets_never_print() {
    let dir = project();
    let cfg = load_str(CANONICAL, &dir.path().join("warden.toml"), &env()).unwrap();
    let dump = format!("{cfg:?}");
    assert!(
        !dump.contains("admin-token-0123456789"),
        "admin token leaked"
    );
    assert!(!dump.contains("kkkkkkkk"), "hs256 key leaked");
    assert!(!dump.contains("EXAMPLEKEY"), "aws secret leaked");
    assert!(dump.contains("[redacted]"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let dir = project();
    let text = CANONICAL
        .replace("max_steps = 8", "max_steps = 8\nmax_stepz = 3")
        .replace(
            "requests_per_minute = 60\nburst = 5\n",
            "requests_per_minute = 60\nburst = 0\n",
        )
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"nowhere\"")
        .replace(
            "egress = [\"api.internal:443\"]",
            "egress = [\"api.internal:99999\"]",
        )
        .replace("[judge]", "[judge]\nmodel = 5")
        + "\n[telemetry]\nx = 1\n";
    let found = problems(&text, dir.path());
    let keys: Vec<&str> = found.iter().map(|p| p.split(':').next().unwrap()).collect();
    for expected in [
        "server.listen",
        "ratelimit.tenants.acme.burst",
        "agents.support.max_stepz",
        "tools.orders.egress[0]",
        "judge.model",
        "telemetry",
    ] {
        assert!(keys.contains(&expected), "missing {expected} in {found:#?}");
    }
    assert!(
        found
            .iter()
            .any(|p| p.contains("unknown field `max_stepz`")),
        "{found:#?}"
    );
}

#[test]
fn unknown_keys_are_rejected_in_nested_tables() {
    let dir = project();
    let text = CANONICAL.replace(
        "[[auth.keys]]\nkind",
        "[[auth.keys]]\nalgorithm = \"x\"\nkind",
    );
    let found = problems(&text, dir.path());
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("auth.keys[0]") && p.contains("unknown field `algorithm`")),
        "{found:#?}"
    );
}

#[test]
fn missing_env_and_files_are_precise() {
    let dir = project();
    let text = CANONICAL.replace("secrets/admin.token", "secrets/missing.token");
    let found = load_str(&text, &dir.path().join("warden.toml"), &BTreeMap::new())
        .unwrap_err()
        .problems;
    assert!(
        found
            .iter()
            .any(|p| p.key == "admin.token_file" && p.message.contains("missing.token")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|p| p.key == "auth.aws_keys[0].secret_env"
            && p.message.contains("WARDEN_AWS_SECRET_ACME")),
        "{found:#?}"
    );
}

#[test]
fn version_is_required_and_checked() {
    let dir = project();
    let found = problems(&CANONICAL.replace("version = 1", "version = 2"), dir.path());
    assert!(
        found[0].starts_with("version: unsupported version `2`"),
        "{found:?}"
    );
    let found = problems(&CANONICAL.replace("version = 1", ""), dir.path());
    assert!(found[0].starts_with("version: missing"), "{found:?}");
}

#[test]
fn invalid_toml_reports_line() {
    let dir = project();
    let found = problems("version = 1\n[server\nlisten = 1", dir.path());
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("invalid TOML (line 2)"), "{found:?}");
}

#[test]
fn dangling_references_are_errors() {
    let dir = project();
    let text = CANONICAL
        .replace("guardrail = \"support\"", "guardrail = \"nope\"")
        .replace(
            "action_groups = [\"orders\"]",
            "action_groups = [\"orders\", \"payments\"]",
        );
    let found = problems(&text, dir.path());
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("agents.support.guardrail")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("agents.support.action_groups[1]")),
        "{found:#?}"
    );
}

#[test]
fn weak_credentials_are_refused() {
    let dir = project();
    std::fs::write(dir.path().join("secrets/jwt-hs256.key"), "short").unwrap();
    std::fs::write(dir.path().join("secrets/admin.token"), "admin").unwrap();
    let found = problems(CANONICAL, dir.path());
    assert!(
        found.iter().any(|p| p.contains("at least 32 bytes")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|p| p.contains("at least 16 characters")),
        "{found:#?}"
    );
}

#[test]
fn egress_rules_parse_and_match() {
    let r = parse_egress("*.example.com").unwrap();
    assert!(r.matches("api.example.com", 443));
    assert!(r.matches("a.b.example.com", 80));
    assert!(!r.matches("example.com", 443));
    assert!(!r.matches("evilexample.com", 443));
    assert!(parse_egress("bad host").is_err());
    assert!(parse_egress("h:0").is_err());
    assert!(parse_egress("").is_err());
}

#[test]
fn prompt_cache_is_only_for_bedrock() {
    let dir = project();
    let text = CANONICAL.replace(
        "script = \"agents/support.script.json\"",
        "script = \"agents/support.script.json\"\nprompt_cache = true",
    );
    let found = problems(&text, dir.path());
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("agents.support.model.prompt_cache") && p.contains("bedrock")),
        "{found:#?}"
    );
    let text = CANONICAL.replace(
        "provider = \"scripted\"\nscript = \"agents/support.script.json\"",
        "provider = \"bedrock\"\nmodel_id = \"anthropic.claude-3-5-haiku-20241022-v1:0\"\nprompt_cache = true",
    );
    assert!(problems(&text, dir.path()).is_empty());
}
