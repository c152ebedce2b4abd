//! Builds the invocation's trace as Bedrock `TracePart` JSON objects.

use crate::provider::{ToolCall, Usage};
use serde_json::{json, Value};

/// The alias id Bedrock uses for an agent's working draft; Warden agents have no aliases.
pub const DRAFT_ALIAS: &str = "TSTALIASID";

/// A paused trace: its trace-id prefix, step counter and parts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceState {
    pub prefix: String,
    pub step: usize,
    pub parts: Vec<Value>,
}

/// Accumulates `TracePart`s for one invocation.
#[derive(Debug)]
pub struct TraceBuilder {
    enabled: bool,
    agent_id: String,
    session_id: String,
    prefix: String,
    step: usize,
    parts: Vec<Value>,
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl TraceBuilder {
    /// A builder; when `enabled` is false every method is a no-op and `finish` is empty.
    pub fn new(agent_id: &str, session_id: &str, enabled: bool) -> Self {
        TraceBuilder {
            enabled,
            agent_id: agent_id.to_string(),
            session_id: session_id.to_string(),
            prefix: if enabled {
                uuid::Uuid::new_v4().to_string()
            } else {
                String::new()
            },
            step: 0,
            parts: Vec::new(),
        }
    }

    /// Continues a trace paused for return of control: the same trace-id prefix and step
    /// counter, with the parts recorded before the pause.
    pub fn resume(agent_id: &str, session_id: &str, state: TraceState) -> Self {
        TraceBuilder {
            enabled: true,
            agent_id: agent_id.to_string(),
            session_id: session_id.to_string(),
            prefix: state.prefix,
            step: state.step,
            parts: state.parts,
        }
    }

    /// Where the trace stands, to resume it later.
    pub fn state(&self) -> TraceState {
        TraceState {
            prefix: self.prefix.clone(),
            step: self.step,
            parts: self.parts.clone(),
        }
    }

    /// How many parts were recorded so far.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Moves to the next orchestration step (new `traceId` suffix).
    pub fn next_step(&mut self) {
        self.step += 1;
    }

    fn trace_id(&self) -> String {
        format!("{}-{}", self.prefix, self.step)
    }

    fn push(&mut self, trace: Value) {
        if !self.enabled {
            return;
        }
        self.parts.push(json!({
            "agentId": self.agent_id,
            "agentAliasId": DRAFT_ALIAS,
            "agentVersion": "DRAFT",
            "sessionId": self.session_id,
            "eventTime": now_rfc3339(),
            "trace": trace,
        }));
    }

    fn orchestration(&mut self, member: &str, mut value: Value) {
        value["traceId"] = json!(self.trace_id());
        self.push(json!({"orchestrationTrace": {member: value}}));
    }

    pub fn guardrail(&mut self, stage: &str, intervened: bool, assessments: Value) {
        if !self.enabled {
            return;
        }
        let key = if stage == "pre" {
            "inputAssessments"
        } else {
            "outputAssessments"
        };
        let id = format!("{}-guardrail-{stage}-{}", self.prefix, self.step);
        self.push(json!({"guardrailTrace": {
            "traceId": id,
            "action": if intervened { "INTERVENED" } else { "NONE" },
            key: assessments,
        }}));
    }

    pub fn model_input(&mut self, model: &str, text: &str) {
        if !self.enabled {
            return;
        }
        self.orchestration(
            "modelInvocationInput",
            json!({"type": "ORCHESTRATION", "foundationModel": model, "text": text,
                   "promptCreationMode": "DEFAULT", "parserMode": "DEFAULT"}),
        );
    }

    pub fn model_output(&mut self, raw: &str, usage: Usage) {
        if !self.enabled {
            return;
        }
        self.orchestration(
            "modelInvocationOutput",
            json!({"rawResponse": {"content": raw},
                   "metadata": {"usage": {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens}}}),
        );
    }

    pub fn rationale(&mut self, text: &str) {
        if !self.enabled {
            return;
        }
        self.orchestration("rationale", json!({"text": text}));
    }

    pub fn invocation_input(&mut self, call: &ToolCall, execution_type: &str) {
        if !self.enabled {
            return;
        }
        let parameters: Vec<Value> = call
            .parameters
            .iter()
            .map(|(n, v)| json!({"name": n, "type": "string", "value": v}))
            .collect();
        let mut input = json!({
            "actionGroupName": call.action_group,
            "executionType": execution_type,
            "parameters": parameters,
        });
        if let Some(p) = &call.api_path {
            input["apiPath"] = json!(p);
        }
        if let Some(m) = &call.http_method {
            input["verb"] = json!(m);
        }
        if let Some(f) = &call.function {
            input["function"] = json!(f);
        }
        if let Some(body) = &call.request_body {
            input["requestBody"] = json!({"content": {"application/json": body}});
        }
        self.orchestration(
            "invocationInput",
            json!({"invocationType": "ACTION_GROUP", "actionGroupInvocationInput": input}),
        );
    }

    pub fn tool_observation(&mut self, text: &str) {
        if !self.enabled {
            return;
        }
        self.orchestration(
            "observation",
            json!({"type": "ACTION_GROUP", "actionGroupInvocationOutput": {"text": text}}),
        );
    }

    pub fn final_response(&mut self, text: &str, started_at: &str, total_ms: u64) {
        if !self.enabled {
            return;
        }
        self.orchestration(
            "observation",
            json!({"type": "FINISH", "finalResponse": {"text": text, "metadata": {
                "startTime": started_at, "endTime": now_rfc3339(), "operationTotalTimeMs": total_ms}}}),
        );
    }

    pub fn failure(&mut self, code: u16, reason: &str) {
        if !self.enabled {
            return;
        }
        let id = self.trace_id();
        self.push(
            json!({"failureTrace": {"traceId": id, "failureCode": code, "failureReason": reason}}),
        );
    }

    /// A copy of the parts recorded so far.
    pub fn snapshot(&self) -> Vec<Value> {
        self.parts.clone()
    }

    /// A stand-alone action-group observation part (for checks that look ahead one step).
    pub fn observation_part(text: &str) -> Value {
        json!({"trace": {"orchestrationTrace": {"observation":
            {"type": "ACTION_GROUP", "actionGroupInvocationOutput": {"text": text}}}}})
    }

    pub fn finish(self) -> Vec<Value> {
        self.parts
    }
}
