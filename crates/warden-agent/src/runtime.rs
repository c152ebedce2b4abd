//! The orchestration loop: screen input, alternate model turns and tool calls up to the
//! agent's step limit, screen every tool output and the final answer.

use crate::provider::*;
use crate::trace::{TraceBuilder, TraceState};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
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
    /// The session's earlier exchanges (its memory), oldest first, already windowed.
    pub history: &'a [Exchange],
    /// Action groups configured `RETURN_CONTROL`: their calls are handed back to the caller
    /// instead of running in the sandbox.
    pub return_control: &'a BTreeSet<String>,
    /// Set when this request carries the caller's result for a call handed back earlier: the
    /// loop continues from where it paused (and `input_text` is ignored, as in Bedrock).
    pub resume: Option<Resume>,
}

/// A paused invocation waiting for the caller to run one action-group call (return of
/// control). Stored in the session's memory between the two requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingControl {
    /// The `invocationId` handed to the caller; its results must name it.
    pub invocation_id: String,
    /// The (screened) user input of the paused invocation.
    pub input_text: String,
    /// Completed steps before the handed-back call.
    pub steps: Vec<(ToolCall, String)>,
    /// The call the caller runs.
    pub call: ToolCall,
    /// Model turns used so far (they count against the agent's step limit).
    pub turns: u32,
    pub trace: TraceState,
    pub egress: Vec<EgressEvent>,
    pub notes: Vec<Reason>,
    pub fired: Vec<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub started_at: String,
}

/// The caller's result for a handed-back call.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    pub pending: PendingControl,
    /// The response body the caller's own execution produced (untrusted: it is screened as
    /// tool output).
    pub result: String,
}

/// What came of an invocation that ran to an end (answered, stopped by a check, or paused
/// for return of control).
#[derive(Debug, Clone)]
pub struct InvocationOutcome {
    pub completion: String,
    /// The user's input as the loop used it (after the guardrail's anonymization; the
    /// paused invocation's input after a resume). What session memory records.
    pub input: String,
    /// Set when a screen stopped the invocation: (rule ids, stage).
    pub blocked: Option<(Vec<String>, ScreenSource)>,
    /// Rules that fired without blocking (e.g. anonymization).
    pub fired: Vec<String>,
    /// Set when a per-step check (the detector) stopped the loop.
    pub stopped: Option<Stop>,
    /// Set when the loop paused to hand a call back to the caller.
    pub returned: Option<PendingControl>,
    /// The Bedrock-format trace; always recorded, since the detector reads it. After a
    /// resume it holds the parts recorded before the pause too (see `resumed_parts`).
    pub trace: Vec<Value>,
    /// How many leading parts of `trace` were recorded by the request that paused.
    pub resumed_parts: usize,
    pub usage: Usage,
    pub tool_calls: Vec<ToolCall>,
    /// Every tool's egress, in order.
    pub egress: Vec<EgressEvent>,
    /// The broker's notes for every tool call.
    pub notes: Vec<Reason>,
}

/// The loop's running state.
struct Run {
    input: String,
    trace: TraceBuilder,
    egress: Vec<EgressEvent>,
    notes: Vec<Reason>,
    usage: Usage,
    fired: Vec<String>,
    steps: Vec<(ToolCall, String)>,
    resumed_parts: usize,
}

impl Run {
    fn end(self, completion: String) -> InvocationOutcome {
        InvocationOutcome {
            completion,
            input: self.input,
            blocked: None,
            stopped: None,
            returned: None,
            fired: self.fired,
            trace: self.trace.finish(),
            resumed_parts: self.resumed_parts,
            usage: self.usage,
            tool_calls: self.steps.into_iter().map(|(c, _)| c).collect(),
            egress: self.egress,
            notes: self.notes,
        }
    }

    fn blocked(self, out: ScreenOutcome, stage: ScreenSource) -> InvocationOutcome {
        let mut o = self.end(out.blocked_message);
        o.blocked = Some((out.rules, stage));
        o
    }

