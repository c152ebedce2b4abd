//! The orchestration loop: screen input, alternate model turns and tool calls up to the
//! agent's step limit, screen every tool output and the final answer.

use crate::provider::*;
use crate::trace::TraceBuilder;
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Instant;
use warden_config::AgentConfig;
use warden_core::egress::EgressEvent;
use warden_core::{Reason, TenantId};

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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolOutput {
    /// The body text the handler returned.
    pub text: String,
    /// Every DNS query and connection the tool made while it ran, attributed to this call.
    pub egress: Vec<EgressEvent>,
    /// Things the broker changed or noticed (e.g. a tenant argument it overrode).
    pub notes: Vec<Reason>,
}

/// Who a tool call runs for and in which invocation; everything here is trusted (it comes
/// from the front door, never from the model).
#[derive(Debug, Clone, Copy)]
pub struct ToolContext<'a> {
    pub tenant: &'a TenantId,
    /// The authenticated subject (JWT `sub` or access key id).
    pub subject: &'a str,
    pub agent_id: &'a str,
    pub session_id: &'a str,
    pub invocation_id: &'a str,
    pub input_text: &'a str,
    pub session_attributes: &'a BTreeMap<String, String>,
    pub prompt_session_attributes: &'a BTreeMap<String, String>,
}

/// Why a per-step check stopped the loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    /// Stable ids of the rules that fired.
    pub rules: Vec<String>,
    /// A human reason.
    pub message: String,
}

/// A check that runs after every tool step, before the next model turn (the runtime
/// detector). Returning a [`Stop`] ends the invocation: no further tool call runs.
pub trait StepCheck: Send {
    /// `trace` is the invocation's Bedrock-format trace so far; `egress` this step's events.
    fn after_tool(&mut self, trace: &[Value], call: &ToolCall, output: &ToolOutput)
        -> Option<Stop>;
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
    async fn run(&self, ctx: &ToolContext<'_>, call: &ToolCall) -> Result<ToolOutput, ToolError>;
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
    /// The authenticated subject.
    pub subject: &'a str,
    /// This invocation's id (the request id).
    pub invocation_id: &'a str,
    pub session_id: &'a str,
    pub input_text: &'a str,
    pub session_attributes: BTreeMap<String, String>,
    pub prompt_session_attributes: BTreeMap<String, String>,
    /// RFC 3339 start time, for the final-response metadata.
    pub started_at: &'a str,
}

/// What came of an invocation that ran to an end (answered or stopped by a check).
#[derive(Debug, Clone)]
pub struct InvocationOutcome {
    pub completion: String,
    /// Set when a screen stopped the invocation: (rule ids, stage).
    pub blocked: Option<(Vec<String>, ScreenSource)>,
    /// Rules that fired without blocking (e.g. anonymization).
    pub fired: Vec<String>,
    /// Set when a per-step check (the detector) stopped the loop.
    pub stopped: Option<Stop>,
    /// The Bedrock-format trace; always recorded, since the detector reads it.
    pub trace: Vec<Value>,
    pub usage: Usage,
    pub tool_calls: Vec<ToolCall>,
    /// Every tool's egress, in order.
    pub egress: Vec<EgressEvent>,
    /// The broker's notes for every tool call.
    pub notes: Vec<Reason>,
}

impl Invocation<'_> {
    /// Runs the loop. Errors carry no partial answer: the caller fails the request.
    pub async fn run(
        &self,
        provider: &dyn ModelProvider,
        screen: Option<&dyn Screen>,
        tools: Option<&dyn ToolRunner>,
        mut check: Option<&mut dyn StepCheck>,
    ) -> Result<InvocationOutcome, (AgentError, Vec<Value>)> {
        let clock = Instant::now();
        let mut trace = TraceBuilder::new(self.agent.id.as_str(), self.session_id, true);
        let mut egress: Vec<EgressEvent> = Vec::new();
        let mut notes: Vec<Reason> = Vec::new();
        let mut usage = Usage::default();
        let mut fired = Vec::new();
        let instructions = self.agent.instructions.as_str();
        let blocked =
            |trace: TraceBuilder, out: ScreenOutcome, stage, usage, fired: Vec<String>, calls| {
                InvocationOutcome {
                    completion: out.blocked_message,
                    blocked: Some((out.rules, stage)),
                    stopped: None,
                    fired,
                    trace: trace.finish(),
                    usage,
                    tool_calls: calls,
                    egress: Vec::new(),
                    notes: Vec::new(),
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
                            let mut o =
                                blocked(trace, out, ScreenSource::Output, usage, fired, calls);
                            o.egress = egress;
                            o.notes = notes;
                            return Ok(o);
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
                        stopped: None,
                        fired,
                        trace: trace.finish(),
                        usage,
                        tool_calls: steps.into_iter().map(|(c, _)| c).collect(),
                        egress,
                        notes,
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
                    let ctx = ToolContext {
                        tenant: self.tenant,
                        subject: self.subject,
                        agent_id: self.agent.id.as_str(),
                        session_id: self.session_id,
                        invocation_id: self.invocation_id,
                        input_text: &input,
                        session_attributes: &self.session_attributes,
                        prompt_session_attributes: &self.prompt_session_attributes,
                    };
                    let output = match tools.run(&ctx, &call).await {
                        Ok(o) => o,
                        Err(e) => {
                            trace.failure(424, &e.to_string());
                            return Err((e.into(), trace.finish()));
                        }
                    };
                    egress.extend(output.egress.iter().cloned());
                    notes.extend(output.notes.iter().cloned());
                    if let Some(check) = check.as_deref_mut() {
                        // The observation is recorded first so the check sees the whole step.
                        let mut probe = trace.snapshot();
                        probe.push(TraceBuilder::observation_part(&output.text));
                        if let Some(stop) = check.after_tool(&probe, &call, &output) {
                            trace.tool_observation("[withheld: the invocation was stopped]");
                            trace.failure(403, &stop.message);
                            steps.push((call, String::new()));
                            return Ok(InvocationOutcome {
                                completion: String::new(),
                                blocked: None,
                                stopped: Some(stop),
                                fired,
                                trace: trace.finish(),
                                usage,
                                tool_calls: steps.into_iter().map(|(c, _)| c).collect(),
                                egress,
                                notes,
                            });
                        }
                    }
                    let mut text = output.text;
                    if let Some(screen) = screen {
                        let out = screen.screen(&text, ScreenSource::ToolOutput, instructions);
                        if out.blocked {
                            trace.tool_observation("[withheld by guardrail]");
                            trace.guardrail("post", true, out.assessments.clone());
                            steps.push((call, String::new()));
                            let calls = steps.into_iter().map(|(c, _)| c).collect();
                            let mut o =
                                blocked(trace, out, ScreenSource::ToolOutput, usage, fired, calls);
                            o.egress = egress;
                            o.notes = notes;
                            return Ok(o);
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
