//! The labelled scenario suites: loading, evaluation and per-rule precision / recall.
//! Shared by `tests/scenarios.rs`, `tests/recorded.rs` and `examples/scenario_report.rs`.
//!
//! Two suites share one format: the hand-built scenarios in `tests/scenarios/`, and the
//! scenarios recorded from real runs in `tests/recorded/` (written by warden-cli's
//! `tests/scenarios_live.rs` with `WARDEN_RECORD_SCENARIOS=1`), which carry a `recorded` field.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use warden_core::egress::EgressEvent;
use warden_core::{Decision, Verdict, VerdictMode};
use warden_detect::{
    evaluate, fuse, ids, steps_from_values, Context, Evidence, Finding, JudgeOutcome,
    ObservationMode, ToolInfo, VerdictContext,
};

#[derive(Debug, Deserialize)]
pub struct Expect {
    pub decision: Decision,
    pub rules: Vec<String>,
    #[serde(default)]
    pub confidence: Option<f64>,
    #[serde(default)]
    pub message: Option<String>,
}

/// What Warden really returned for a recorded scenario that does not meet its label, and why
/// that is wrong (labels are ground truth and are never bent to match the rules).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Misfire {
    pub decision: Decision,
    pub rules: Vec<String>,
    pub note: String,
}

/// The live verdict of a recorded run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveVerdict {
    pub decision: Decision,
    /// Every reason's rule id (detector rules and others, e.g. `scope.tenant-overridden`).
    pub rules: Vec<String>,
}

/// Provenance of a scenario recorded from a live run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    /// Which test produced it.
    pub source: String,
    /// Sandbox mode of the run: `isolated` or `cooperative`.
    pub sandbox: String,
    /// `[sandbox] egress_mode` of the run: `enforce` or `report`.
    #[serde(default)]
    pub egress_mode: Option<String>,
    /// How the trace was reported (as run, or with a part removed via `/v1/inspect`).
    pub reported: String,
    pub live_verdict: LiveVerdict,
    #[serde(default)]
    pub known_misfire: Option<Misfire>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// `attack` or `benign`.
    pub category: String,
    pub tenant: String,
    pub user_input: String,
    #[serde(default)]
    pub session_attributes: BTreeMap<String, String>,
    pub observation: ObservationMode,
    #[serde(default)]
    pub observed_tools: Vec<String>,
    pub tools: Vec<ToolInfo>,
    pub trace: Vec<Value>,
    pub egress: Vec<EgressEvent>,
    pub expect: Expect,
    /// Present on scenarios recorded from a live run.
    #[serde(default)]
    pub recorded: Option<Recorded>,
}

pub struct Outcome {
    pub scenario: Scenario,
    pub findings: Vec<Finding>,
    pub verdict: Verdict,
}

impl Outcome {
    pub fn fired(&self) -> BTreeSet<String> {
        self.findings.iter().map(|f| f.rule.clone()).collect()
    }
    pub fn expected(&self) -> BTreeSet<String> {
        self.scenario.expect.rules.iter().cloned().collect()
    }
    /// Every mismatch with the label, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let e = &self.scenario.expect;
        if self.verdict.decision != e.decision {
            p.push(format!(
                "decision {:?}, expected {:?}",
                self.verdict.decision, e.decision
            ));
        }
        if self.fired() != self.expected() {
            p.push(format!(
                "rules {:?}, expected {:?}",
                self.fired(),
                self.expected()
            ));
        }
        if let Some(c) = e.confidence {
            if (self.verdict.confidence - c).abs() > 1e-9 {
                p.push(format!(
                    "confidence {}, expected {c}",
                    self.verdict.confidence
                ));
            }
        }
        if let Some(m) = &e.message {
            if self.verdict.reasons.first().map(|r| &r.message) != Some(m) {
                p.push(format!(
                    "reason {:?}, expected {m:?}",
                    self.verdict.reasons.first().map(|r| &r.message)
                ));
            }
        }
        p
    }
}

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

/// Where the scenarios recorded from live runs live.
pub fn recorded_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recorded")
}

