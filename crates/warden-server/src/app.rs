//! Building the application state from config, and its background tasks.

use crate::detection::DetectorSetup;
use crate::frontdoor::FrontDoor;
use crate::indexer::Indexer;
use crate::killswitch::{KillSwitch, POLL_INTERVAL_MS};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimits;
use crate::screen::GuardScreen;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use warden_agent::{ModelProvider, ScriptedProvider};
use warden_audit::{AuditLog, AuditOptions, Durability};
use warden_auth::Authenticator;
use warden_broker::{Broker, BrokerOptions};
use warden_config::{AgentConfig, Config, ModelConfig};
use warden_core::AgentId;
use warden_policy::Catalog;
use warden_store::{SqliteStore, Store};

/// Everything a request handler needs.
#[derive(Debug)]
pub struct App {
    pub config: Arc<Config>,
    pub front: FrontDoor,
    pub audit: AuditLog,
    pub store: Arc<dyn Store>,
    pub kill: Arc<KillSwitch>,
    pub metrics: Metrics,
    pub agents: BTreeMap<AgentId, Agent>,
    pub indexer: Indexer,
    /// Set once startup finished and the kill switch was loaded; `/readyz` reports it.
    pub ready: std::sync::atomic::AtomicBool,
    /// Tool manifests and Cedar policies.
    pub catalog: Arc<Catalog>,
    pub secrets: Arc<dyn warden_secrets::SecretProvider>,
    /// The detector's tool manifests and mode.
    pub detector: DetectorSetup,
    /// The tool broker; started by [`crate::start`] (it binds the egress listeners and
    /// creates the sandbox cells).
    pub broker: std::sync::OnceLock<Arc<Broker>>,
    /// Verdict-only export to the control plane (when `[export] control_plane_url` is set).
    pub exporter: std::sync::OnceLock<warden_export::Exporter>,
    /// The optional LLM judge (`[judge]`), started by [`crate::start`].
    pub judge: std::sync::OnceLock<warden_llm::ConfiguredJudge>,
}

/// A configured agent with its model provider.
#[derive(Debug)]
pub struct Agent {
    pub config: AgentConfig,
    pub driver: Driver,
    /// The agent's guardrail; an agent configured with one is never run without it.
    pub screen: Option<GuardScreen>,
    /// The agent's action groups configured `execution = "return_control"`: their calls are
    /// handed back to the caller instead of running in the sandbox.
    pub return_control: std::collections::BTreeSet<String>,
}

/// What runs an agent's invocations.
#[derive(Debug, Clone)]
pub enum Driver {
    /// Warden's own orchestration loop with a model provider.
    Loop(Arc<dyn ModelProvider>),
    /// An agent hosted on Bedrock Agents (proxy mode).
    #[cfg(feature = "bedrock-agent")]
    BedrockAgent(Arc<crate::remote::BedrockAgentDriver>),
}

/// Why the server could not start. Each line names the component and the reason.
#[derive(Debug, thiserror::Error)]
#[error("cannot start:\n  {}", .0.join("\n  "))]
pub struct StartupError(pub Vec<String>);

