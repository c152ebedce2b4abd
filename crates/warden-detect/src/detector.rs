//! The detector: feeds steps and egress into the rules, incrementally (per step, so the agent
//! loop can stop before the next tool call) or all at once.

use std::collections::BTreeSet;

use warden_core::egress::EgressEvent;

use crate::evidence::{Context, Evidence, ToolInfo};
use crate::rules::{self, DetectConfig, Finding, State, View};
use crate::trace::{Step, StepKind};

/// Incremental detector for one invocation.
#[derive(Debug, Clone)]
pub struct Detector {
    cfg: DetectConfig,
    tools: Vec<ToolInfo>,
    ctx: Context,
    state: State,
    emitted: BTreeSet<String>,
}

impl Detector {
    /// A detector over the given tool manifests, with an empty context.
    pub fn new(config: DetectConfig, tools: Vec<ToolInfo>) -> Self {
        Detector {
            cfg: config,
            tools,
            ctx: Context::default(),
            state: State::default(),
            emitted: BTreeSet::new(),
        }
    }

    /// Set the trusted context (user input, session attributes, tenant, observation mode).
    pub fn with_context(mut self, ctx: Context) -> Self {
        self.ctx = ctx;
        self
    }

    /// The trusted context.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Steps seen so far (indices are the `trace:N` references).
    pub fn steps(&self) -> &[Step] {
        &self.state.steps
    }

    /// Egress events seen so far (indices are the `egress:N` references).
    pub fn egress(&self) -> &[EgressEvent] {
        &self.state.egress
    }

    fn new_findings(&mut self, end: bool) -> Vec<Finding> {
        let view = View::new(&self.state, &self.tools, &self.ctx, &self.cfg);
        let all = rules::run(&view, end);
        let mut out = Vec::new();
        for f in all {
            if self.emitted.insert(f.key()) {
                out.push(f);
            }
        }
        out
    }

    /// Add one step and the egress observed since the previous call; returns the findings
    /// that are new (each finding is returned once, the first time it fires).
    pub fn on_step(&mut self, step: Step, new_egress: &[EgressEvent]) -> Vec<Finding> {
        // Steps that carry nothing a rule reads cannot raise a new finding on their own.
        let inert = matches!(
            step.kind,
            StepKind::Rationale { .. }
                | StepKind::ModelInvocation { .. }
                | StepKind::Guardrail { .. }
                | StepKind::Failure { .. }
                | StepKind::Reprompt { .. }
                | StepKind::Unknown { .. }
        );
        self.state.push_step(step);
        for e in new_egress {
            self.state.push_event(e.clone(), &self.cfg, &self.tools);
        }
        if inert && new_egress.is_empty() {
            return Vec::new();
        }
        self.new_findings(false)
    }

    /// Add egress that arrived without a step.
    pub fn on_egress(&mut self, new_egress: &[EgressEvent]) -> Vec<Finding> {
        for e in new_egress {
            self.state.push_event(e.clone(), &self.cfg, &self.tools);
        }
        self.new_findings(false)
    }

    /// End of the run: add late egress, run the end-of-run rules, and return **every** finding
    /// of the run (messages recomputed over the whole evidence), strongest first.
    pub fn finish(mut self, late_egress: &[EgressEvent]) -> Vec<Finding> {
        for e in late_egress {
            self.state.push_event(e.clone(), &self.cfg, &self.tools);
        }
        let view = View::new(&self.state, &self.tools, &self.ctx, &self.cfg);
        let mut all = rules::run(&view, true);
        sort(&mut all);
        all
    }
}

/// Strongest first: block before warn, then confidence, then rule id and subject.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.decision
            .cmp(&a.decision)
            .then(b.confidence.total_cmp(&a.confidence))
            .then(a.rule.cmp(&b.rule))
            .then(a.subject.cmp(&b.subject))
    });
}

/// One-shot evaluation of complete evidence (same result as streaming every step, then
/// `finish`).
pub fn evaluate(evidence: &Evidence) -> Vec<Finding> {
    evaluate_with(&DetectConfig::default(), evidence)
}

/// [`evaluate`] with explicit tunables.
pub fn evaluate_with(cfg: &DetectConfig, evidence: &Evidence) -> Vec<Finding> {
    let mut state = State::default();
    for s in &evidence.steps {
        state.push_step(s.clone());
    }
    for e in &evidence.egress {
        state.push_event(e.clone(), cfg, &evidence.tools);
    }
    let view = View::new(&state, &evidence.tools, &evidence.context, cfg);
    let mut all = rules::run(&view, true);
    sort(&mut all);
    all
}
