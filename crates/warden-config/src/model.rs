//! The validated runtime configuration: defaults applied, paths absolute, secrets resolved.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use warden_core::{AgentId, Sensitive, TenantId};
use warden_guard::{Guardrail, GuardrailSpec};

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was loaded from (absolute), or `<embedded>`.
    pub path: PathBuf,
    /// The directory relative paths were resolved against.
    pub base_dir: PathBuf,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub admin: AdminConfig,
    pub limits: LimitsConfig,
    pub ratelimit: RateLimitConfig,
    pub guardrails: BTreeMap<String, GuardrailConfig>,
    pub agents: BTreeMap<AgentId, AgentConfig>,
    pub tools: BTreeMap<String, ToolConfig>,
    pub secrets: SecretsConfig,
    pub sandbox: SandboxConfig,
    pub detector: DetectorConfig,
    pub judge: JudgeConfig,
    pub audit: AuditConfig,
    pub export: ExportConfig,
}

/// A guardrail: its file model and the compiled scanner (compiled once, at load).
#[derive(Debug, Clone)]
pub struct GuardrailConfig {
    pub spec: GuardrailSpec,
    pub compiled: Arc<Guardrail>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub data_dir: PathBuf,
    pub shutdown_grace_ms: u64,
    /// Tokio worker threads for the data plane; `None` means one per core.
    pub worker_threads: Option<usize>,
}

