//! Bedrock proxy mode in the invoke path (`provider = "bedrock-agent"`, feature
//! `bedrock-agent`): the agent runs on Bedrock Agents; Warden screens its input and answer,
//! runs every call Bedrock hands back in its own sandbox, and judges Bedrock's trace against
//! the egress it observed. The result has the same shape as a local run, so the verdict,
//! audit and response code is shared.

use serde_json::Value;
use warden_agent::{
    AgentError, Invocation, InvocationOutcome, ModelError, Screen, ScreenSource, StepCheck,
    ToolContext, ToolRunner, Usage,
};
use warden_bedrock_agent::{BedrockAgentClient, BedrockAgentError, RemoteInvocation};
use warden_config::ModelConfig;

/// An agent hosted on Bedrock Agents; its SDK client is built on first use (the SDK's
/// configuration loader is async, the server's build step is not).
#[derive(Debug)]
pub struct BedrockAgentDriver {
    model: ModelConfig,
    client: tokio::sync::OnceCell<BedrockAgentClient>,
}

impl BedrockAgentDriver {
    pub fn new(model: ModelConfig) -> Self {
        BedrockAgentDriver {
            model,
            client: tokio::sync::OnceCell::new(),
        }
    }

    async fn client(&self) -> Result<&BedrockAgentClient, BedrockAgentError> {
        self.client
            .get_or_try_init(|| BedrockAgentClient::from_model_config(&self.model, None))
            .await
    }

    /// Runs one invocation through Bedrock: the input screened first, every handed-back call
    /// run by `tools` and checked by `check`, the answer screened last. `end_session` is
    /// forwarded, so Bedrock forgets the session too.
    pub async fn run(
        &self,
        inv: &Invocation<'_>,
        end_session: bool,
        screen: Option<&dyn Screen>,
        tools: Option<&dyn ToolRunner>,
        check: Option<&mut dyn StepCheck>,
    ) -> Result<InvocationOutcome, (AgentError, Vec<Value>)> {
        let instructions = inv.agent.instructions.as_str();
        let mut outcome = InvocationOutcome {
            completion: String::new(),
            input: inv.input_text.to_string(),
            blocked: None,
            fired: Vec::new(),
            stopped: None,
            returned: None,
            trace: Vec::new(),
            resumed_parts: 0,
            usage: Usage::default(),
            tool_calls: Vec::new(),
            egress: Vec::new(),
            notes: Vec::new(),
        };
        if let Some(screen) = screen {
            let out = screen.screen(inv.input_text, ScreenSource::Input, instructions);
            if out.blocked {
                outcome.completion = out.blocked_message;
                outcome.blocked = Some((out.rules, ScreenSource::Input));
                return Ok(outcome);
            }
            outcome.fired.extend(out.rules);
            outcome.input = out.text;
        }
        let Some(tools) = tools else {
            return Err((
                AgentError::ToolsUnavailable(inv.agent.action_groups.join(", ")),
                Vec::new(),
            ));
        };
        let client = self
            .client()
            .await
            .map_err(|e| (map_error(e), Vec::new()))?;
        let req = RemoteInvocation {
            session_id: inv.session_id,
            input_text: &outcome.input,
            session_attributes: &inv.session_attributes,
            prompt_session_attributes: &inv.prompt_session_attributes,
            end_session,
            action_groups: &inv.agent.action_groups,
            max_round_trips: inv.agent.max_steps.max(1),
            screen,
            instructions,
        };
        let ctx = ToolContext {
            tenant: inv.tenant,
            subject: inv.subject,
            agent_id: inv.agent.id.as_str(),
            session_id: inv.session_id,
            invocation_id: inv.invocation_id,
            input_text: &outcome.input,
            session_attributes: &inv.session_attributes,
            prompt_session_attributes: &inv.prompt_session_attributes,
        };
        let remote = match client.run(&req, &ctx, tools, check).await {
            Ok(r) => r,
            Err(f) => return Err((map_error(f.error), f.partial.trace)),
        };
        outcome.trace = remote.trace;
        outcome.tool_calls = remote.tool_calls;
        outcome.egress = remote.egress;
        outcome.notes = remote.notes;
        outcome.fired.extend(remote.fired);
        outcome.usage = trace_usage(&outcome.trace);
        if let Some(stop) = remote.stopped {
            outcome.stopped = Some(stop);
            return Ok(outcome);
        }
        if let Some(rules) = remote.blocked {
            // The completion is then the guardrail's blocked message.
            outcome.blocked = Some((rules, ScreenSource::ToolOutput));
            outcome.completion = remote.completion;
            return Ok(outcome);
        }
        let mut answer = remote.completion;
        if let Some(screen) = screen {
            let out = screen.screen(&answer, ScreenSource::Output, instructions);
            if out.blocked {
                outcome.completion = out.blocked_message;
                outcome.blocked = Some((out.rules, ScreenSource::Output));
                return Ok(outcome);
            }
            outcome.fired.extend(out.rules);
            answer = out.text;
        }
        outcome.completion = answer;
        Ok(outcome)
    }
}

