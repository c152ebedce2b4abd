//! Verdict fusion: rule findings and the optional LLM judge become one `Verdict`.
//!
//! The fusion, in order:
//!
//! 1. **Rules decide first.** Any `block` finding makes the decision `block`; otherwise any
//!    `warn` finding makes it `warn`; otherwise `allow`.
//! 2. **Confidence of a rule decision.** Only findings at the decided level count. Findings of
//!    the same rule are correlated, so each rule contributes its strongest finding; distinct
//!    rules are treated as independent signals and combined as `1 − ∏(1 − cᵢ)`, capped at 0.99.
//!    One finding therefore yields exactly its own confidence.
//! 3. **No findings → allow**, with a confidence that reflects how complete the egress evidence
//!    is: isolated cells 0.95, external evidence (caller-supplied trace and flow logs) 0.8,
//!    cooperative mode 0.7 (a handler could bypass the proxy). The observation mode is always
//!    listed in `checks` (`observation:cooperative`, …).
//! 4. **The judge may raise, never lower.** A judge opinion with confidence ≥ 0.8 raises the
//!    decision by at most one level: `allow → warn` (when it says warn or block) or
//!    `warn → block` (when it says block). The raised decision takes the judge's confidence
//!    combined with the rule confidence (same formula). A judge can never downgrade a rule
//!    `block` (or `warn`); an opinion below 0.8 changes nothing. Its reason is recorded under
//!    rule `judge` only when it raised the decision.
//! 5. **Judge failure** is recorded as reason `judge.unavailable` and then handled per
//!    configuration: `rules-decide` keeps the rule decision; `warn` raises `allow` to `warn`;
//!    `block` fails closed (decision `block`, confidence 0.5 when the rules alone said less).
//! 6. **Mode.** In report mode the decision is computed identically; only `mode` says `report`
//!    (the caller does not enforce it).
//!
//! Reasons list the findings strongest first (block before warn, then confidence), so
//! `reasons[0]` is the one a human should read first.

use std::collections::BTreeMap;

use warden_core::{Decision, JudgeOpinion, Reason, Verdict, VerdictMode};

use crate::evidence::ObservationMode;
use crate::rules::{Finding, Severity};

/// What the judge stage produced.
#[derive(Debug, Clone, PartialEq)]
pub enum JudgeOutcome {
    /// No judge configured.
    NotConfigured,
    /// The judge answered (already validated by [`crate::parse_judge_answer`]).
    Opinion(JudgeOpinion),
    /// The judge failed (timeout, transport error, unparseable answer).
    Failed {
        reason: String,
        on_failure: OnFailure,
    },
}

/// What to do when the judge fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    RulesDecide,
    Warn,
    Block,
}

impl From<warden_config::JudgeFailure> for OnFailure {
    fn from(f: warden_config::JudgeFailure) -> Self {
        match f {
            warden_config::JudgeFailure::RulesDecide => OnFailure::RulesDecide,
            warden_config::JudgeFailure::Warn => OnFailure::Warn,
            warden_config::JudgeFailure::Block => OnFailure::Block,
        }
    }
}

/// Ids, times and mode the caller supplies (the detector reads no clock).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VerdictContext {
    pub mode: VerdictMode,
    pub observation: ObservationMode,
    pub tenant_id: String,
    pub agent_id: String,
    pub session_id: String,
    pub invocation_id: String,
    pub started_at: String,
    pub decided_at: String,
    /// Checks that ran before the detector (e.g. `frontdoor`, `guard:input`), kept first.
    pub checks: Vec<String>,
}

/// The minimum judge confidence that may raise a decision.
pub const JUDGE_MIN_CONFIDENCE: f64 = 0.8;
const CAP: f64 = 0.99;

/// `1 − ∏(1 − cᵢ)` over the strongest finding of each rule, capped at 0.99.
pub fn combine<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> f64 {
    let mut best: BTreeMap<&str, f64> = BTreeMap::new();
    for f in findings {
        let c = f.confidence.clamp(0.0, 1.0);
        let e = best.entry(f.rule.as_str()).or_insert(0.0);
        if c > *e {
            *e = c;
        }
    }
    noisy_or(best.values().copied())
}