/// A JWT verification key as configured (material resolved, not yet parsed).
#[derive(Debug, Clone)]
pub enum KeySource {
    Hs256 {
        kid: Option<String>,
        secret: Sensitive<Vec<u8>>,
    },
    /// A PEM public key for RS256, ES256 or EdDSA.
    PublicKey {
        kid: Option<String>,
        alg: PublicKeyAlg,
        pem: Vec<u8>,
        origin: String,
    },
    JwksFile {
        path: PathBuf,
    },
    JwksUrl {
        url: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKeyAlg {
    Rs256,
    Es256,
    EdDsa,
}

/// An AWS access key accepted for SigV4, bound to one tenant.
#[derive(Debug, Clone)]
pub struct AwsKey {
    pub access_key_id: String,
    pub secret: Sensitive<String>,
    pub tenant: TenantId,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub tenant_claim: String,
    pub subject_claim: String,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Allowed clock skew for `exp` / `nbf`.
    pub leeway_secs: u64,
    pub max_token_bytes: usize,
    pub jwks_refresh_secs: u64,
    pub keys: Vec<KeySource>,
    pub aws_keys: Vec<AwsKey>,
}

impl AuthConfig {
    /// The first HS256 key, used by `warden token` to issue development tokens.
    pub fn hs256_key(&self) -> Option<(&Option<String>, &Sensitive<Vec<u8>>)> {
        self.keys.iter().find_map(|k| match k {
            KeySource::Hs256 { kid, secret } => Some((kid, secret)),
            _ => None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub token: Sensitive<String>,
}

#[derive(Debug, Clone)]
pub struct LimitsConfig {
    pub max_body_bytes: usize,
    pub max_input_chars: usize,
    pub max_header_bytes: usize,
    pub request_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests_per_minute: u32,
    pub burst: u32,
    pub tokens_per_minute: u64,
}

#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    pub default: RateLimit,
    pub tenants: BTreeMap<TenantId, RateLimit>,
}

impl RateLimitConfig {
    /// The effective limit for a tenant: its override, or the default.
    pub fn for_tenant(&self, tenant: &TenantId) -> RateLimit {
        self.tenants.get(tenant).copied().unwrap_or(self.default)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelConfig {
    /// Model turns replayed from a JSON file (tests and the demo).
    Scripted { script: PathBuf },
    /// Bedrock Converse through the AWS SDK and the default credential chain.
    Bedrock {
        model_id: String,
        region: Option<String>,
        guardrail_identifier: Option<String>,
        guardrail_version: Option<String>,
        timeout_ms: u64,
        max_tokens: u32,
        /// Mark the system prompt and tool definitions as cacheable (Converse cache points),
        /// for models that support prompt caching.
        prompt_cache: bool,
    },
    /// An OpenAI-compatible chat-completions endpoint.
    OpenAi {
        base_url: String,
        model: String,
        api_key_env: Option<String>,
        timeout_ms: u64,
        max_tokens: u32,
    },
    /// An agent hosted on Bedrock Agents, driven through InvokeAgent.
    BedrockAgent {
        agent_id: String,
        agent_alias_id: String,
        region: Option<String>,
        timeout_ms: u64,
    },
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub id: AgentId,
    pub instructions: String,
    pub description: Option<String>,
    pub guardrail: Option<String>,
    pub action_groups: Vec<String>,
    pub max_steps: u32,
    pub memory_window: u32,
    pub session_idle_secs: u64,
    pub model: ModelConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effects {
    Read,
    Write,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    Sandbox,
    ReturnControl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantScopeAction {
    Reject,
    Override,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolSchema {
    OpenApi(PathBuf),
    Functions(PathBuf),
}

/// One allowed egress destination: a host name or `*.suffix` wildcard, and an optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRule {
    pub host: String,
    pub port: Option<u16>,
}

impl EgressRule {
    /// Whether a connection to `host:port` is allowed by this rule.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host_ok = match self.host.strip_prefix("*.") {
            Some(suffix) => {
                host.len() > suffix.len() + 1
                    && host.ends_with(suffix)
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            }
            None => host == self.host,
        };
        host_ok && self.port.is_none_or(|p| p == port)
    }
}

#[derive(Debug, Clone)]
pub struct ToolConfig {
    pub name: String,
    pub description: Option<String>,
    pub schema: ToolSchema,
    pub handler: Vec<String>,
    pub workdir: PathBuf,
    pub egress: Vec<EgressRule>,
    pub secrets: Vec<String>,
    pub timeout_ms: u64,
    /// Declared effects; `None` means derived per operation (read for GET/HEAD).
    pub effects: Option<Effects>,
    pub execution: Execution,
    pub tenant_scope: TenantScopeAction,
    pub memory_mb: u64,
    pub cpu_percent: u32,
    pub pids_max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretsConfig {
    None,
    Env { prefix: String },
    File { path: PathBuf },
    Aws { region: Option<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    Isolated,
    Cooperative,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnforceMode {
    Enforce,
    Report,
}

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub mode: SandboxMode,
    pub pool_size: u32,
    pub egress_mode: EnforceMode,
    /// Name → `ip:port` overrides, e.g. to point `api.internal` at a local test server.
    pub hosts: BTreeMap<String, std::net::SocketAddr>,
    /// The unprivileged user handlers run as in cells (default `nobody`).
    pub user: String,
    /// Name prefix of cells, veths, cgroups and the nft table (default `wdn`); two Wardens on
    /// one host need different prefixes and subnets.
    pub cell_prefix: String,
    /// Address space of cells, one /30 each (default `10.201.0.0/16`).
    pub cell_subnet: String,
}

#[derive(Debug, Clone)]
pub struct DetectorConfig {
    pub mode: EnforceMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JudgeFailure {
    RulesDecide,
    Warn,
    Block,
}

#[derive(Debug, Clone)]
pub enum JudgeConfig {
    None,
    Bedrock {
        model_id: String,
        region: Option<String>,
        timeout_ms: u64,
        max_tokens: u32,
        on_failure: JudgeFailure,
    },
    OpenAi {
        base_url: String,
        model: String,
        api_key_env: Option<String>,
        timeout_ms: u64,
        max_tokens: u32,
        on_failure: JudgeFailure,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Each group commit is fsynced before any request in it is answered.
    Fsync,
    /// Records are written before the answer; fsync runs on a short timer.
    Batch,
}

#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub durability: Durability,
    pub dir: PathBuf,
    pub segment_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct ExportConfig {
    pub control_plane_url: Option<String>,
    pub token_env: Option<String>,
    pub queue_max_bytes: u64,
}