    fn fail(mut self, e: AgentError, code: u16) -> (AgentError, Vec<Value>) {
        self.trace.failure(code, &e.to_string());
        (e, self.trace.finish())
    }
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
        let instructions = self.agent.instructions.as_str();
        let (mut run, input, mut turns) = match &self.resume {
            Some(resume) => {
                let p = resume.pending.clone();
                let resumed_parts = p.trace.parts.len();
                let run = Run {
                    input: p.input_text.clone(),
                    trace: TraceBuilder::resume(self.agent.id.as_str(), self.session_id, p.trace),
                    egress: p.egress,
                    notes: p.notes,
                    usage: Usage {
                        input_tokens: p.input_tokens,
                        output_tokens: p.output_tokens,
                    },
                    fired: p.fired,
                    steps: p.steps,
                    resumed_parts,
                };
                // The caller's result comes back as the handed-back call's output.
                let output = ToolOutput {
                    text: resume.result.clone(),
                    egress: Vec::new(),
                    notes: Vec::new(),
                };
                let run = match self.after_step(
                    run,
                    p.call,
                    output,
                    screen,
                    check.as_mut().map(|c| &mut **c as &mut dyn StepCheck),
                    instructions,
                ) {
                    Ok(run) => run,
                    Err(ended) => return Ok(*ended),
                };
                (run, p.input_text, p.turns)
            }
            None => {
                let mut run = Run {
                    input: self.input_text.to_string(),
                    trace: TraceBuilder::new(self.agent.id.as_str(), self.session_id, true),
                    egress: Vec::new(),
                    notes: Vec::new(),
                    usage: Usage::default(),
                    fired: Vec::new(),
                    steps: Vec::new(),
                    resumed_parts: 0,
                };
                let mut input = self.input_text.to_string();
                if let Some(screen) = screen {
                    let out = screen.screen(&input, ScreenSource::Input, instructions);
                    run.trace.guardrail(
                        "pre",
                        out.blocked || !out.rules.is_empty(),
                        out.assessments.clone(),
                    );
                    if out.blocked {
                        return Ok(run.blocked(out, ScreenSource::Input));
                    }
                    run.fired.extend(out.rules.iter().cloned());
                    input = out.text;
                    run.input = input.clone();
                }
                (run, input, 0)
            }
        };

