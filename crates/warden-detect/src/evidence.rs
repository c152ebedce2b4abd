//! What the rules read: tool manifests, the normalised trace, egress events and the trusted
//! context of the invocation (user input, session attributes, tenant, observation mode).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};
use warden_config::EgressRule;
use warden_core::egress::EgressEvent;

use crate::trace::{Invocation, Step};

/// Whether an operation changes state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Read,
    Write,
}

/// One operation of a tool: a function name, an `apiPath`, or `VERB /path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub name: String,
    pub effect: Effect,
    /// OpenAPI operations: the path template and verb a trace reports for this operation, so
    /// messages can name it by its operation id (`lookup_order`) instead of `GET /orders/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
}

/// A tool manifest as the detector needs it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ToolInfo {
    /// Tool (action-group) name.
    pub name: String,
    /// Declared egress, e.g. `api.internal:443`, `*.example.com`.
    #[serde(deserialize_with = "de_hosts", default)]
    pub hosts: Vec<EgressRule>,
    #[serde(default)]
    pub operations: Vec<Operation>,
    /// Tool-level effects (`effects = "read"|"write"` in config); overrides per-operation ones.
    #[serde(default)]
    pub effects: Option<Effect>,
}

/// Parse `host[:port]` (host may be `*.suffix`) into an [`EgressRule`].
pub fn parse_host_rule(s: &str) -> Result<EgressRule, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty host".into());
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => {
            let port: u16 = p
                .parse()
                .map_err(|_| format!("`{p}` is not a port in `{s}`"))?;
            if port == 0 {
                return Err(format!("port 0 in `{s}`"));
            }
            (h, Some(port))
        }
        _ => (s, None),
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(format!("`{host}` is not a host name"));
    }
    Ok(EgressRule {
        host: host.trim_end_matches('.').to_ascii_lowercase(),
        port,
    })
}

fn de_hosts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EgressRule>, D::Error> {
    let v: Vec<String> = Vec::deserialize(d)?;
    v.iter()
        .map(|s| parse_host_rule(s).map_err(serde::de::Error::custom))
        .collect()
}

impl ToolInfo {
    /// A manifest from the runtime config plus the operations read from its schema.
    pub fn from_config(tool: &warden_config::ToolConfig, operations: Vec<Operation>) -> Self {
        ToolInfo {
            name: tool.name.clone(),
            hosts: tool.egress.clone(),
            operations,
            effects: tool.effects.map(|e| match e {
                warden_config::Effects::Read => Effect::Read,
                warden_config::Effects::Write => Effect::Write,
            }),
        }
    }

    /// Whether `host` (on `port`, when known) is declared.
    pub fn declares(&self, host: &str, port: Option<u16>) -> bool {
        self.hosts.iter().any(|r| match port {
            Some(p) => r.matches(host, p),
            None => r.matches(host, r.port.unwrap_or(0)),
        })
    }

    /// Declared host names (without ports), for messages.
    pub fn host_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.hosts.iter().map(|r| r.host.clone()).collect();
        v.dedup();
        v
    }

    /// The declared operation `inv` calls, if the manifest lists it.
    pub fn operation_of(&self, inv: &Invocation) -> Option<&Operation> {
        let op = inv.operation();
        self.operations.iter().find(|o| {
            o.name == op
                || inv.function.as_deref() == Some(o.name.as_str())
                || inv.api_path.as_deref() == Some(o.name.as_str())
                || (o.api_path.is_some()
                    && o.api_path == inv.api_path
                    && o.verb.as_deref().map(str::to_ascii_uppercase)
                        == inv.verb.as_deref().map(str::to_ascii_uppercase))
        })
    }

    /// How messages name `inv`: the manifest's operation name when known, else what the
    /// trace reported (`GET /orders/{orderId}` or the function).
    pub fn label_of(&self, inv: &Invocation) -> String {
        self.operation_of(inv)
            .map(|o| o.name.clone())
            .unwrap_or_else(|| inv.operation())
    }

    /// The effect of `inv`: the tool-level effect, else the operation's, else derived (GET/HEAD
    /// read; functions and other verbs write, as in the config defaults).
    pub fn effect_of(&self, inv: &Invocation) -> Effect {
        if let Some(e) = self.effects {
            return e;
        }
        let found = self.operation_of(inv);
        if let Some(o) = found {
            return o.effect;
        }
        match inv.verb.as_deref().map(str::to_ascii_uppercase).as_deref() {
            Some("GET") | Some("HEAD") => Effect::Read,
            _ => Effect::Write,
        }
    }
}

/// How the egress evidence was gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObservationMode {
    /// Warden's sandbox cells: the kernel forces every packet through the proxy.
    #[default]
    Isolated,
    /// Proxy via environment only: a handler could bypass it.
    Cooperative,
    /// Supplied by the caller (e.g. Bedrock trace + VPC Flow Logs via `/v1/inspect`).
    External,
}

impl ObservationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ObservationMode::Isolated => "isolated",
            ObservationMode::Cooperative => "cooperative",
            ObservationMode::External => "external",
        }
    }
}

/// Trusted context of one invocation (never from the model).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Context {
    /// The user's input text.
    pub user_input: String,
    /// Trusted session attributes.
    pub session_attributes: BTreeMap<String, String>,
    /// Tenant of the authenticated principal.
    pub tenant: String,
    pub observation: ObservationMode,
    /// Tools whose egress was captured for this invocation (e.g. run in Warden's sandbox).
    /// A reported call of such a tool that shows no egress and no output is a phantom.
    pub observed_tools: BTreeSet<String>,
}

/// Everything the one-shot evaluation reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evidence {
    pub steps: Vec<Step>,
    pub egress: Vec<EgressEvent>,
    pub tools: Vec<ToolInfo>,
    pub context: Context,
}
