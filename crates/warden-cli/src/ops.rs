//! Operator commands: serve, token, killswitch, audit verify, config check.

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use serde_json::{json, Map};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use warden_audit::{AppendError, AuditLog, AuditOptions};
use warden_config::{Config, ProcessEnv};
use warden_core::{AgentId, KillScope, TenantId};
use warden_store::{KillFlip, KillSwitchStore, SqliteStore};

pub fn load_config(path: &Path) -> Result<Config> {
    warden_config::load(path, &ProcessEnv).map_err(|e| anyhow!("{e}"))
}

fn now_rfc3339() -> String {
    warden_server::now_rfc3339()
}

pub fn serve(config: &Path) -> Result<ExitCode> {
    let config = load_config(config)?;
    let workers = config.server.worker_threads;
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = workers {
        rt.worker_threads(n);
    }
    let rt = rt.build()?;
    rt.block_on(async move {
        let tools: Vec<String> = config.tools.keys().cloned().collect();
        let app = warden_server::build(config).map_err(|e| anyhow!("{e}"))?;
        let running = warden_server::start(app).await?;
        eprintln!(
            "warden: data plane listening on http://{} ; admin on http://{}",
            running.bound.data, running.bound.admin
        );
        if !tools.is_empty() {
            eprintln!(
                "warden: tools [{}] are validated but cannot run in this build (no sandbox yet); \
                 invocations that call them fail with 503 tools_unavailable",
                tools.join(", ")
            );
        }
        warden_server::shutdown_signal().await;
        eprintln!("warden: shutting down");
        running.shutdown().await?;
        eprintln!("warden: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

pub fn token(config: &Path, tenant: &str, sub: &str, ttl: &str) -> Result<ExitCode> {
    let config = load_config(config)?;
    println!("{}", make_token(&config, tenant, sub, ttl)?);
    Ok(ExitCode::SUCCESS)
}

/// Signs a development token with the first configured HS256 key.
pub fn make_token(config: &Config, tenant: &str, sub: &str, ttl: &str) -> Result<String> {
    let tenant = TenantId::new(tenant).map_err(|e| anyhow!("--tenant: {e}"))?;
    let ttl = humantime::parse_duration(ttl).map_err(|e| anyhow!("--ttl `{ttl}`: {e}"))?;
    let (kid, secret) = config
        .auth
        .hs256_key()
        .ok_or_else(|| anyhow!("no [[auth.keys]] of kind `hs256` is configured to sign with"))?;
    let now = warden_server::now_secs();
    let mut claims = Map::new();
    claims.insert(config.auth.tenant_claim.clone(), json!(tenant.as_str()));
    claims.insert(config.auth.subject_claim.clone(), json!(sub));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("exp".into(), json!(now + ttl.as_secs().max(1)));
    if let Some(iss) = &config.auth.issuer {
        claims.insert("iss".into(), json!(iss));
    }
    if let Some(aud) = &config.auth.audience {
        claims.insert("aud".into(), json!(aud));
    }
    warden_auth::issue_hs256(secret.expose(), kid.as_deref(), &claims).map_err(|e| anyhow!(e))
}

#[derive(Debug, Subcommand)]
pub enum KillAction {
    /// Print every scope and whether it is engaged.
    Status,
    /// Engage the kill switch for a scope (global unless --tenant or --agent).
    On {
        #[arg(long, conflicts_with = "agent")]
        tenant: Option<String>,
        #[arg(long)]
        agent: Option<String>,
        #[arg(long)]
        reason: String,
    },
    /// Release the kill switch for a scope.
    Off {
        #[arg(long, conflicts_with = "agent")]
        tenant: Option<String>,
        #[arg(long)]
        agent: Option<String>,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

fn scope(tenant: Option<String>, agent: Option<String>) -> Result<KillScope> {
    Ok(match (tenant, agent) {
        (Some(t), None) => {
            KillScope::Tenant(TenantId::new(t).map_err(|e| anyhow!("--tenant: {e}"))?)
        }
        (None, Some(a)) => KillScope::Agent(AgentId::new(a).map_err(|e| anyhow!("--agent: {e}"))?),
        (None, None) => KillScope::Global,
        (Some(_), Some(_)) => bail!("give --tenant or --agent, not both"),
    })
}

pub fn killswitch(config: &Path, action: KillAction) -> Result<ExitCode> {
    let config = load_config(config)?;
    let db = config.server.data_dir.join("warden.db");
    let store = SqliteStore::open(&db).map_err(|e| anyhow!("{}: {e}", db.display()))?;
    let (scope, enabled, reason) = match action {
        KillAction::Status => {
            let entries = store.entries().map_err(|e| anyhow!("{e}"))?;
            if entries.is_empty() {
                println!("no kill-switch scope has ever been set; nothing is engaged");
            }
            for e in entries {
                println!(
                    "{:<24} {:<9} {}  (by {} at {})",
                    e.scope.to_string(),
                    if e.enabled { "ENGAGED" } else { "released" },
                    e.reason,
                    e.actor,
                    e.updated_at
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        KillAction::On {
            tenant,
            agent,
            reason,
        } => {
            if reason.trim().is_empty() {
                bail!("--reason must not be empty when engaging the kill switch");
            }
            (scope(tenant, agent)?, true, reason)
        }
        KillAction::Off {
            tenant,
            agent,
            reason,
        } => (scope(tenant, agent)?, false, reason),
    };
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    store
        .flip(&KillFlip {
            scope: scope.clone(),
            enabled,
            reason: reason.trim().to_string(),
            actor,
            at: now_rfc3339(),
        })
        .map_err(|e| anyhow!("{e}"))?;
    // Audit it now if no server holds the audit log; otherwise the server audits it when it
    // picks the flip up (within a second).
    let audited = match AuditLog::open(AuditOptions {
        dir: config.audit.dir.clone(),
        durability: warden_audit::Durability::Fsync,
        segment_bytes: config.audit.segment_bytes,
    }) {
        Ok(log) => {
            let pending = store.unaudited_flips().map_err(|e| anyhow!("{e}"))?;
            let mut done = Vec::new();
            for (id, f) in pending {
                let record = json!({"scope": f.scope.to_string(), "enabled": f.enabled,
                    "reason": f.reason, "actor": f.actor, "flippedAt": f.at});
                log.append_blocking("killswitch.flip", f.at.clone(), record)
                    .map_err(|e| anyhow!("audit append failed: {e}"))?;
                done.push(id);
            }
            store.mark_audited(&done).map_err(|e| anyhow!("{e}"))?;
            "audited"
        }
        Err(AppendError::Locked(_)) => "the running server will audit it",
        Err(e) => bail!("kill switch flipped but the audit log cannot be opened: {e}"),
    };
    println!(
        "kill switch {} for {} ({audited})",
        if enabled { "ENGAGED" } else { "released" },
        scope
    );
    Ok(ExitCode::SUCCESS)
}

pub fn audit_verify(path: Option<PathBuf>, config: &Path) -> Result<ExitCode> {
    let path = match path {
        Some(p) => p,
        None => {
            load_config(config)
                .context("no PATH given and the config could not be loaded")?
                .audit
                .dir
        }
    };
    match warden_audit::verify_path(&path) {
        Ok(r) => {
            println!(
                "audit log OK: {} records in {} segment(s); last seq {} hash {}",
                r.records, r.segments, r.last_seq, r.last_hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(bad) => {
            println!("audit log FAILED verification: first bad record: {bad}");
            Ok(ExitCode::from(1))
        }
    }
}

pub fn config_check(path: &Path) -> Result<ExitCode> {
    let config = match warden_config::load(path, &ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut problems = Vec::new();
    if let Err(e) = warden_auth::Authenticator::from_config(&config.auth) {
        problems.extend(e);
    }
    for (id, agent) in &config.agents {
        if let warden_config::ModelConfig::Scripted { script } = &agent.model {
            if let Err(e) = warden_agent::ScriptedProvider::from_file(script) {
                problems.push(format!("agents.{id}.model.script: {e}"));
            }
        }
    }
    if !problems.is_empty() {
        eprintln!("{} problem(s) in config:", problems.len());
        for p in problems {
            eprintln!("  {}: {p}", config.path.display());
        }
        return Ok(ExitCode::from(1));
    }
    println!(
        "config OK: {} — {} agent(s), {} tool(s), {} guardrail(s), {} JWT key source(s), {} AWS key(s)",
        config.path.display(),
        config.agents.len(),
        config.tools.len(),
        config.guardrails.len(),
        config.auth.keys.len(),
        config.auth.aws_keys.len()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GuardSource {
    Input,
    Output,
}

/// `warden guard`: the ApplyGuardrail response for one text, exactly as the API returns it.
pub fn guard(config: &Path, guardrail: &str, source: GuardSource, file: &Path) -> Result<ExitCode> {
    use std::io::Read;
    let config = load_config(config)?;
    let g = config.guardrails.get(guardrail).ok_or_else(|| {
        let known: Vec<&str> = config.guardrails.keys().map(String::as_str).collect();
        anyhow!(
            "no guardrail `{guardrail}`; configured: {}",
            known.join(", ")
        )
    })?;
    let mut bytes = Vec::new();
    if file == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes)?;
    } else {
        bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    }
    let text = String::from_utf8(bytes).map_err(|e| anyhow!("input is not UTF-8: {e}"))?;
    let request = warden_guard::bedrock::ApplyGuardrailRequest::from_json(
        json!({
            "source": match source { GuardSource::Input => "INPUT", GuardSource::Output => "OUTPUT" },
            "content": [{"text": {"text": text}}],
        })
        .to_string()
        .as_bytes(),
    )
    .map_err(|e| anyhow!("{e}"))?;
    let started = std::time::Instant::now();
    let scanned = warden_guard::bedrock::apply_guardrail(&g.compiled, &request, 0)
        .map_err(|e| anyhow!("{e}"))?;
    let mut value = serde_json::to_value(&scanned)?;
    let elapsed = started.elapsed().as_millis() as u64;
    if let Some(m) = value["assessments"][0].get_mut("invocationMetrics") {
        m["guardrailProcessingLatency"] = json!(elapsed);
    }
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(ExitCode::SUCCESS)
}
