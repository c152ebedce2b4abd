//! The runtime detector wired into the invoke path: a per-step check that can stop the agent
//! loop before its next tool call, and the end-of-run verdict (rules first, then the judge).

use std::collections::BTreeMap;
use warden_agent::{StepCheck, Stop, ToolCall, ToolOutput};
use warden_core::egress::EgressEvent;
use warden_detect::{
    steps_from_values, Context, DetectConfig, Detector, Finding, ObservationMode, Severity,
    ToolInfo,
};

/// Tool manifests and settings the detector needs, built once at startup.
#[derive(Debug, Clone)]
pub struct DetectorSetup {
    pub tools: Vec<ToolInfo>,
    pub config: DetectConfig,
    /// `enforce`: a block finding stops the loop; `report`: it is only recorded.
    pub enforce: bool,
}

/// The detector of one invocation, driven by the agent loop after every tool step.
#[derive(Debug)]
pub struct DetectorCheck {
    detector: Detector,
    tools: Vec<ToolInfo>,
    fed: usize,
    enforce: bool,
    /// Every finding the per-step checks produced.
    pub step_findings: Vec<Finding>,
    /// How the trace is read (e.g. proxy mode drops Bedrock's duplicates of calls Warden ran).
    view: Option<TraceView>,
}

/// A way of reading a trace before the detector parses it.
pub type TraceView = fn(&[serde_json::Value]) -> Vec<serde_json::Value>;

impl DetectorCheck {
    pub fn new(
        setup: &DetectorSetup,
        user_input: &str,
        session_attributes: &BTreeMap<String, String>,
        tenant: &str,
        observation: ObservationMode,
        unobserved: &std::collections::BTreeSet<String>,
    ) -> Self {
        // Tools handed back to the caller (return of control) run outside the sandbox: their
        // egress is not observed, so the absence of egress proves nothing about them.
        let ctx = Context {
            user_input: user_input.to_string(),
            session_attributes: session_attributes.clone(),
            tenant: tenant.to_string(),
            observation,
            observed_tools: setup
                .tools
                .iter()
                .map(|t| t.name.clone())
                .filter(|t| !unobserved.contains(t))
                .collect(),
        };
        DetectorCheck {
            detector: Detector::new(setup.config.clone(), setup.tools.clone()).with_context(ctx),
            tools: setup.tools.clone(),
            fed: 0,
            enforce: setup.enforce,
            step_findings: Vec::new(),
            view: None,
        }
    }

    /// Reads every trace through `view` first.
    pub fn with_view(mut self, view: TraceView) -> Self {
        self.view = Some(view);
        self
    }

    /// Feeds the steps of `trace` not seen yet; `egress` goes with the last of them.
    fn feed(&mut self, trace: &[serde_json::Value], egress: &[EgressEvent]) -> Vec<Finding> {
        let viewed;
        let trace = match self.view {
            Some(view) => {
                viewed = view(trace);
                &viewed[..]
            }
            None => trace,
        };
        let steps = match steps_from_values(trace) {
            Ok(t) => t.steps,
            Err(e) => {
                // Warden's own trace always parses; if it ever does not, fail closed.
                return vec![Finding {
                    rule: "detector.trace-unreadable".into(),
                    decision: Severity::Block,
                    confidence: 1.0,
                    message: format!("the invocation's own trace could not be read: {e}"),
                    evidence: vec![],
                    subject: "trace".into(),
                }];
            }
        };
        let new: Vec<_> = steps.into_iter().skip(self.fed).collect();
        self.fed += new.len();
        let mut out = Vec::new();
        let n = new.len();
        if n == 0 && !egress.is_empty() {
            out.extend(self.detector.on_egress(egress));
        }
        for (i, step) in new.into_iter().enumerate() {
            let eg: &[EgressEvent] = if i + 1 == n { egress } else { &[] };
            out.extend(self.detector.on_step(step, eg));
        }
        out
    }

    /// Feeds what an earlier request of the same invocation recorded (before it paused for
    /// return of control): its trace parts, with their egress.
    pub fn prime(&mut self, trace: &[serde_json::Value], egress: &[EgressEvent]) {
        let found = self.feed(trace, egress);
        self.step_findings.extend(found);
    }

    /// End of the run: the remaining steps, then every finding over the whole evidence, and
    /// the compact summary a judge may see (names and counts, never values or text).
    pub fn finish(mut self, trace: &[serde_json::Value]) -> (Vec<Finding>, serde_json::Value) {
        let extra = self.feed(trace, &[]);
        let steps = self.detector.steps().to_vec();
        let egress = self.detector.egress().to_vec();
        let tools = self.tools.clone();
        let observation = self.detector.context().observation;
        let mut all = self.detector.finish(&[]);
        for f in extra.into_iter().chain(self.step_findings) {
            if !all.iter().any(|a| a.key() == f.key()) {
                all.push(f);
            }
        }
        warden_detect::detector::sort(&mut all);
        let summary =
            warden_detect::JudgeSummary::new(&tools, &steps, &egress, &all, observation).to_json();
        (
            all,
            serde_json::from_str(&summary).unwrap_or(serde_json::Value::Null),
        )
    }
}

impl StepCheck for DetectorCheck {
    fn after_tool(
        &mut self,
        trace: &[serde_json::Value],
        _call: &ToolCall,
        output: &ToolOutput,
    ) -> Option<Stop> {
        let found = self.feed(trace, &output.egress);
        let blocks: Vec<&Finding> = found
            .iter()
            .filter(|f| f.decision == Severity::Block)
            .collect();
        let stop = (self.enforce && !blocks.is_empty()).then(|| Stop {
            rules: blocks.iter().map(|f| f.rule.clone()).collect(),
            message: blocks[0].message.clone(),
        });
        self.step_findings.extend(found);
        stop
    }
}