/// Builds every component; reports every problem found.
pub fn build(config: Config) -> Result<Arc<App>, StartupError> {
    let mut problems = Vec::new();
    let auth = Authenticator::from_config(&config.auth)
        .map_err(|e| problems.extend(e))
        .ok();
    let mut agents = BTreeMap::new();
    for (id, agent) in &config.agents {
        // The agent's action groups handed back to the caller instead of run in the sandbox.
        let return_control: std::collections::BTreeSet<String> = agent
            .action_groups
            .iter()
            .filter(|g| {
                config
                    .tools
                    .get(*g)
                    .is_some_and(|t| t.execution == warden_config::Execution::ReturnControl)
            })
            .cloned()
            .collect();
        let provider: Option<Driver> = match &agent.model {
            ModelConfig::Scripted { script } => match ScriptedProvider::from_file(script) {
                Ok(p) => Some(Driver::Loop(Arc::new(p))),
                Err(e) => {
                    problems.push(format!("agents.{id}.model.script: {e}"));
                    None
                }
            },
            ModelConfig::OpenAi {
                base_url,
                model,
                api_key_env,
                timeout_ms,
                max_tokens,
            } => match openai_model(base_url, model, api_key_env.as_deref(), *timeout_ms) {
                Ok(m) => match Catalog::from_config(&config) {
                    Ok(catalog) => {
                        Some(Driver::Loop(Arc::new(crate::providers::LlmProvider::new(
                            m,
                            &catalog,
                            &agent.action_groups,
                            *max_tokens,
                        ))))
                    }
                    Err(_) => None, // reported once below, with the catalogue
                },
                Err(e) => {
                    problems.push(format!("agents.{id}.model: {e}"));
                    None
                }
            },
            #[cfg(feature = "bedrock")]
            ModelConfig::Bedrock {
                model_id,
                region,
                guardrail_identifier,
                guardrail_version,
                timeout_ms,
                max_tokens,
                prompt_cache,
            } => {
                let mut cfg = warden_llm::BedrockConfig::new(model_id.clone());
                cfg.region = region.clone();
                cfg.guardrail = guardrail_identifier
                    .as_ref()
                    .map(|g| warden_llm::GuardrailRef {
                        identifier: g.clone(),
                        version: guardrail_version.clone().unwrap_or_else(|| "DRAFT".into()),
                    });
                cfg.policy.timeout = std::time::Duration::from_millis(*timeout_ms);
                match Catalog::from_config(&config) {
                    Ok(catalog) => Some(Driver::Loop(Arc::new(
                        crate::providers::LlmProvider::new(
                            Arc::new(crate::providers::LazyBedrock::new(cfg)),
                            &catalog,
                            &agent.action_groups,
                            *max_tokens,
                        )
                        .with_prompt_cache(*prompt_cache),
                    ))),
                    Err(_) => None, // reported once below, with the catalogue
                }
            }
            #[cfg(feature = "bedrock-agent")]
            ModelConfig::BedrockAgent { .. } => {
                // Proxy mode runs every handed-back call in the sandbox itself; there is no
                // caller to hand a call on to.
                if return_control.is_empty() {
                    Some(Driver::BedrockAgent(Arc::new(
                        crate::remote::BedrockAgentDriver::new(agent.model.clone()),
                    )))
                } else {
                    problems.push(format!(
                        "agents.{id}: a `bedrock-agent` agent runs its action groups in Warden's sandbox; `execution = \"return_control\"` is not supported for {return_control:?}"
                    ));
                    None
                }
            }
            #[cfg(not(feature = "bedrock"))]
            ModelConfig::Bedrock { .. } => {
                problems.push(format!(
                    "agents.{id}.model: provider `bedrock` is not available in this build; rebuild with `cargo build --release --features bedrock` (the AWS SDK for Rust)"
                ));
                None
            }
            #[cfg(not(feature = "bedrock-agent"))]
            ModelConfig::BedrockAgent { .. } => {
                problems.push(format!(
                    "agents.{id}.model: provider `bedrock-agent` is not available in this build; rebuild with `cargo build --release --features bedrock-agent` (the AWS SDK for Rust)"
                ));
                None
            }
        };
        if let Some(provider) = provider {
            agents.insert(
                id.clone(),
                Agent {
                    config: agent.clone(),
                    driver: provider,
                    screen: None,
                    return_control,
                },
            );
        }
    }
    let store = match SqliteStore::open(&config.server.data_dir.join("warden.db")) {
        Ok(s) => Some(Arc::new(s) as Arc<dyn Store>),
        Err(e) => {
            problems.push(format!(
                "store ({}): {e}",
                config.server.data_dir.join("warden.db").display()
            ));
            None
        }
    };
    let audit = match AuditLog::open(AuditOptions {
        dir: config.audit.dir.clone(),
        durability: match config.audit.durability {
            warden_config::Durability::Fsync => Durability::Fsync,
            warden_config::Durability::Batch => Durability::Batch,
        },
        segment_bytes: config.audit.segment_bytes,
    }) {
        Ok(a) => Some(a),
        Err(e) => {
            problems.push(format!("audit log ({}): {e}", config.audit.dir.display()));
            None
        }
    };
    let catalog = match Catalog::from_config(&config) {
        Ok(c) => Some(Arc::new(c)),
        Err(e) => {
            problems.push(format!("tools and policies: {e}"));
            None
        }
    };
    let secrets = match warden_secrets::from_config(&config.secrets, &config.base_dir) {
        Ok(s) => Some(s),
        Err(e) => {
            problems.push(format!("secrets: {e}"));
            None
        }
    };
    let metrics = match Metrics::new() {
        Ok(m) => Some(m),
        Err(e) => {
            problems.push(format!("metrics: {e}"));
            None
        }
    };
    let (Some(auth), Some(store), Some(audit), Some(metrics), Some(catalog), Some(secrets), true) = (
        auth,
        store,
        audit,
        metrics,
        catalog,
        secrets,
        problems.is_empty(),
    ) else {
        return Err(StartupError(problems));
    };
    for agent in agents.values_mut() {
        if let Some(name) = &agent.config.guardrail {
            let Some(g) = config.guardrails.get(name) else {
                return Err(StartupError(vec![format!(
                    "agents.{}.guardrail: guardrail `{name}` is not compiled",
                    agent.config.id
                )]));
            };
            agent.screen = Some(GuardScreen {
                guardrail: g.compiled.clone(),
                metrics: metrics.clone(),
            });
        }
    }
    let kill = Arc::new(KillSwitch::default());
    kill.refresh(store.as_ref())
        .map_err(|e| StartupError(vec![format!("kill switch: {e}")]))?;
    let indexer =
        Indexer::start(store.clone()).map_err(|e| StartupError(vec![format!("indexer: {e}")]))?;
    let front = FrontDoor {
        auth,
        kill: kill.clone(),
        limits: RateLimits::new(config.ratelimit.clone()),
        store: store.clone(),
    };
    let detector = crate::tools::detector_setup(&config, &catalog);
    let app = App {
        catalog,
        secrets,
        detector,
        broker: std::sync::OnceLock::new(),
        exporter: std::sync::OnceLock::new(),
        judge: std::sync::OnceLock::new(),
        config: Arc::new(config),
        front,
        audit,
        store,
        kill,
        metrics,
        agents,
        indexer,
        ready: std::sync::atomic::AtomicBool::new(false),
    };
    app.update_kill_metrics();
    Ok(Arc::new(app))
}

