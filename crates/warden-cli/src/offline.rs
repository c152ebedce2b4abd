//! Subcommands that work without a running gateway: `warden inspect` (judge a trace and
//! egress evidence), `warden tool` (run one action-group call through the broker and its
//! sandbox) and `warden console` (the control-plane verdict receiver).

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use warden_detect::{Context as DetectContext, Evidence, ObservationMode, ParseMode};

/// Formats `warden inspect --egress` understands.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum EgressFormat {
    /// Warden's `EgressEvent` JSON (array or JSON lines).
    Warden,
    /// AWS VPC Flow Logs, default version 2 text format.
    VpcFlow,
    /// Route 53 Resolver query logs (JSON lines).
    Route53,
}

/// `warden inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Bedrock TracePart JSON (one part, an array, `{"trace":[…]}` or JSON lines).
    #[arg(long)]
    pub trace: PathBuf,
    /// Egress evidence; repeat for several files (e.g. flow logs and resolver logs).
    #[arg(long)]
    pub egress: Vec<PathBuf>,
    /// Format of every `--egress` file, in the same order (default: warden).
    #[arg(long = "egress-format", value_enum)]
    pub egress_format: Vec<EgressFormat>,
    /// Tool manifests as JSON (`[{"name","hosts":["api.internal:443"],"operations":[…]}]`);
    /// default: the tools of `--config`.
    #[arg(long)]
    pub tools: Option<PathBuf>,
    #[arg(long, default_value = "warden.toml")]
    pub config: PathBuf,
    /// Skip malformed log lines (reported on stderr) instead of failing.
    #[arg(long)]
    pub lenient: bool,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Judges the evidence with the detector's rules and prints the verdict. Exit 0 allow, 1 warn,
/// 3 block (2 is an error).
pub fn inspect(args: &InspectArgs) -> Result<ExitCode> {
    let trace = warden_detect::parse_trace(&read(&args.trace)?)
        .map_err(|e| anyhow!("{}: {e}", args.trace.display()))?;
    let mode = if args.lenient {
        ParseMode::Lenient
    } else {
        ParseMode::Strict
    };
    let mut egress = Vec::new();
    let mut flows = Vec::new();
    let mut queries = Vec::new();
    for (i, path) in args.egress.iter().enumerate() {
        let text = read(path)?;
        let fmt = args
            .egress_format
            .get(i)
            .copied()
            .unwrap_or(EgressFormat::Warden);
        let warn = |w: &dyn std::fmt::Display| eprintln!("warning: {}: {w}", path.display());
        match fmt {
            EgressFormat::Warden => {
                let p = warden_detect::parse_egress_events(&text, mode)
                    .map_err(|e| anyhow!("{}: {e}", path.display()))?;
                p.warnings.iter().for_each(|w| warn(w));
                egress.extend(p.records);
            }
            EgressFormat::VpcFlow => {
                let p = warden_detect::parse_vpc_flow_logs(&text, mode)
                    .map_err(|e| anyhow!("{}: {e}", path.display()))?;
                p.warnings.iter().for_each(|w| warn(w));
                flows.extend(p.records);
            }
            EgressFormat::Route53 => {
                let p = warden_detect::parse_resolver_query_logs(&text, mode)
                    .map_err(|e| anyhow!("{}: {e}", path.display()))?;
                p.warnings.iter().for_each(|w| warn(w));
                queries.extend(p.records);
            }
        }
    }
    if !flows.is_empty() || !queries.is_empty() {
        egress.extend(warden_detect::aws_to_egress(
            &flows,
            &queries,
            &warden_detect::AwsAttribution::default(),
        ));
    }
    let tools: Vec<warden_detect::ToolInfo> = match &args.tools {
        Some(p) => serde_json::from_str(&read(p)?).map_err(|e| anyhow!("{}: {e}", p.display()))?,
        None => {
            let config = crate::ops::load_config(&args.config)?;
            let catalog = warden_policy::Catalog::from_config(&config)
                .map_err(|e| anyhow!("tools and policies: {e}"))?;
            warden_server::tools::tool_infos(&config, &catalog)
        }
    };
    let findings = warden_detect::evaluate(&Evidence {
        steps: trace.steps,
        egress,
        tools,
        context: DetectContext {
            observation: ObservationMode::External,
            ..DetectContext::default()
        },
    });
    let now = warden_server::now_rfc3339();
    let verdict = warden_detect::fuse(
        &findings,
        warden_detect::JudgeOutcome::NotConfigured,
        &warden_detect::VerdictContext {
            observation: ObservationMode::External,
            invocation_id: "inspect".into(),
            started_at: now.clone(),
            decided_at: now,
            checks: vec!["inspect".into()],
            ..Default::default()
        },
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({ "verdict": verdict }))?
    );
    Ok(match verdict.decision {
        warden_core::Decision::Allow => ExitCode::SUCCESS,
        warden_core::Decision::Warn => ExitCode::from(1),
        warden_core::Decision::Block => ExitCode::from(3),
    })
}