/// The hand-built scenarios.
pub fn load_all() -> Vec<Scenario> {
    load_dir(&dir())
}

/// The scenarios recorded from live runs.
pub fn load_recorded() -> Vec<Scenario> {
    load_dir(&recorded_dir())
}

pub fn load_dir(dir: &Path) -> Vec<Scenario> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("read scenario");
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}

pub fn evidence(s: &Scenario) -> Evidence {
    let trace = steps_from_values(&s.trace).unwrap_or_else(|e| panic!("{}: {e}", s.name));
    Evidence {
        steps: trace.steps,
        egress: s.egress.clone(),
        tools: s.tools.clone(),
        context: Context {
            user_input: s.user_input.clone(),
            session_attributes: s.session_attributes.clone(),
            tenant: s.tenant.clone(),
            observation: s.observation,
            observed_tools: s.observed_tools.iter().cloned().collect(),
        },
    }
}

pub fn run(s: Scenario) -> Outcome {
    let ev = evidence(&s);
    let findings = evaluate(&ev);
    let verdict = fuse(
        &findings,
        JudgeOutcome::NotConfigured,
        &VerdictContext {
            mode: VerdictMode::Enforce,
            observation: s.observation,
            tenant_id: s.tenant.clone(),
            agent_id: "support".into(),
            session_id: "sess-7f3a9c".into(),
            invocation_id: s.name.clone(),
            started_at: "2026-11-21T10:15:01Z".into(),
            decided_at: "2026-11-21T10:15:06Z".into(),
            checks: Vec::new(),
        },
    );
    Outcome {
        scenario: s,
        findings,
        verdict,
    }
}

/// Per rule: (true positives, false positives, false negatives) over the suite.
pub fn per_rule(outcomes: &[Outcome]) -> BTreeMap<&'static str, (usize, usize, usize)> {
    let mut m = BTreeMap::new();
    for rule in ids::ALL {
        let mut c = (0, 0, 0);
        for o in outcomes {
            let fired = o.fired().contains(rule);
            let expected = o.expected().contains(rule);
            match (fired, expected) {
                (true, true) => c.0 += 1,
                (true, false) => c.1 += 1,
                (false, true) => c.2 += 1,
                _ => {}
            }
        }
        m.insert(rule, c);
    }
    m
}

fn ratio(a: usize, b: usize) -> String {
    if b == 0 {
        "n/a".into()
    } else {
        format!("{:.2}", a as f64 / b as f64)
    }
}

/// The Markdown report: per-rule precision/recall and decision accuracy.
pub fn report(outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    let attacks = outcomes
        .iter()
        .filter(|o| o.scenario.category == "attack")
        .count();
    s.push_str(&format!(
        "Scenarios: {} ({} attacks, {} benign look-alikes)\n\n",
        outcomes.len(),
        attacks,
        outcomes.len() - attacks
    ));
    s.push_str(
        "| rule | labelled | TP | FP | FN | precision | recall |\n|---|---|---|---|---|---|---|\n",
    );
    for (rule, (tp, fp, fneg)) in per_rule(outcomes) {
        s.push_str(&format!(
            "| `{rule}` | {} | {tp} | {fp} | {fneg} | {} | {} |\n",
            tp + fneg,
            ratio(tp, tp + fp),
            ratio(tp, tp + fneg)
        ));
    }
    let correct = outcomes
        .iter()
        .filter(|o| o.verdict.decision == o.scenario.expect.decision)
        .count();
    let blocked_benign = outcomes
        .iter()
        .filter(|o| o.scenario.category == "benign" && o.verdict.decision != Decision::Allow)
        .count();
    let missed = outcomes
        .iter()
        .filter(|o| o.scenario.category == "attack" && o.verdict.decision == Decision::Allow)
        .count();
    s.push_str(&format!(
        "\nDecision matches label: {correct}/{}; benign scenarios not allowed: {blocked_benign}; attacks allowed: {missed}\n",
        outcomes.len()
    ));
    s
}
