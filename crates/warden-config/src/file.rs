//! The on-disk file model of `warden.toml` (version 1): serde structs that reject unknown keys.
//!
//! These types are private to the crate; `crate::validate` turns them into the runtime
//! [`crate::Config`]. Each section is deserialized on its own so that one bad section does
//! not hide the problems of the others.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerFile {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub shutdown_grace_ms: Option<u64>,
    pub worker_threads: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthFile {
    pub tenant_claim: Option<String>,
    pub subject_claim: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway_secs: Option<u64>,
    pub max_token_bytes: Option<usize>,
    pub jwks_refresh_secs: Option<u64>,
    #[serde(default)]
    pub keys: Vec<KeyFile>,
    #[serde(default)]
    pub aws_keys: Vec<AwsKeyFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum KeyKindFile {
    Hs256,
    Rs256,
    Es256,
    Eddsa,
    Jwks,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyFile {
    pub kind: KeyKindFile,
    pub kid: Option<String>,
    pub secret: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub public_key: Option<String>,
    pub public_key_file: Option<PathBuf>,
    pub jwks_path: Option<PathBuf>,
    pub jwks_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AwsKeyFile {
    pub access_key_id: String,
    pub tenant: String,
    pub secret: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminFile {
    pub token: Option<String>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsFile {
    pub max_body_bytes: Option<usize>,
    pub max_input_chars: Option<usize>,
    pub max_header_bytes: Option<usize>,
    pub request_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimitFile {
    pub requests_per_minute: Option<u32>,
    pub burst: Option<u32>,
    pub tokens_per_minute: Option<u64>,
    #[serde(default)]
    pub tenants: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateOverrideFile {
    pub requests_per_minute: Option<u32>,
    pub burst: Option<u32>,
    pub tokens_per_minute: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ProviderFile {
    Scripted,
    Bedrock,
    Openai,
    BedrockAgent,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelFile {
    pub provider: ProviderFile,
    pub script: Option<PathBuf>,
    pub model_id: Option<String>,
    pub region: Option<String>,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key_env: Option<String>,
    pub agent_id: Option<String>,
    pub agent_alias_id: Option<String>,
    pub guardrail_identifier: Option<String>,
    pub guardrail_version: Option<String>,
    pub timeout_ms: Option<u64>,
    pub max_tokens: Option<u32>,
    pub prompt_cache: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentFile {
    pub instructions: String,
    pub description: Option<String>,
    pub guardrail: Option<String>,
    #[serde(default)]
    pub action_groups: Vec<String>,
    pub max_steps: Option<u32>,
    pub memory_window: Option<u32>,
    pub session_idle_secs: Option<u64>,
    pub model: ModelFile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EffectsFile {
    Read,
    Write,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ExecutionFile {
    Sandbox,
    ReturnControl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TenantScopeFile {
    Reject,
    Override,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ToolFile {
    pub description: Option<String>,
    pub schema: Option<PathBuf>,
    pub functions: Option<PathBuf>,
    #[serde(default)]
    pub handler: Vec<String>,
    pub workdir: Option<PathBuf>,
    #[serde(default)]
    pub egress: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<String>,
    pub timeout_ms: Option<u64>,
    pub effects: Option<EffectsFile>,
    pub execution: Option<ExecutionFile>,
    pub tenant_scope: Option<TenantScopeFile>,
    pub memory_mb: Option<u64>,
    pub cpu_percent: Option<u32>,
    pub pids_max: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SecretsProviderFile {
    Env,
    File,
    Aws,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretsFile {
    pub provider: Option<SecretsProviderFile>,
    pub path: Option<PathBuf>,
    pub env_prefix: Option<String>,
    pub region: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SandboxModeFile {
    Isolated,
    Cooperative,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EnforceModeFile {
    Enforce,
    Report,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SandboxFile {
    pub mode: Option<SandboxModeFile>,
    pub pool_size: Option<u32>,
    pub egress_mode: Option<EnforceModeFile>,
    #[serde(default)]
    pub hosts: BTreeMap<String, String>,
    pub user: Option<String>,
    pub cell_prefix: Option<String>,
    pub cell_subnet: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DetectorFile {
    pub mode: Option<EnforceModeFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum JudgeProviderFile {
    None,
    Bedrock,
    Openai,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum JudgeFailureFile {
    RulesDecide,
    Warn,
    Block,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JudgeFile {
    pub provider: Option<JudgeProviderFile>,
    pub model_id: Option<String>,
    pub region: Option<String>,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key_env: Option<String>,
    pub timeout_ms: Option<u64>,
    pub max_tokens: Option<u32>,
    pub on_failure: Option<JudgeFailureFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DurabilityFile {
    Fsync,
    Batch,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditFile {
    pub durability: Option<DurabilityFile>,
    pub dir: Option<PathBuf>,
    pub segment_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportFile {
    pub control_plane_url: Option<String>,
    pub token_env: Option<String>,
    pub queue_max_bytes: Option<u64>,
}
