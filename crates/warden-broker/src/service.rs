//! The tool broker: one action-group call from request to Lambda-format response —
//! policy (schema, tenant scope, Cedar), per-tenant secrets, a sandbox cell (or the
//! cooperative proxy environment), the real handler over the Lambda Runtime API, and the
//! egress events the call produced.

use crate::dlp::EgressDlp;
use crate::lambda::{self, ActionCall, ActionResponse, AgentRef};
use crate::runtime_api::{BrokerError, FunctionHost, HandlerSpec, Launcher, Outcome};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use warden_config::{EnforceMode, SandboxMode, ToolConfig};
use warden_core::egress::{EgressEvent, Observation};
use warden_core::{Sensitive, TenantId};
use warden_egress::{
    ActiveConnections, Allowlist, AttributionTable, Attributor, Collector, DnsServer, Egress,
    EventSink, InvocationContext, Mode, ProxyServer, Resolve,
};
use warden_policy::{Authorized, CallRequest, Caller, Catalog, Refusal};
use warden_sandbox::{CellLease, CellPool, PoolConfig};
use warden_secrets::SecretProvider;

/// The fixed port every cell reaches its own Lambda Runtime API on (host side of its veth).
pub const RUNTIME_PORT: u16 = 9001;

/// After a handler answers, the broker waits (at most this long) for the call's proxied
/// connections to close, so their events (emitted at close, with byte counts) belong to it.
const SETTLE_MAX: Duration = Duration::from_millis(300);

/// One call into the broker.
#[derive(Debug, Clone)]
pub struct ToolRequest {
    pub caller: Caller,
    pub tenant: TenantId,
    pub agent: AgentRef,
    pub session_id: String,
    pub invocation_id: String,
    pub input_text: String,
    pub session_attributes: BTreeMap<String, String>,
    pub prompt_session_attributes: BTreeMap<String, String>,
    pub call: CallRequest,
}

/// What a call produced.
#[derive(Debug, Clone)]
pub struct ToolResult {
    /// The policy decision (operation, overrides, determining policies).
    pub authorized: Authorized,
    /// The Lambda-format response document.
    pub response: ActionResponse,
    /// Every DNS query and connection of this call.
    pub egress: Vec<EgressEvent>,
    pub observation: Observation,
    /// Milliseconds from request to response, handler start included.
    pub elapsed_ms: u64,
    /// Whether a warm handler served the call.
    pub warm: bool,
}

/// Why a call produced no response. `code()` is stable.
#[derive(Debug, thiserror::Error)]
pub enum ToolFailure {
    #[error("{0}")]
    Refused(Refusal),
    #[error("secrets for tool `{tool}`: {reason}")]
    Secrets { tool: String, reason: String },
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error("handler of `{tool}`: {source}")]
    Handler { tool: String, source: BrokerError },
    #[error("handler of `{tool}` failed ({error_type})")]
    FunctionError {
        tool: String,
        error_type: String,
        egress: Vec<EgressEvent>,
    },
    #[error("handler of `{tool}` could not start ({error_type})")]
    InitError { tool: String, error_type: String },
    #[error("handler of `{tool}` returned an invalid response: {reason}")]
    BadResponse { tool: String, reason: String },
}

impl ToolFailure {
    pub fn code(&self) -> &'static str {
        match self {
            ToolFailure::Refused(r) => r.code(),
            ToolFailure::Secrets { .. } => "secrets_unavailable",
            ToolFailure::Sandbox(_) => "sandbox_unavailable",
            ToolFailure::Handler {
                source: BrokerError::Timeout(_),
                ..
            } => "tool_timeout",
            ToolFailure::Handler { .. } => "tool_failed",
            ToolFailure::FunctionError { .. } => "tool_error",
            ToolFailure::InitError { .. } => "tool_init_failed",
            ToolFailure::BadResponse { .. } => "tool_bad_response",
        }
    }

    /// Egress events recorded before the failure (a handler that errors may still have
    /// connected somewhere).
    pub fn egress(&self) -> &[EgressEvent] {
        match self {
            ToolFailure::FunctionError { egress, .. } => egress,
            _ => &[],
        }
    }
}

