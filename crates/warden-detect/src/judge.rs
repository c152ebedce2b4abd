//! The judge's side of the contract: the compact evidence summary it is shown (tool, operation
//! and host names only — never prompt text, argument values or payloads) and the strict parser
//! for its answer.

use serde::Serialize;
use serde_json::Value;
use warden_core::egress::EgressEvent;
use warden_core::{Decision, JudgeOpinion};

use crate::evidence::{ObservationMode, ToolInfo};
use crate::rules::Finding;
use crate::trace::{Step, StepKind};

/// One tool as the judge sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSummary {
    pub tool: String,
    pub operations: Vec<String>,
    pub declared_hosts: Vec<String>,
}

/// One step: its kind and, for calls, the tool, operation and parameter names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepSummary {
    pub index: usize,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Parameter and body-property names (never values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub argument_names: Vec<String>,
    /// For observations: which step they answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answers: Option<usize>,
    /// Length of the text the step carries (rationale, output, answer), not the text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_chars: Option<usize>,
}

/// One egress event: destination, port and what the proxy did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EgressSummary {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// DLP rule ids (never the matched bytes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dlp: Vec<String>,
}

/// A rule finding without its message (messages may quote tool output).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingSummary {
    pub rule: String,
    pub decision: &'static str,
    pub confidence: f64,
    pub evidence: Vec<String>,
}

/// The compact evidence summary sent to the judge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeSummary {
    pub observation: &'static str,
    pub tools: Vec<ToolSummary>,
    pub steps: Vec<StepSummary>,
    pub egress: Vec<EgressSummary>,
    pub findings: Vec<FindingSummary>,
}

