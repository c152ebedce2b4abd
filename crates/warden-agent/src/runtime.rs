//! The orchestration loop: screen input, alternate model turns and tool calls up to the
//! agent's step limit, screen every tool output and the final answer.

use crate::provider::*;
use crate::trace::TraceBuilder;
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Instant;
use warden_config::AgentConfig;
use warden_core::TenantId;

/// What text is being screened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenSource {
    /// The user's input.
    Input,
    /// The agent's final answer.
    Output,
    /// A tool's output, untrusted content on its way back to the model.
    ToolOutput,
}

/// The result of screening one text.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenOutcome {
    /// The text to use from here on (with anonymized spans replaced).
    pub text: String,
    pub blocked: bool,
    /// The configured message to answer with when blocked.
    pub blocked_message: String,
    /// Stable ids of what fired, e.g. `guard.pii.EMAIL`.
    pub rules: Vec<String>,
    /// Bedrock-shaped assessments for the `guardrailTrace`.
    pub assessments: Value,
}

/// Content screening (the agent's guardrail), provided by the composition root.
pub trait Screen: Send + Sync {
    fn screen(&self, text: &str, source: ScreenSource, instructions: &str) -> ScreenOutcome;
}

/// A tool's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The body text the handler returned.
    pub text: String,
}

/// Why a tool call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    #[error("tool call refused: {0}")]
    Refused(String),
    #[error("tool failed: {0}")]
    Failed(String),
}

/// Runs action-group calls (the broker and sandbox), provided by the composition root.
#[async_trait]
pub trait ToolRunner: Send + Sync {
    async fn run(
        &self,
        tenant: &TenantId,
        call: &ToolCall,
        session_attributes: &BTreeMap<String, String>,
    ) -> Result<ToolOutput, ToolError>;
}

/// Why an invocation could not complete. Each maps to a precise client error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("the model called `{0}`, which is not one of this agent's action groups")]
    UnknownTool(String),
    #[error("action group `{0}` cannot run: no tool runner is configured in this server")]
    ToolsUnavailable(String),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("the agent did not answer within {0} steps")]
    MaxSteps(u32),
}

/// One invocation's inputs. The tenant comes from the authenticated principal.
#[derive(Debug)]
pub struct Invocation<'a> {
    pub agent: &'a AgentConfig,
    pub tenant: &'a TenantId,
    pub session_id: &'a str,
    pub input_text: &'a str,
    pub session_attributes: BTreeMap<String, String>,
    pub prompt_session_attributes: BTreeMap<String, String>,
    /// RFC 3339 start time, for the final-response metadata.
    pub started_at: &'a str,
    /// Whether to record the Bedrock-format trace (it costs a JSON document per step).
    pub record_trace: bool,
}

/// What came of an invocation that ran to an end (answered or stopped by a check).
#[derive(Debug, Clone)]
pub struct InvocationOutcome {
    pub completion: String,
    /// Set when a screen stopped the invocation: (rule ids, stage).
    pub blocked: Option<(Vec<String>, ScreenSource)>,
    /// Rules that fired without blocking (e.g. anonymization).
    pub fired: Vec<String>,
    pub trace: Vec<Value>,
    pub usage: Usage,
    pub tool_calls: Vec<ToolCall>,
}