/// How handlers are isolated.
enum Isolation {
    Cells {
        pool: Arc<CellPool>,
        table: AttributionTable,
        proxy_port: u16,
    },
    Cooperative {
        hosts: warden_egress::HostMap,
        resolver: Arc<dyn Resolve>,
    },
}

/// A per-handler attributor for cooperative mode: every connection to this handler's own
/// proxy belongs to the invocation currently running in it.
#[derive(Debug, Default)]
struct Slot(RwLock<Option<Arc<InvocationContext>>>);

impl Attributor for Slot {
    fn attribute(&self, _source: IpAddr) -> Option<Arc<InvocationContext>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A started handler kept warm for one (tool, tenant).
struct Warm {
    host: FunctionHost,
    lease: Option<Arc<CellLease>>,
    slot: Option<Arc<Slot>>,
    proxy: Option<tokio::task::JoinHandle<Result<(), warden_egress::EgressError>>>,
}

impl Warm {
    async fn discard(self, pool: Option<&CellPool>) {
        self.host.shutdown().await;
        if let Some(p) = self.proxy {
            p.abort();
        }
        if let (Some(lease), Some(pool)) = (self.lease, pool) {
            release(pool, lease);
        }
    }
}

/// Returns a cell to the pool (scrubbed); the launcher's reference is gone once the handler
/// has started, so the lease is normally unique here.
fn release(pool: &CellPool, lease: Arc<CellLease>) {
    match Arc::try_unwrap(lease) {
        Ok(lease) => {
            if let Err(e) = pool.release(lease) {
                tracing::warn!(error = %e, "cell scrub failed; the cell was replaced");
            }
        }
        Err(_) => tracing::error!("a cell lease is still shared at release; it is dropped"),
    }
}

/// Broker settings.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    pub sandbox_mode: SandboxMode,
    pub pool_size: u32,
    pub egress_mode: EnforceMode,
    pub hosts: BTreeMap<String, SocketAddr>,
    /// Warm handlers kept per (tool, tenant).
    pub warm_per_key: usize,
    /// Cell name prefix (tests use their own so they can run side by side).
    pub cell_prefix: String,
    /// The unprivileged user handlers run as in cells.
    pub sandbox_user: String,
    /// Cell address space (default 10.201.0.0/16).
    pub cell_subnet: Option<ipnet::Ipv4Net>,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            sandbox_mode: SandboxMode::Isolated,
            pool_size: 4,
            egress_mode: EnforceMode::Enforce,
            hosts: BTreeMap::new(),
            warm_per_key: 2,
            cell_prefix: "wdn".into(),
            cell_subnet: None,
            sandbox_user: "nobody".into(),
        }
    }
}