/// Token counts Bedrock reported in its `modelInvocationOutput` trace parts.
fn trace_usage(trace: &[Value]) -> Usage {
    let mut u = Usage::default();
    for part in trace {
        for stage in [
            "orchestrationTrace",
            "preProcessingTrace",
            "postProcessingTrace",
        ] {
            if let Some(usage) = part.pointer(&format!(
                "/trace/{stage}/modelInvocationOutput/metadata/usage"
            )) {
                u.input_tokens += usage["inputTokens"].as_u64().unwrap_or(0);
                u.output_tokens += usage["outputTokens"].as_u64().unwrap_or(0);
            }
        }
    }
    u
}

fn map_error(e: BedrockAgentError) -> AgentError {
    match e {
        BedrockAgentError::Throttling { .. } => AgentError::Model(ModelError::Throttled),
        BedrockAgentError::Timeout { .. } => AgentError::Model(ModelError::Timeout),
        BedrockAgentError::ForbiddenActionGroup { action_group, .. } => {
            AgentError::UnknownTool(action_group)
        }
        BedrockAgentError::Tool { source, .. } => AgentError::Tool(source),
        BedrockAgentError::MalformedStream(m) | BedrockAgentError::MalformedReturnControl(m) => {
            AgentError::Model(ModelError::InvalidResponse(m))
        }
        other => AgentError::Model(ModelError::Provider(format!("Bedrock Agents: {other}"))),
    }
}

/// The trace the detector reads in proxy mode: Bedrock's own `RETURN_CONTROL`
/// `invocationInput` parts are dropped, because Warden ran each of those calls and recorded it
/// in a part of its own (marked `executedBy: warden`), with the egress attached; keeping both
/// would count every call twice.
pub fn detector_view(trace: &[Value]) -> Vec<Value> {
    trace
        .iter()
        .filter(|p| {
            p.get(warden_bedrock_agent::EXECUTED_BY_KEY).is_some()
                || p.pointer(
                    "/trace/orchestrationTrace/invocationInput/actionGroupInvocationInput/executionType",
                )
                .and_then(Value::as_str)
                    != Some("RETURN_CONTROL")
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_detector_sees_each_handed_back_call_once() {
        let reported = json!({"trace": {"orchestrationTrace": {"invocationInput": {
            "actionGroupInvocationInput": {"actionGroupName": "orders", "executionType": "RETURN_CONTROL"}}}}});
        let mut ran = reported.clone();
        ran["executedBy"] = json!("warden");
        let rationale =
            json!({"trace": {"orchestrationTrace": {"rationale": {"text": "look it up"}}}});
        let view = detector_view(&[rationale.clone(), reported, ran.clone()]);
        assert_eq!(view, vec![rationale, ran]);
    }

    #[test]
    fn usage_is_summed_from_model_outputs() {
        let part = |i: u64, o: u64| {
            json!({"trace": {"orchestrationTrace": {"modelInvocationOutput": {
                "metadata": {"usage": {"inputTokens": i, "outputTokens": o}}}}}})
        };
        let u = trace_usage(&[part(10, 2), part(30, 5)]);
        assert_eq!((u.input_tokens, u.output_tokens), (40, 7));
    }
}