/// `warden tool`.
#[derive(Debug, clap::Args)]
pub struct ToolArgs {
    /// The action group (tool) name.
    pub tool: String,
    /// Function-schema tools: the function to call.
    #[arg(long)]
    pub function: Option<String>,
    /// OpenAPI tools: the path template, e.g. `/orders/{orderId}`.
    #[arg(long)]
    pub api_path: Option<String>,
    /// OpenAPI tools: the HTTP method.
    #[arg(long)]
    pub method: Option<String>,
    /// A parameter as `name=value` (repeatable).
    #[arg(long = "param")]
    pub params: Vec<String>,
    /// The request body as a JSON object.
    #[arg(long)]
    pub body: Option<String>,
    /// The tenant the call runs for.
    #[arg(long)]
    pub tenant: String,
    #[arg(long, default_value = "warden.toml")]
    pub config: PathBuf,
}

/// Runs one call through the broker (policy, secrets, sandbox, handler) and prints the Lambda
/// response and the egress events.
pub fn tool(args: &ToolArgs) -> Result<ExitCode> {
    let config = crate::ops::load_config(&args.config)?;
    let mut parameters = Vec::new();
    for p in &args.params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| anyhow!("--param `{p}` is not `name=value`"))?;
        parameters.push((k.to_string(), v.to_string()));
    }
    let body = match &args.body {
        Some(b) => Some(serde_json::from_str(b).map_err(|e| anyhow!("--body: {e}"))?),
        None => None,
    };
    let tenant = warden_core::TenantId::new(&args.tenant)
        .map_err(|e| anyhow!("--tenant `{}`: {e}", args.tenant))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let catalog = Arc::new(
            warden_policy::Catalog::from_config(&config)
                .map_err(|e| anyhow!("tools and policies: {e}"))?,
        );
        let secrets = warden_secrets::from_config(&config.secrets, &config.base_dir)
            .map_err(|e| anyhow!("secrets: {e}"))?;
        let sb = &config.sandbox;
        let broker = warden_broker::Broker::start(
            catalog,
            secrets,
            config.tools.clone(),
            warden_broker::BrokerOptions {
                sandbox_mode: sb.mode,
                pool_size: 1,
                egress_mode: sb.egress_mode,
                hosts: sb.hosts.clone(),
                sandbox_user: sb.user.clone(),
                cell_prefix: sb.cell_prefix.clone(),
                cell_subnet: Some(
                    sb.cell_subnet
                        .parse()
                        .map_err(|e| anyhow!("sandbox.cell_subnet: {e}"))?,
                ),
                ..Default::default()
            },
            Arc::new(warden_egress::SystemResolver),
            None,
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
        if let Some(why) = &broker.degraded_reason {
            eprintln!("note: cooperative mode ({why}); the handler could bypass the proxy");
        }
        let req = warden_broker::ToolRequest {
            caller: warden_policy::Caller {
                tenant: tenant.to_string(),
                subject: "cli".into(),
                claims: BTreeMap::new(),
            },
            tenant,
            agent: warden_server::tools::agent_ref("cli"),
            session_id: "cli".into(),
            invocation_id: format!("cli-{}", std::process::id()),
            input_text: String::new(),
            session_attributes: BTreeMap::new(),
            prompt_session_attributes: BTreeMap::new(),
            call: warden_policy::CallRequest {
                tool: args.tool.clone(),
                api_path: args.api_path.clone(),
                http_method: args.method.clone(),
                function: args.function.clone(),
                parameters,
                request_body: body,
            },
        };
        let result = broker.invoke(&req).await;
        broker.shutdown().await;
        match result {
            Ok(r) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "response": r.response.document,
                        "egress": r.egress,
                        "observation": r.observation,
                        "elapsedMs": r.elapsed_ms,
                    }))?
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "error": {"code": e.code(), "message": e.to_string()},
                        "egress": e.egress(),
                    }))?
                );
                Ok(ExitCode::from(1))
            }
        }
    })
}

/// `warden console`.
#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: std::net::SocketAddr,
    /// SQLite file holding the received verdicts.
    #[arg(long, default_value = "warden-console.db")]
    pub db: PathBuf,
    /// Environment variable holding the bearer token data planes must send.
    #[arg(long)]
    pub token_env: Option<String>,
}

/// Serves the control-plane receiver (`POST /v1/verdicts`, `GET /v1/verdicts`) until Ctrl-C.
pub fn console(args: &ConsoleArgs) -> Result<ExitCode> {
    let token = match &args.token_env {
        Some(var) => {
            let v = std::env::var(var).map_err(|_| anyhow!("--token-env: `{var}` is not set"))?;
            if v.is_empty() {
                bail!("--token-env: `{var}` is empty");
            }
            Some(warden_core::Sensitive::new(v))
        }
        None => None,
    };
    let store = Arc::new(
        warden_export::VerdictStore::open(&args.db)
            .map_err(|e| anyhow!("{}: {e}", args.db.display()))?,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        println!(
            "warden console: receiving verdicts on http://{}/v1/verdicts",
            listener.local_addr()?
        );
        warden_export::serve_console(
            listener,
            store,
            warden_export::ConsoleOptions { token },
            warden_server::shutdown_signal(),
        )
        .await?;
        Ok(ExitCode::SUCCESS)
    })
}
