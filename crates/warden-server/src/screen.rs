//! The guard as the agent loop's content screen: every input, tool output and final answer
//! of an agent with a guardrail is scanned, interventions are counted, and the trace gets
//! Bedrock-shaped `guardrailTrace` assessments (placeholders, never the matched values).

use crate::metrics::Metrics;
use std::sync::Arc;
use warden_agent::{Screen, ScreenOutcome, ScreenSource};
use warden_guard::{Assessment, FindingKind, Guardrail, ScanContext, Source};

/// One agent's guardrail.
#[derive(Debug, Clone)]
pub struct GuardScreen {
    pub guardrail: Arc<Guardrail>,
    pub metrics: Metrics,
}

/// The stable rule id of a finding, as it appears in verdicts and the audit log.
pub fn rule_id(kind: &FindingKind) -> String {
    match kind {
        FindingKind::Pii(t) => format!("guard.pii.{}", t.name()),
        FindingKind::Secret(s) => format!("guard.secret.{}", s.name()),
        FindingKind::Word(_) => "guard.word".into(),
        FindingKind::Profanity => "guard.profanity".into(),
        FindingKind::Topic(name) => format!("guard.topic.{name}"),
        FindingKind::PromptAttack => "guard.prompt-attack".into(),
        FindingKind::Leakage => "guard.instruction-leakage".into(),
        FindingKind::Canary => "guard.canary".into(),
        FindingKind::Regex(name) => format!("guard.regex.{name}"),
    }
}

/// Rule ids of the findings that acted (blocked or anonymized), deduplicated, in order.
pub fn acted_rules(a: &Assessment) -> Vec<String> {
    let mut rules: Vec<String> = Vec::new();
    for f in &a.findings {
        if f.action != warden_guard::Action::None {
            let id = rule_id(&f.kind);
            if !rules.contains(&id) {
                rules.push(id);
            }
        }
    }
    rules
}

impl Screen for GuardScreen {
    fn screen(&self, text: &str, source: ScreenSource, instructions: &str) -> ScreenOutcome {
        let (src, stage) = match source {
            ScreenSource::Input => (Source::Input, "input"),
            ScreenSource::Output => (Source::Output, "output"),
            ScreenSource::ToolOutput => (Source::ToolOutput, "tool_output"),
        };
        let assessment = self.guardrail.scan_with(
            text,
            ScanContext {
                source: src,
                instructions: Some(instructions),
            },
        );
        let rules = acted_rules(&assessment);
        if !rules.is_empty() {
            self.metrics
                .guard_interventions
                .with_label_values(&[self.guardrail.name(), stage])
                .inc();
        }
        let trace = match source {
            ScreenSource::Input => warden_guard::bedrock::guardrail_trace(
                &self.guardrail,
                "",
                Some((text, &assessment)),
                None,
            ),
            _ => warden_guard::bedrock::guardrail_trace(
                &self.guardrail,
                "",
                None,
                Some((text, &assessment)),
            ),
        };
        let assessments = match source {
            ScreenSource::Input => serde_json::to_value(&trace.input_assessments),
            _ => serde_json::to_value(&trace.output_assessments),
        }
        .unwrap_or(serde_json::Value::Null);
        ScreenOutcome {
            blocked_message: if assessment.blocked {
                assessment.output_text.clone()
            } else {
                self.guardrail.blocked_message(src).to_string()
            },
            text: assessment.output_text,
            blocked: assessment.blocked,
            rules,
            assessments,
        }
    }
}
