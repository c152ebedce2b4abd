//! Verdicts: the decision Warden returns for an invocation, and the only thing that leaves.

use serde::{Deserialize, Serialize};

/// The outcome of an invocation's checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Warn,
    Block,
}

impl Decision {
    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Warn => "warn",
            Decision::Block => "block",
        }
    }
}

/// Whether a block is enforced or only reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VerdictMode {
    #[default]
    Enforce,
    Report,
}

/// One reason behind a verdict: which check fired and why, with references to evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable rule id, e.g. `guard.input.pii` or `gap.undeclared-host`.
    pub rule: String,
    /// A sentence a human can act on.
    pub message: String,
    /// References to trace steps, egress events or findings (never their content).
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// The decision for one invocation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub decision: Decision,
    /// Confidence in the decision, 0.0..=1.0.
    pub confidence: f64,
    pub reasons: Vec<Reason>,
    pub mode: VerdictMode,
    /// The checks that ran for this verdict, e.g. `frontdoor`, `guard:input`, `guard:output`.
    pub checks: Vec<String>,
    pub tenant_id: String,
    pub agent_id: String,
    pub session_id: String,
    pub invocation_id: String,
    /// RFC 3339 time the invocation started.
    pub started_at: String,
    /// RFC 3339 time the decision was made.
    pub decided_at: String,
}

/// What an LLM judge concluded about an invocation, in the strict shape it must answer with.
/// The judge only ever sees a compact evidence summary; its opinion is one input to fusion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeOpinion {
    pub decision: Decision,
    /// 0.0..=1.0.
    pub confidence: f64,
    /// One or two sentences a human can act on.
    pub reason: String,
}