impl Invocation<'_> {
    /// Runs the loop. Errors carry no partial answer: the caller fails the request.
    pub async fn run(
        &self,
        provider: &dyn ModelProvider,
        screen: Option<&dyn Screen>,
        tools: Option<&dyn ToolRunner>,
    ) -> Result<InvocationOutcome, (AgentError, Vec<Value>)> {
        let clock = Instant::now();
        let mut trace =
            TraceBuilder::new(self.agent.id.as_str(), self.session_id, self.record_trace);
        let mut usage = Usage::default();
        let mut fired = Vec::new();
        let instructions = self.agent.instructions.as_str();
        let blocked =
            |trace: TraceBuilder, out: ScreenOutcome, stage, usage, fired: Vec<String>, calls| {
                InvocationOutcome {
                    completion: out.blocked_message,
                    blocked: Some((out.rules, stage)),
                    fired,
                    trace: trace.finish(),
                    usage,
                    tool_calls: calls,
                }
            };

        let mut input = self.input_text.to_string();
        if let Some(screen) = screen {
            let out = screen.screen(&input, ScreenSource::Input, instructions);
            trace.guardrail(
                "pre",
                out.blocked || !out.rules.is_empty(),
                out.assessments.clone(),
            );
            if out.blocked {
                return Ok(blocked(
                    trace,
                    out,
                    ScreenSource::Input,
                    usage,
                    fired,
                    Vec::new(),
                ));
            }
            fired.extend(out.rules.iter().cloned());
            input = out.text;
        }

        let mut steps: Vec<(ToolCall, String)> = Vec::new();
        for _ in 0..self.agent.max_steps {
            let req = ModelRequest {
                instructions,
                input_text: &input,
                steps: &steps,
            };
            trace.model_input(
                provider.model_name(),
                &prompt_text(&req, &self.prompt_session_attributes),
            );
            let turn = match provider.next_turn(&req).await {
                Ok(t) => t,
                Err(e) => {
                    trace.failure(500, &e.to_string());
                    return Err((e.into(), trace.finish()));
                }
            };
            usage.input_tokens += turn.usage.input_tokens;
            usage.output_tokens += turn.usage.output_tokens;
            trace.model_output(&turn.raw, turn.usage);
            if let Some(r) = &turn.rationale {
                trace.rationale(r);
            }
            match turn.action {
                TurnAction::Answer(answer) => {
                    let mut answer = answer;
                    if let Some(screen) = screen {
                        let out = screen.screen(&answer, ScreenSource::Output, instructions);
                        trace.guardrail(
                            "post",
                            out.blocked || !out.rules.is_empty(),
                            out.assessments.clone(),
                        );
                        if out.blocked {
                            let calls = steps.into_iter().map(|(c, _)| c).collect();
                            return Ok(blocked(
                                trace,
                                out,
                                ScreenSource::Output,
                                usage,
                                fired,
                                calls,
                            ));
                        }
                        fired.extend(out.rules.iter().cloned());
                        answer = out.text;
                    }
                    trace.final_response(
                        &answer,
                        self.started_at,
                        clock.elapsed().as_millis() as u64,
                    );
                    return Ok(InvocationOutcome {
                        completion: answer,
                        blocked: None,
                        fired,
                        trace: trace.finish(),
                        usage,
                        tool_calls: steps.into_iter().map(|(c, _)| c).collect(),
                    });
                }
                TurnAction::Tool(call) => {
                    if !self.agent.action_groups.contains(&call.action_group) {
                        let e = AgentError::UnknownTool(call.action_group.clone());
                        trace.failure(400, &e.to_string());
                        return Err((e, trace.finish()));
                    }
                    trace.invocation_input(&call, "LAMBDA");
                    let Some(tools) = tools else {
                        let e = AgentError::ToolsUnavailable(call.action_group.clone());
                        trace.failure(503, &e.to_string());
                        return Err((e, trace.finish()));
                    };
                    let output = match tools
                        .run(self.tenant, &call, &self.session_attributes)
                        .await
                    {
                        Ok(o) => o,
                        Err(e) => {
                            trace.failure(424, &e.to_string());
                            return Err((e.into(), trace.finish()));
                        }
                    };
                    let mut text = output.text;
                    if let Some(screen) = screen {
                        let out = screen.screen(&text, ScreenSource::ToolOutput, instructions);
                        if out.blocked {
                            trace.tool_observation("[withheld by guardrail]");
                            trace.guardrail("post", true, out.assessments.clone());
                            steps.push((call, String::new()));
                            let calls = steps.into_iter().map(|(c, _)| c).collect();
                            return Ok(blocked(
                                trace,
                                out,
                                ScreenSource::ToolOutput,
                                usage,
                                fired,
                                calls,
                            ));
                        }
                        fired.extend(out.rules.iter().cloned());
                        text = out.text;
                    }
                    trace.tool_observation(&text);
                    steps.push((call, text));
                    trace.next_step();
                }
            }
        }
        let e = AgentError::MaxSteps(self.agent.max_steps);
        trace.failure(500, &e.to_string());
        Err((e, trace.finish()))
    }
}

/// The rendered prompt recorded in `modelInvocationInput.text`.
fn prompt_text(req: &ModelRequest<'_>, prompt_attrs: &BTreeMap<String, String>) -> String {
    let steps: Vec<Value> = req
        .steps
        .iter()
        .map(|(c, out)| serde_json::json!({"tool": c.action_group, "apiPath": c.api_path, "function": c.function, "result": out}))
        .collect();
    serde_json::json!({
        "system": req.instructions,
        "promptSessionAttributes": prompt_attrs,
        "messages": [{"role": "user", "content": req.input_text}],
        "steps": steps,
    })
    .to_string()
}