fn noisy_or(cs: impl IntoIterator<Item = f64>) -> f64 {
    let miss: f64 = cs.into_iter().map(|c| 1.0 - c.clamp(0.0, 1.0)).product();
    round((1.0 - miss).min(CAP))
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Fuse findings and the judge outcome into a verdict.
pub fn fuse(findings: &[Finding], judge: JudgeOutcome, cx: &VerdictContext) -> Verdict {
    let mut sorted: Vec<Finding> = findings.to_vec();
    crate::detector::sort(&mut sorted);
    let blocks: Vec<&Finding> = sorted
        .iter()
        .filter(|f| f.decision == Severity::Block)
        .collect();
    let warns: Vec<&Finding> = sorted
        .iter()
        .filter(|f| f.decision == Severity::Warn)
        .collect();
    let (mut decision, mut confidence) = if !blocks.is_empty() {
        (Decision::Block, combine(blocks.iter().copied()))
    } else if !warns.is_empty() {
        (Decision::Warn, combine(warns.iter().copied()))
    } else {
        (
            Decision::Allow,
            match cx.observation {
                ObservationMode::Isolated => 0.95,
                ObservationMode::External => 0.8,
                ObservationMode::Cooperative => 0.7,
            },
        )
    };
    let mut reasons: Vec<Reason> = sorted
        .iter()
        .map(|f| Reason {
            rule: f.rule.clone(),
            message: f.message.clone(),
            evidence: f.evidence.clone(),
        })
        .collect();
    let mut checks = cx.checks.clone();
    checks.push("detector".into());
    checks.push(format!("observation:{}", cx.observation.as_str()));
    match judge {
        JudgeOutcome::NotConfigured => {}
        JudgeOutcome::Opinion(op) => {
            checks.push("judge".into());
            let raised = match (decision, op.decision) {
                (Decision::Allow, Decision::Warn | Decision::Block) => Some(Decision::Warn),
                (Decision::Warn, Decision::Block) => Some(Decision::Block),
                _ => None,
            };
            if let Some(to) = raised.filter(|_| op.confidence >= JUDGE_MIN_CONFIDENCE) {
                confidence = if decision == Decision::Allow {
                    round(op.confidence.min(CAP))
                } else {
                    noisy_or([confidence, op.confidence])
                };
                decision = to;
                reasons.push(Reason {
                    rule: "judge".into(),
                    message: format!("LLM judge: {}", op.reason.trim()),
                    evidence: Vec::new(),
                });
            }
        }
        JudgeOutcome::Failed { reason, on_failure } => {
            checks.push("judge:failed".into());
            let policy = match on_failure {
                OnFailure::RulesDecide => "the rules decided alone",
                OnFailure::Warn => "configured to warn",
                OnFailure::Block => "configured to fail closed",
            };
            reasons.push(Reason {
                rule: "judge.unavailable".into(),
                message: format!("The LLM judge was unavailable ({reason}); {policy}."),
                evidence: Vec::new(),
            });
            match on_failure {
                OnFailure::RulesDecide => {}
                OnFailure::Warn => {
                    if decision == Decision::Allow {
                        decision = Decision::Warn;
                        confidence = 0.5;
                    }
                }
                OnFailure::Block => {
                    if decision != Decision::Block {
                        decision = Decision::Block;
                        confidence = 0.5;
                    }
                }
            }
        }
    }
    Verdict {
        decision,
        confidence,
        reasons,
        mode: cx.mode,
        checks,
        tenant_id: cx.tenant_id.clone(),
        agent_id: cx.agent_id.clone(),
        session_id: cx.session_id.clone(),
        invocation_id: cx.invocation_id.clone(),
        started_at: cx.started_at.clone(),
        decided_at: cx.decided_at.clone(),
    }
}