impl App {
    pub(crate) fn update_kill_metrics(&self) {
        let snap = self.kill.load();
        for e in &snap.entries {
            self.metrics
                .killswitch
                .with_label_values(&[&e.scope.to_string()])
                .set(i64::from(e.enabled));
        }
    }

    /// Writes kill-switch flips that other processes made to the audit log.
    pub(crate) async fn audit_pending_flips(&self) {
        let store = self.store.clone();
        let pending = match tokio::task::spawn_blocking(move || store.unaudited_flips()).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot read pending kill-switch flips");
                return;
            }
            Err(_) => return,
        };
        let mut done = Vec::new();
        for (id, flip) in pending {
            let record = serde_json::json!({
                "scope": flip.scope.to_string(), "enabled": flip.enabled,
                "reason": flip.reason, "actor": flip.actor, "flippedAt": flip.at,
            });
            match self
                .audit
                .append("killswitch.flip", flip.at.clone(), record)
                .await
            {
                Ok(Ok(_)) => done.push(id),
                _ => {
                    tracing::error!("audit append failed for a kill-switch flip; will retry");
                    break;
                }
            }
        }
        if !done.is_empty() {
            let store = self.store.clone();
            let _ = tokio::task::spawn_blocking(move || store.mark_audited(&done)).await;
        }
    }
}

/// Background tasks: the kill-switch poller (and auditor of flips made elsewhere) and the
/// JWKS refresher.
pub(crate) fn spawn_background(app: Arc<App>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let poll_app = app.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(POLL_INTERVAL_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let a = poll_app.clone();
            let changed =
                tokio::task::spawn_blocking(move || a.kill.refresh(a.store.as_ref())).await;
            match changed {
                Ok(Ok(true)) => {
                    poll_app.update_kill_metrics();
                    poll_app.audit_pending_flips().await;
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "kill-switch refresh failed"),
                Err(_) => {}
            }
            poll_app
                .ready
                .store(true, std::sync::atomic::Ordering::Release);
        }
    }));
    // Idle sessions are ignored on load already; the sweep deletes them from the store. The
    // longest idle limit of any agent decides (shorter ones are enforced on load).
    if let Some(idle) = app
        .agents
        .values()
        .map(|a| a.config.session_idle_secs)
        .max()
    {
        let sweep_app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let store = sweep_app.store.clone();
                let cutoff = crate::now_secs().saturating_sub(idle);
                match tokio::task::spawn_blocking(move || store.expire_sessions(cutoff)).await {
                    Ok(Ok(n)) if n > 0 => tracing::info!(expired = n, "idle sessions expired"),
                    Ok(Err(e)) => tracing::error!(error = %e, "session expiry failed"),
                    _ => {}
                }
            }
        }));
    }
    let urls: Vec<String> = app.front.auth.jwt.jwks_urls().to_vec();
    if !urls.is_empty() {
        let jwks_app = app.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default();
            let every = Duration::from_secs(jwks_app.config.auth.jwks_refresh_secs);
            loop {
                for url in &urls {
                    let fetched = async {
                        let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
                        if !resp.status().is_success() {
                            return Err(format!("status {}", resp.status()));
                        }
                        let body = resp.bytes().await.map_err(|e| e.to_string())?;
                        if body.len() > 1 << 20 {
                            return Err("JWKS document larger than 1 MiB".into());
                        }
                        jwks_app.front.auth.jwt.install_jwks(url, &body)
                    }
                    .await;
                    match fetched {
                        Ok(n) => tracing::info!(url = %url, keys = n, "JWKS refreshed"),
                        Err(e) => tracing::warn!(url = %url, error = %e, "JWKS refresh failed; keeping previous keys"),
                    }
                }
                tokio::time::sleep(every).await;
            }
        }));
    }
    tasks
}