/// The tool broker.
pub struct Broker {
    catalog: Arc<Catalog>,
    secrets: Arc<dyn SecretProvider>,
    tools: BTreeMap<String, ToolConfig>,
    isolation: Isolation,
    collector: Collector,
    active: Arc<ActiveConnections>,
    sink: Arc<dyn EventSink>,
    dlp: Arc<EgressDlp>,
    mode: Mode,
    warm: Mutex<HashMap<(String, String), Vec<Warm>>>,
    warm_per_key: usize,
    /// Why isolation is off (cooperative mode), for startup messages and verdicts.
    pub degraded_reason: Option<String>,
    listeners: Vec<tokio::task::JoinHandle<Result<(), warden_egress::EgressError>>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("tools", &self.tools.keys().collect::<Vec<_>>())
            .field("observation", &self.observation())
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// Starts the broker: in isolated mode creates the cell pool and binds the egress proxy
    /// and DNS server the cells are redirected to. `extra_sink` also receives every event
    /// (metrics, audit).
    pub async fn start(
        catalog: Arc<Catalog>,
        secrets: Arc<dyn SecretProvider>,
        tools: BTreeMap<String, ToolConfig>,
        options: BrokerOptions,
        resolver: Arc<dyn Resolve>,
        extra_sink: Option<Arc<dyn EventSink>>,
    ) -> Result<Broker, String> {
        let collector = Collector::new(10_000);
        let active = Arc::new(ActiveConnections::default());
        let sink: Arc<dyn EventSink> = match extra_sink {
            Some(extra) => Arc::new(warden_egress::event::FanoutSink(vec![
                Arc::new(collector.clone()),
                extra,
            ])),
            None => Arc::new(collector.clone()),
        };
        let dlp = Arc::new(EgressDlp::new().map_err(|e| format!("egress DLP: {e}"))?);
        let mut hosts = warden_egress::HostMap::new();
        for (name, addr) in &options.hosts {
            hosts
                .insert(name, *addr)
                .map_err(|e| format!("sandbox.hosts.{name}: {e}"))?;
        }
        let mode = match options.egress_mode {
            EnforceMode::Enforce => Mode::Enforce,
            EnforceMode::Report => Mode::Report,
        };
        let mut listeners = Vec::new();
        let (isolation, degraded_reason) = match options.sandbox_mode {
            SandboxMode::Cooperative => (
                Isolation::Cooperative {
                    hosts: hosts.clone(),
                    resolver: resolver.clone(),
                },
                Some("configured: sandbox.mode = \"cooperative\"".to_string()),
            ),
            SandboxMode::Isolated => {
                let caps = warden_sandbox::probe(&options.sandbox_user)
                    .map_err(|e| format!("sandbox cells are not available: {e}"))?;
                for tool in tools.values() {
                    check_handler(&caps.user, tool)?;
                }
                let table = AttributionTable::new();
                let egress = Egress::builder(Arc::new(table.clone()), sink.clone())
                    .active(active.clone())
                    .hosts(hosts.clone())
                    .resolver(resolver.clone())
                    .scanner(dlp.clone())
                    .build();
                let any = SocketAddr::from(([0, 0, 0, 0], 0));
                let proxy = ProxyServer::bind(&egress, any)
                    .await
                    .map_err(|e| format!("egress proxy: {e}"))?;
                let proxy_port = proxy.local_addr().map_err(|e| e.to_string())?.port();
                let dns = DnsServer::bind(&egress, any)
                    .await
                    .map_err(|e| format!("DNS server: {e}"))?;
                let dns_port = dns.local_addr().map_err(|e| e.to_string())?.port();
                let mut cfg = PoolConfig::new(proxy_port, dns_port, RUNTIME_PORT);
                cfg.pool_size = options.pool_size as usize;
                cfg.prefix = options.cell_prefix.clone();
                if let Some(net) = options.cell_subnet {
                    cfg.subnet = net;
                }
                let pool = CellPool::create(cfg).map_err(|e| format!("sandbox cells: {e}"))?;
                listeners.push(proxy.spawn());
                listeners.push(dns.spawn());
                (
                    Isolation::Cells {
                        pool: Arc::new(pool),
                        table,
                        proxy_port,
                    },
                    None,
                )
            }
        };
        Ok(Broker {
            catalog,
            secrets,
            tools,
            isolation,
            collector,
            active,
            sink,
            dlp,
            mode,
            warm: Mutex::new(HashMap::new()),
            warm_per_key: options.warm_per_key,
            degraded_reason,
            listeners,
        })
    }

    /// Isolated cells or the cooperative proxy environment.
    pub fn observation(&self) -> Observation {
        match self.isolation {
            Isolation::Cells { .. } => Observation::Isolated,
            Isolation::Cooperative { .. } => Observation::Cooperative,
        }
    }

    /// The policy catalogue.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// A configured tool.
    pub fn tool(&self, name: &str) -> Option<&ToolConfig> {
        self.tools.get(name)
    }