impl JudgeSummary {
    /// Build the summary.
    pub fn new(
        tools: &[ToolInfo],
        steps: &[Step],
        egress: &[EgressEvent],
        findings: &[Finding],
        observation: ObservationMode,
    ) -> Self {
        let tools = tools
            .iter()
            .map(|t| ToolSummary {
                tool: t.name.clone(),
                operations: t.operations.iter().map(|o| o.name.clone()).collect(),
                declared_hosts: t
                    .hosts
                    .iter()
                    .map(|r| match r.port {
                        Some(p) => format!("{}:{p}", r.host),
                        None => r.host.clone(),
                    })
                    .collect(),
            })
            .collect();
        let steps = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| !matches!(s.kind, StepKind::ModelInvocation { .. }))
            .map(|(index, s)| {
                let mut out = StepSummary {
                    index,
                    kind: s.kind.name(),
                    tool: None,
                    operation: None,
                    argument_names: Vec::new(),
                    answers: None,
                    text_chars: None,
                };
                match &s.kind {
                    StepKind::Invocation(inv) => {
                        out.tool = Some(inv.action_group.clone());
                        out.operation = Some(inv.operation());
                        out.argument_names = inv.arguments().map(|(k, _)| k.to_string()).collect();
                    }
                    StepKind::Observation { of, output, .. } => {
                        out.answers = *of;
                        out.text_chars = Some(output.chars().count());
                    }
                    StepKind::Rationale { text } | StepKind::FinalResponse { text } => {
                        out.text_chars = Some(text.chars().count());
                    }
                    StepKind::Guardrail { action, .. } => out.operation = Some(action.clone()),
                    _ => {}
                }
                out
            })
            .collect();
        let egress = egress
            .iter()
            .enumerate()
            .map(|(index, e)| EgressSummary {
                index,
                tool: e.tool.clone(),
                kind: match e.kind {
                    warden_core::egress::EventKind::Dns => "dns",
                    warden_core::egress::EventKind::Tcp => "tcp",
                    warden_core::egress::EventKind::Http => "http",
                },
                name: e
                    .name
                    .clone()
                    .or_else(|| e.sni.clone())
                    .or_else(|| e.http_host.clone())
                    .or_else(|| e.address.clone()),
                port: e.port,
                decision: match e.decision {
                    warden_core::egress::Decision::Allow => "allow",
                    warden_core::egress::Decision::Deny => "deny",
                    warden_core::egress::Decision::Report => "report",
                },
                reason: e.reason.map(|r| r.code()),
                dlp: e.findings.iter().map(|f| f.rule_id.clone()).collect(),
            })
            .collect();
        let findings = findings
            .iter()
            .map(|f| FindingSummary {
                rule: f.rule.clone(),
                decision: f.decision.as_str(),
                confidence: f.confidence,
                evidence: f.evidence.clone(),
            })
            .collect();
        JudgeSummary {
            observation: observation.as_str(),
            tools,
            steps,
            egress,
            findings,
        }
    }

    /// Compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// Why a judge answer was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JudgeParseError {
    #[error("judge answer is not JSON (line {line}, column {column}): {message}")]
    NotJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("judge answer must be a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("judge answer has unknown key `{0}` (allowed: decision, confidence, reason)")]
    UnknownKey(String),
    #[error("judge answer is missing key `{0}`")]
    MissingKey(&'static str),
    #[error("judge answer: decision must be \"allow\", \"warn\" or \"block\", found {0}")]
    BadDecision(String),
    #[error("judge answer: confidence must be a number in 0..=1, found {0}")]
    BadConfidence(String),
    #[error("judge answer: reason must be a non-empty string")]
    EmptyReason,
    #[error("judge answer: reason is {0} characters, more than 500")]
    ReasonTooLong(usize),
}

/// Strip one surrounding Markdown code fence (```json … ``` or ``` … ```).
fn unfence(s: &str) -> &str {
    let t = s.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let Some(body) = rest.strip_suffix("```") else {
        return t;
    };
    let body = body
        .strip_prefix("json")
        .or_else(|| body.strip_prefix("JSON"))
        .unwrap_or(body);
    body.trim()
}

/// Parse the judge's answer strictly: exactly the keys `decision` (allow|warn|block),
/// `confidence` (a number in 0..=1) and `reason` (non-empty, ≤ 500 characters), optionally inside
/// one ```json fence. Nothing else is accepted.
pub fn parse_judge_answer(answer: &str) -> Result<JudgeOpinion, JudgeParseError> {
    let body = unfence(answer);
    let v: Value = serde_json::from_str(body).map_err(|e| JudgeParseError::NotJson {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let Value::Object(m) = v else {
        return Err(JudgeParseError::NotAnObject(match v {
            Value::Array(_) => "an array",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            _ => "null",
        }));
    };
    if let Some(k) = m
        .keys()
        .find(|k| !matches!(k.as_str(), "decision" | "confidence" | "reason"))
    {
        return Err(JudgeParseError::UnknownKey(k.clone()));
    }
    let decision = match m
        .get("decision")
        .ok_or(JudgeParseError::MissingKey("decision"))?
    {
        Value::String(s) if s == "allow" => Decision::Allow,
        Value::String(s) if s == "warn" => Decision::Warn,
        Value::String(s) if s == "block" => Decision::Block,
        other => return Err(JudgeParseError::BadDecision(other.to_string())),
    };
    let confidence = match m
        .get("confidence")
        .ok_or(JudgeParseError::MissingKey("confidence"))?
    {
        Value::Number(n) => match n.as_f64() {
            Some(c) if c.is_finite() && (0.0..=1.0).contains(&c) => c,
            _ => return Err(JudgeParseError::BadConfidence(n.to_string())),
        },
        other => return Err(JudgeParseError::BadConfidence(other.to_string())),
    };
    let reason = match m
        .get("reason")
        .ok_or(JudgeParseError::MissingKey("reason"))?
    {
        Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => return Err(JudgeParseError::EmptyReason),
    };
    let n = reason.chars().count();
    if n > 500 {
        return Err(JudgeParseError::ReasonTooLong(n));
    }
    Ok(JudgeOpinion {
        decision,
        confidence,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_answers() {
        let ok = parse_judge_answer(
            r#"{"decision":"block","confidence":0.9,"reason":"Connected to an undeclared host."}"#,
        )
        .unwrap();
        assert_eq!(ok.decision, Decision::Block);
        let fenced = parse_judge_answer(
            "```json\n{\"decision\":\"warn\",\"confidence\":1,\"reason\":\"x\"}\n```",
        )
        .unwrap();
        assert_eq!(fenced.decision, Decision::Warn);
        assert!(matches!(
            parse_judge_answer(r#"{"decision":"block","confidence":0.9,"reason":"r","extra":1}"#),
            Err(JudgeParseError::UnknownKey(k)) if k == "extra"
        ));
        assert!(matches!(
            parse_judge_answer(r#"{"decision":"BLOCK","confidence":0.9,"reason":"r"}"#),
            Err(JudgeParseError::BadDecision(_))
        ));
        assert!(matches!(
            parse_judge_answer(r#"{"decision":"allow","confidence":1.5,"reason":"r"}"#),
            Err(JudgeParseError::BadConfidence(_))
        ));
        assert!(matches!(
            parse_judge_answer(r#"{"decision":"allow","confidence":"0.5","reason":"r"}"#),
            Err(JudgeParseError::BadConfidence(_))
        ));
        assert!(matches!(
            parse_judge_answer(r#"{"decision":"allow","confidence":0.5,"reason":"  "}"#),
            Err(JudgeParseError::EmptyReason)
        ));
        assert!(matches!(
            parse_judge_answer(r#"{"decision":"allow","confidence":0.5}"#),
            Err(JudgeParseError::MissingKey("reason"))
        ));
        let long = format!(
            r#"{{"decision":"allow","confidence":0.5,"reason":"{}"}}"#,
            "a".repeat(501)
        );
        assert!(matches!(
            parse_judge_answer(&long),
            Err(JudgeParseError::ReasonTooLong(501))
        ));
        assert!(matches!(
            parse_judge_answer("Sure! {\"decision\":\"allow\"}"),
            Err(JudgeParseError::NotJson { .. })
        ));
        assert!(matches!(
            parse_judge_answer("[1]"),
            Err(JudgeParseError::NotAnObject("an array"))
        ));
    }
}