impl App {
    /// Starts the tool broker: in isolated mode this probes for sandbox support, binds the
    /// egress proxy and DNS server and creates the cell pool; it refuses to start silently
    /// degraded (cooperative mode only when the config asks for it).
    pub async fn start_broker(&self) -> Result<Arc<Broker>, String> {
        if let Some(b) = self.broker.get() {
            return Ok(b.clone());
        }
        let sb = &self.config.sandbox;
        let options = BrokerOptions {
            sandbox_mode: sb.mode,
            pool_size: sb.pool_size,
            egress_mode: sb.egress_mode,
            hosts: sb.hosts.clone(),
            sandbox_user: sb.user.clone(),
            cell_prefix: sb.cell_prefix.clone(),
            cell_subnet: Some(
                sb.cell_subnet
                    .parse()
                    .map_err(|e| format!("sandbox.cell_subnet: {e}"))?,
            ),
            ..BrokerOptions::default()
        };
        let broker = Broker::start(
            self.catalog.clone(),
            self.secrets.clone(),
            self.config.tools.clone(),
            options,
            Arc::new(warden_egress::SystemResolver),
            None,
        )
        .await?;
        if let Some(why) = &broker.degraded_reason {
            tracing::warn!(
                reason = %why,
                "sandbox isolation is OFF: tools run in cooperative mode (proxy via environment); every verdict says so"
            );
        }
        let broker = Arc::new(broker);
        let _ = self.broker.set(broker.clone());
        Ok(broker)
    }
}

/// This data plane's id in exported records: `WARDEN_DATA_PLANE_ID`, else the host name.
pub fn data_plane_id() -> String {
    let raw = std::env::var("WARDEN_DATA_PLANE_ID")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .unwrap_or_default();
    let id: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.:".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if id.is_empty() {
        "warden".into()
    } else {
        id
    }
}

impl App {
    /// Starts the verdict exporter when a control plane is configured.
    pub fn start_exporter(&self) -> Result<(), String> {
        let Some(opts) = warden_export::ExporterOptions::from_config(
            &self.config.export,
            &self.config.server.data_dir,
            data_plane_id(),
        ) else {
            return Ok(());
        };
        let e = warden_export::Exporter::start(opts).map_err(|e| e.to_string())?;
        let _ = self.exporter.set(e);
        Ok(())
    }

    /// Queues the verdict for the control plane: only the closed export record leaves.
    pub fn export(&self, verdict: &warden_core::Verdict) {
        if let Some(e) = self.exporter.get() {
            if let Err(err) = e.export_verdict(verdict) {
                tracing::error!(error = %err, "verdict export queue failed");
            }
        }
    }
}

impl App {
    /// Builds the judge client when `[judge]` names a provider.
    pub async fn start_judge(&self) -> Result<(), String> {
        if let Some(j) = warden_llm::judge_from_config(&self.config.judge)
            .await
            .map_err(|e| e.to_string())?
        {
            let _ = self.judge.set(j);
        }
        Ok(())
    }

    /// Asks the judge (when configured) about the evidence summary. A failure maps to the
    /// configured outcome and is recorded in the verdict; it never allows silently.
    pub async fn judge_outcome(&self, summary: &serde_json::Value) -> warden_detect::JudgeOutcome {
        let Some(j) = self.judge.get() else {
            return warden_detect::JudgeOutcome::NotConfigured;
        };
        match j.judge.judge(summary).await {
            Ok(opinion) => warden_detect::JudgeOutcome::Opinion(opinion),
            Err(e) => warden_detect::JudgeOutcome::Failed {
                reason: format!("judge {}: {e}", j.model),
                on_failure: j.on_failure.into(),
            },
        }
    }
}

/// An OpenAI-compatible chat model from an agent's `[agents.X.model]`.
fn openai_model(
    base_url: &str,
    model: &str,
    api_key_env: Option<&str>,
    timeout_ms: u64,
) -> Result<Arc<dyn warden_llm::ChatModel>, String> {
    let mut cfg = warden_llm::OpenAiConfig::new(base_url, model);
    if let Some(var) = api_key_env {
        let key = std::env::var(var).map_err(|_| format!("api_key_env `{var}` is not set"))?;
        if key.is_empty() {
            return Err(format!("api_key_env `{var}` is empty"));
        }
        cfg.api_key = Some(warden_core::Sensitive::new(key));
    }
    cfg.policy.timeout = std::time::Duration::from_millis(timeout_ms);
    let chat = warden_llm::OpenAiChat::new(cfg).map_err(|e| e.to_string())?;
    Ok(Arc::new(chat))
}