    /// Runs one call.
    pub async fn invoke(&self, req: &ToolRequest) -> Result<ToolResult, ToolFailure> {
        let started = Instant::now();
        let authorized = self
            .catalog
            .check(&req.caller, &req.call)
            .map_err(ToolFailure::Refused)?;
        let tool_name = authorized.tool.clone();
        let Some(tool) = self.tools.get(&tool_name) else {
            return Err(ToolFailure::Sandbox(format!(
                "tool `{tool_name}` has no handler configuration"
            )));
        };
        let secrets = self
            .secrets
            .fetch_all(&req.tenant, &tool.secrets)
            .await
            .map_err(|e| ToolFailure::Secrets {
                tool: tool_name.clone(),
                reason: e.to_string(),
            })?;
        let call = action_call(&authorized);
        let mut attrs = req.session_attributes.clone();
        attrs.insert("tenantId".into(), req.tenant.to_string());
        let event = lambda::event(
            &req.agent,
            &req.input_text,
            &req.session_id,
            &call,
            &attrs,
            &req.prompt_session_attributes,
        );
        let allowlist = Allowlist::parse(tool.egress.iter().map(|r| match r.port {
            Some(p) => format!("{}:{p}", r.host),
            None => r.host.clone(),
        }))
        .map_err(|e| ToolFailure::Sandbox(format!("tools.{tool_name}.egress: {e}")))?;
        let ctx = InvocationContext {
            invocation_id: req.invocation_id.clone(),
            tool: tool_name.clone(),
            tenant: req.tenant.to_string(),
            allowlist,
            mode: self.mode,
            observation: self.observation(),
        };
        let key = (tool_name.clone(), req.tenant.to_string());
        let reused = self.warm.lock().await.get_mut(&key).and_then(Vec::pop);
        let warm = reused.is_some();
        let handler = match reused {
            Some(h) => h,
            None => self.start_handler(tool, &req.tenant, &secrets).await?,
        };
        // Bind this call's identity to the handler's traffic.
        let source = match (&self.isolation, &handler.lease) {
            (Isolation::Cells { table, .. }, Some(lease)) => {
                let ip = IpAddr::V4(lease.cell_addr());
                table.register(ip, ctx.clone());
                Some(ip)
            }
            _ => {
                if let Some(slot) = &handler.slot {
                    *slot.0.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(ctx));
                }
                None
            }
        };
        // Personal data the user typed or the trusted session carries may go where the call
        // sends it; data the model took from anywhere else (tool output included) is reported.
        let mut expected: Vec<String> = vec![req.input_text.clone()];
        expected.extend(req.session_attributes.values().cloned());
        self.dlp.track(
            &req.invocation_id,
            secrets.iter().map(|(_, v)| v.clone()).collect(),
            expected,
        );
        let timeout = Duration::from_millis(tool.timeout_ms);
        let outcome = handler.host.invoke(&event, timeout).await;
        self.settle(&req.invocation_id).await;
        match (&self.isolation, source) {
            (Isolation::Cells { table, .. }, Some(ip)) => {
                table.unregister(ip);
            }
            _ => {
                if let Some(slot) = &handler.slot {
                    *slot.0.write().unwrap_or_else(|p| p.into_inner()) = None;
                }
            }
        }
        self.dlp.forget(&req.invocation_id);
        let egress = self.collector.take(&req.invocation_id);
        let pool = match &self.isolation {
            Isolation::Cells { pool, .. } => Some(pool.as_ref()),
            Isolation::Cooperative { .. } => None,
        };
        let result = match outcome {
            Ok(Outcome::Response(bytes)) => match lambda::parse_response(&bytes, &call) {
                Ok(response) => Ok(response),
                Err(e) => Err(ToolFailure::BadResponse {
                    tool: tool_name.clone(),
                    reason: e.to_string(),
                }),
            },
            Ok(Outcome::FunctionError { error_type, .. }) => Err(ToolFailure::FunctionError {
                tool: tool_name.clone(),
                error_type,
                egress: egress.clone(),
            }),
            Ok(Outcome::InitError { error_type, .. }) => Err(ToolFailure::InitError {
                tool: tool_name.clone(),
                error_type,
            }),
            Err(e) => Err(ToolFailure::Handler {
                tool: tool_name.clone(),
                source: e,
            }),
        };
        // A handler is kept warm only after a clean answer, and only when nothing it started
        // outlives the call; otherwise it and its cell are scrubbed.
        let reusable = result.is_ok() && handler.lease.as_ref().is_none_or(|l| l.pids().len() <= 1);
        if reusable {
            let mut warm_map = self.warm.lock().await;
            let list = warm_map.entry(key).or_default();
            if list.len() < self.warm_per_key {
                list.push(handler);
            } else {
                drop(warm_map);
                handler.discard(pool).await;
            }
        } else {
            handler.discard(pool).await;
        }
        let response = result?;
        Ok(ToolResult {
            authorized,
            response,
            egress,
            observation: self.observation(),
            elapsed_ms: started.elapsed().as_millis() as u64,
            warm,
        })
    }

    /// Waits until every proxied connection of the call has closed (bounded by
    /// [`SETTLE_MAX`]); a connection a handler keeps open is recorded when it closes.
    async fn settle(&self, invocation_id: &str) {
        let begin = Instant::now();
        tokio::task::yield_now().await;
        while self.active.count(invocation_id) > 0 && begin.elapsed() < SETTLE_MAX {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn start_handler(
        &self,
        tool: &ToolConfig,
        tenant: &TenantId,
        secrets: &[(String, Sensitive<String>)],
    ) -> Result<Warm, ToolFailure> {
        let mut env: Vec<(String, Sensitive<String>)> = secrets.to_vec();
        let sandbox = |e: String| ToolFailure::Sandbox(e);
        match &self.isolation {
            Isolation::Cells {
                pool, proxy_port, ..
            } => {
                // Acquire may build a cell or wait for one: off the async workers.
                let (p, t) = (pool.clone(), tenant.to_string());
                let lease = tokio::task::spawn_blocking(move || p.acquire(&t))
                    .await
                    .map_err(|e| sandbox(e.to_string()))?
                    .map_err(|e| sandbox(e.to_string()))?;
                let proxy = format!("http://{}:{proxy_port}", lease.host_addr());
                for k in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
                    env.push((k.into(), Sensitive::new(proxy.clone())));
                }
                for k in ["NO_PROXY", "no_proxy"] {
                    env.push((k.into(), Sensitive::new(lease.host_addr().to_string())));
                }
                let lease = Arc::new(lease);
                let launcher = Arc::new(CellLauncher {
                    lease: lease.clone(),
                    limits: warden_sandbox::Limits {
                        memory_mb: tool.memory_mb,
                        cpu_percent: tool.cpu_percent,
                        pids_max: tool.pids_max,
                    },
                });
                let spec = HandlerSpec {
                    function_name: tool.name.clone(),
                    command: tool.handler.clone(),
                    workdir: tool.workdir.clone(),
                    env,
                    memory_mb: tool.memory_mb,
                    launcher: Some(launcher),
                };
                let bind = SocketAddr::new(IpAddr::V4(lease.host_addr()), RUNTIME_PORT);
                match FunctionHost::start(&spec, bind).await {
                    Ok(host) => Ok(Warm {
                        host,
                        lease: Some(lease),
                        slot: None,
                        proxy: None,
                    }),
                    Err(e) => {
                        release(pool, lease);
                        Err(ToolFailure::Handler {
                            tool: tool.name.clone(),
                            source: e,
                        })
                    }
                }
            }
            Isolation::Cooperative { hosts, resolver } => {
                let slot = Arc::new(Slot::default());
                let egress = Egress::builder(slot.clone(), self.sink.clone())
                    .active(self.active.clone())
                    .hosts(hosts.clone())
                    .resolver(resolver.clone())
                    .scanner(self.dlp.clone())
                    .build();
                let proxy = ProxyServer::bind(&egress, SocketAddr::from(([127, 0, 0, 1], 0)))
                    .await
                    .map_err(|e| sandbox(format!("cooperative proxy: {e}")))?;
                let addr = proxy.local_addr().map_err(|e| sandbox(e.to_string()))?;
                let proxy_task = proxy.spawn();
                let url = format!("http://{addr}");
                for k in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
                    env.push((k.into(), Sensitive::new(url.clone())));
                }
                for k in ["NO_PROXY", "no_proxy"] {
                    env.push((k.into(), Sensitive::new("127.0.0.1,localhost".into())));
                }
                let spec = HandlerSpec {
                    function_name: tool.name.clone(),
                    command: tool.handler.clone(),
                    workdir: tool.workdir.clone(),
                    env,
                    memory_mb: tool.memory_mb,
                    launcher: None,
                };
                match FunctionHost::start(&spec, SocketAddr::from(([127, 0, 0, 1], 0))).await {
                    Ok(host) => Ok(Warm {
                        host,
                        lease: None,
                        slot: Some(slot),
                        proxy: Some(proxy_task),
                    }),
                    Err(e) => {
                        proxy_task.abort();
                        Err(ToolFailure::Handler {
                            tool: tool.name.clone(),
                            source: e,
                        })
                    }
                }
            }
        }
    }

    /// Stops every warm handler, releases every cell and stops the listeners.
    pub async fn shutdown(&self) {
        let all: Vec<Warm> = self
            .warm
            .lock()
            .await
            .drain()
            .flat_map(|(_, v)| v)
            .collect();
        let pool = match &self.isolation {
            Isolation::Cells { pool, .. } => Some(pool.as_ref()),
            Isolation::Cooperative { .. } => None,
        };
        for w in all {
            w.discard(pool).await;
        }
        for l in &self.listeners {
            l.abort();
        }
        if let Isolation::Cells { pool, .. } = &self.isolation {
            pool.shutdown();
        }
    }
}