        while turns < self.agent.max_steps {
            turns += 1;
            let req = ModelRequest {
                instructions,
                history: self.history,
                input_text: &input,
                steps: &run.steps,
            };
            run.trace.model_input(
                provider.model_name(),
                &prompt_text(&req, &self.prompt_session_attributes),
            );
            let turn = match provider.next_turn(&req).await {
                Ok(t) => t,
                Err(e) => return Err(run.fail(e.into(), 500)),
            };
            run.usage.input_tokens += turn.usage.input_tokens;
            run.usage.output_tokens += turn.usage.output_tokens;
            run.trace.model_output(&turn.raw, turn.usage);
            if let Some(r) = &turn.rationale {
                run.trace.rationale(r);
            }
            match turn.action {
                TurnAction::Answer(mut answer) => {
                    if let Some(screen) = screen {
                        let out = screen.screen(&answer, ScreenSource::Output, instructions);
                        run.trace.guardrail(
                            "post",
                            out.blocked || !out.rules.is_empty(),
                            out.assessments.clone(),
                        );
                        if out.blocked {
                            return Ok(run.blocked(out, ScreenSource::Output));
                        }
                        run.fired.extend(out.rules.iter().cloned());
                        answer = out.text;
                    }
                    let started_at = self
                        .resume
                        .as_ref()
                        .map(|r| r.pending.started_at.as_str())
                        .unwrap_or(self.started_at);
                    run.trace.final_response(
                        &answer,
                        started_at,
                        clock.elapsed().as_millis() as u64,
                    );
                    return Ok(run.end(answer));
                }
                TurnAction::Tool(call) => {
                    if !self.agent.action_groups.contains(&call.action_group) {
                        let e = AgentError::UnknownTool(call.action_group.clone());
                        return Err(run.fail(e, 400));
                    }
                    if self.return_control.contains(&call.action_group) {
                        // Handed back to the caller: the loop pauses here and resumes when
                        // the caller sends the result with this invocation id.
                        run.trace.invocation_input(&call, "RETURN_CONTROL");
                        let pending = PendingControl {
                            invocation_id: uuid::Uuid::new_v4().to_string(),
                            input_text: input,
                            steps: run.steps.clone(),
                            call,
                            turns,
                            trace: run.trace.state(),
                            egress: run.egress.clone(),
                            notes: run.notes.clone(),
                            fired: run.fired.clone(),
                            input_tokens: run.usage.input_tokens,
                            output_tokens: run.usage.output_tokens,
                            started_at: self
                                .resume
                                .as_ref()
                                .map(|r| r.pending.started_at.clone())
                                .unwrap_or_else(|| self.started_at.to_string()),
                        };
                        let mut o = run.end(String::new());
                        o.returned = Some(pending);
                        return Ok(o);
                    }
                    run.trace.invocation_input(&call, "LAMBDA");
                    let Some(tools) = tools else {
                        let e = AgentError::ToolsUnavailable(call.action_group.clone());
                        return Err(run.fail(e, 503));
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
                        Err(e) => return Err(run.fail(e.into(), 424)),
                    };
                    run = match self.after_step(
                        run,
                        call,
                        output,
                        screen,
                        check.as_mut().map(|c| &mut **c as &mut dyn StepCheck),
                        instructions,
                    ) {
                        Ok(run) => run,
                        Err(ended) => return Ok(*ended),
                    };
                }
            }
        }
        Err(run.fail(AgentError::MaxSteps(self.agent.max_steps), 500))
    }

    /// A tool's output arrived (from the sandbox, or from the caller after return of
    /// control): record its egress, run the per-step check, screen the output as untrusted
    /// content, and record the observation. `Ok` continues the loop; `Err` is the outcome of
    /// an invocation the step ended (stopped by the check or blocked by the screen).
    fn after_step(
        &self,
        mut run: Run,
        call: ToolCall,
        output: ToolOutput,
        screen: Option<&dyn Screen>,
        check: Option<&mut dyn StepCheck>,
        instructions: &str,
    ) -> Result<Run, Box<InvocationOutcome>> {
        run.egress.extend(output.egress.iter().cloned());
        run.notes.extend(output.notes.iter().cloned());
        if let Some(check) = check {
            // The observation is recorded first so the check sees the whole step.
            let mut probe = run.trace.snapshot();
            probe.push(TraceBuilder::observation_part(&output.text));
            if let Some(stop) = check.after_tool(&probe, &call, &output) {
                run.trace
                    .tool_observation("[withheld: the invocation was stopped]");
                run.trace.failure(403, &stop.message);
                run.steps.push((call, String::new()));
                let mut o = run.end(String::new());
                o.stopped = Some(stop);
                return Err(Box::new(o));
            }
        }
        let mut text = output.text;
        if let Some(screen) = screen {
            let out = screen.screen(&text, ScreenSource::ToolOutput, instructions);
            if out.blocked {
                run.trace.tool_observation("[withheld by guardrail]");
                run.trace.guardrail("post", true, out.assessments.clone());
                run.steps.push((call, String::new()));
                return Err(Box::new(run.blocked(out, ScreenSource::ToolOutput)));
            }
            run.fired.extend(out.rules.iter().cloned());
            text = out.text;
        }
        run.trace.tool_observation(&text);
        run.steps.push((call, text));
        run.trace.next_step();
        Ok(run)
    }
}

/// The rendered prompt recorded in `modelInvocationInput.text`.
fn prompt_text(req: &ModelRequest<'_>, prompt_attrs: &BTreeMap<String, String>) -> String {
    let steps: Vec<Value> = req
        .steps
        .iter()
        .map(|(c, out)| serde_json::json!({"tool": c.action_group, "apiPath": c.api_path, "function": c.function, "result": out}))
        .collect();
    let mut messages: Vec<Value> = Vec::with_capacity(req.history.len() * 2 + 1);
    for e in req.history {
        messages.push(serde_json::json!({"role": "user", "content": e.user}));
        messages.push(serde_json::json!({"role": "assistant", "content": e.assistant}));
    }
    messages.push(serde_json::json!({"role": "user", "content": req.input_text}));
    serde_json::json!({
        "system": req.instructions,
        "promptSessionAttributes": prompt_attrs,
        "messages": messages,
        "steps": steps,
    })
    .to_string()
}