/// Puts a handler into its cell.
#[derive(Debug)]
struct CellLauncher {
    lease: Arc<CellLease>,
    limits: warden_sandbox::Limits,
}

impl Launcher for CellLauncher {
    fn prepare(&self, cmd: &mut std::process::Command) -> std::io::Result<()> {
        self.lease
            .configure(cmd, &self.limits)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// The Lambda-event view of an authorized call: declared parameter types, values as strings.
fn action_call(a: &Authorized) -> ActionCall {
    let triples = |v: &Value| -> Vec<(String, String, String)> {
        v.as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|p| {
                        let f = |k: &str| p[k].as_str().unwrap_or_default().to_string();
                        (f("name"), f("type"), f("value"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    ActionCall {
        action_group: a.tool.clone(),
        api_path: a.api_path.clone(),
        http_method: a.http_method.clone(),
        function: a.function.clone(),
        parameters: triples(&a.lambda_parameters()),
        body: a
            .lambda_request_body()
            .map(|b| triples(&b["content"]["application/json"]["properties"])),
    }
}

/// Checks that the sandbox user can run a tool's handler: its program (resolved on `PATH`)
/// and its working directory must be reachable by that user.
fn check_handler(user: &warden_sandbox::SandboxUser, tool: &ToolConfig) -> Result<(), String> {
    let Some(program) = tool.handler.first() else {
        return Err(format!("tools.{}.handler is empty", tool.name));
    };
    let path = resolve_program(program).ok_or_else(|| {
        format!(
            "tools.{}.handler: `{program}` is not found on PATH",
            tool.name
        )
    })?;
    let what = format!("tools.{}.handler", tool.name);
    warden_sandbox::check_executable_for(user, &what, &path).map_err(|e| e.to_string())?;
    check_dir_for(user, &format!("tools.{}.workdir", tool.name), &tool.workdir)
}

/// Every directory from `/` down to `dir` must be searchable by `user`, and `dir` readable.
fn check_dir_for(
    user: &warden_sandbox::SandboxUser,
    what: &str,
    dir: &std::path::Path,
) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let real = std::fs::canonicalize(dir).map_err(|e| format!("{what} {}: {e}", dir.display()))?;
    let allowed = |m: &std::fs::Metadata, bits: u32| {
        let mode = m.mode();
        if m.uid() == user.uid {
            mode & (bits << 6) == bits << 6
        } else if m.gid() == user.gid {
            mode & (bits << 3) == bits << 3
        } else {
            mode & bits == bits
        }
    };
    let ancestors: Vec<&std::path::Path> = real.ancestors().collect();
    for (i, d) in ancestors.iter().rev().enumerate() {
        let m = std::fs::metadata(d).map_err(|e| format!("{what} {}: {e}", d.display()))?;
        let last = i + 1 == ancestors.len();
        let bits = if last { 0o5 } else { 0o1 };
        if !allowed(&m, bits) {
            return Err(format!(
                "{what} {} is not reachable by user {}: {} is mode {:o}, owned by uid {} (chmod o+{} {} or move the tool elsewhere)",
                real.display(),
                user.name,
                d.display(),
                m.mode() & 0o7777,
                m.uid(),
                if last { "rx" } else { "x" },
                d.display()
            ));
        }
    }
    Ok(())
}

/// `program` as the handler's spawn will find it: a path as is, a bare name on `PATH`.
fn resolve_program(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        return Some(std::path::PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
