//! The InvokeAgent loop: call Bedrock with the trace enabled, read its event stream, run every
//! returned invocation through Warden's tool runner (the broker and sandbox), consult the step
//! check, and send the results back in the same session until Bedrock answers.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_bedrockagentruntime::types as bt;
use serde_json::Value;
use warden_agent::{
    Screen, ScreenSource, StepCheck, Stop, ToolCall, ToolContext, ToolOutput, ToolRunner,
};
use warden_config::ModelConfig;
use warden_core::egress::EgressEvent;
use warden_core::Reason;

use crate::control::{self, Envelope};
use crate::error::{self, BedrockAgentError, RunFailure};
use crate::trace;

/// The default bound on InvokeAgent calls per run (the first call plus the resumptions).
pub const DEFAULT_MAX_ROUND_TRIPS: u32 = 10;

/// A Bedrock Agents agent alias, reached through InvokeAgent with the default credential chain.
#[derive(Debug, Clone)]
pub struct BedrockAgentClient {
    client: aws_sdk_bedrockagentruntime::Client,
    agent_id: String,
    agent_alias_id: String,
    region: String,
    timeout: Duration,
}

/// One invocation of the remote agent, as the front door received it.
#[derive(Clone, Copy)]
pub struct RemoteInvocation<'a> {
    /// The Bedrock session id (2–100 of `[0-9a-zA-Z._:-]`); every round trip uses it.
    pub session_id: &'a str,
    pub input_text: &'a str,
    pub session_attributes: &'a BTreeMap<String, String>,
    pub prompt_session_attributes: &'a BTreeMap<String, String>,
    /// Forwarded as `endSession` on every request of the run.
    pub end_session: bool,
    /// The action groups this Warden agent may run; a `returnControl` naming any other fails
    /// the run before anything runs.
    pub action_groups: &'a [String],
    /// The most InvokeAgent calls this run may make (at least 1).
    pub max_round_trips: u32,
    /// Screens every tool output (untrusted content on its way back to the model) before it
    /// is sent to Bedrock; `instructions` is passed to it (for instruction-leak checks).
    pub screen: Option<&'a dyn Screen>,
    pub instructions: &'a str,
}

impl std::fmt::Debug for RemoteInvocation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteInvocation")
            .field("session_id", &self.session_id)
            .field("input_text", &self.input_text)
            .field("session_attributes", &self.session_attributes)
            .field("prompt_session_attributes", &self.prompt_session_attributes)
            .field("end_session", &self.end_session)
            .field("action_groups", &self.action_groups)
            .field("max_round_trips", &self.max_round_trips)
            .field("screen", &self.screen.map(|_| "dyn Screen"))
            .finish_non_exhaustive()
    }
}

/// What a run produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteOutcome {
    /// The answer: every `chunk` of the final stream, decoded as UTF-8.
    pub completion: String,
    /// Bedrock's `TracePart`s in arrival order (documented JSON shape), with the parts Warden
    /// wrote for the calls it ran interleaved where they ran, marked `"executedBy": "warden"`.
    pub trace: Vec<Value>,
    /// The `returnControl` payloads Bedrock sent, in their documented JSON shape.
    pub returned_control: Vec<Value>,
    /// Every call Warden ran, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Every egress event of those calls, in order.
    pub egress: Vec<EgressEvent>,
    /// The broker's notes for those calls, and Warden's about the stream (e.g. ignored files).
    pub notes: Vec<Reason>,
    /// Set when the step check stopped the run; no results were sent back after it.
    pub stopped: Option<Stop>,
    /// Set when the screen blocked a tool output (the rule ids); `completion` is then the
    /// screen's blocked message and no results were sent back.
    pub blocked: Option<Vec<String>>,
    /// Screen rules that fired on tool outputs without blocking (e.g. anonymization).
    pub fired: Vec<String>,
    /// How many InvokeAgent calls were made.
    pub round_trips: u32,
    /// The session id Bedrock echoed in the last response.
    pub session_id: Option<String>,
}

/// What one response stream ended with.
enum StreamEnd {
    Answered,
    ReturnedControl(bt::ReturnControlPayload),
}

fn is_bedrock_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl BedrockAgentClient {
    /// Builds the client: region and credentials from the default chain (credentials are
    /// resolved on the first call), TLS through rustls with ring, the SDK's retries off (a
    /// resumed InvokeAgent is not idempotent). `timeout` bounds each round trip: the request
    /// and its whole response stream. `endpoint_url` overrides the endpoint (VPC endpoints,
    /// local servers in tests).
    pub async fn new(
        agent_id: impl Into<String>,
        agent_alias_id: impl Into<String>,
        region: Option<String>,
        timeout: Duration,
        endpoint_url: Option<String>,
    ) -> Result<Self, BedrockAgentError> {
        let agent_id = agent_id.into();
        let agent_alias_id = agent_alias_id.into();
        for (field, value) in [("agent_id", &agent_id), ("agent_alias_id", &agent_alias_id)] {
            if !is_bedrock_id(value) {
                return Err(BedrockAgentError::Config {
                    field,
                    value: value.clone(),
                    reason: "must be 1 to 10 ASCII letters or digits".into(),
                });
            }
        }
        if timeout.is_zero() {
            return Err(BedrockAgentError::Config {
                field: "timeout_ms",
                value: "0".into(),
                reason: "must be positive".into(),
            });
        }
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .retry_config(aws_config::retry::RetryConfig::disabled());
        if let Some(r) = &region {
            if r.trim().is_empty() {
                return Err(BedrockAgentError::Config {
                    field: "region",
                    value: r.clone(),
                    reason: "must not be empty".into(),
                });
            }
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(url) = &endpoint_url {
            let parsed = url::Url::parse(url).map_err(|e| BedrockAgentError::Config {
                field: "endpoint_url",
                value: url.clone(),
                reason: format!("not a URL: {e}"),
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(BedrockAgentError::Config {
                    field: "endpoint_url",
                    value: url.clone(),
                    reason: "must be an http or https URL with a host".into(),
                });
            }
            loader = loader.endpoint_url(url.clone());
        }
        let sdk = loader.load().await;
        let region =
            sdk.region()
                .map(|r| r.to_string())
                .ok_or_else(|| BedrockAgentError::Config {
                    field: "region",
                    value: String::new(),
                    reason: "no AWS region: set it in the config, or AWS_REGION / a profile region"
                        .into(),
                })?;
        Ok(BedrockAgentClient {
            client: aws_sdk_bedrockagentruntime::Client::new(&sdk),
            agent_id,
            agent_alias_id,
            region,
            timeout,
        })
    }

    /// Builds the client from an agent's `provider = "bedrock-agent"` model config.
    pub async fn from_model_config(
        model: &ModelConfig,
        endpoint_url: Option<String>,
    ) -> Result<Self, BedrockAgentError> {
        match model {
            ModelConfig::BedrockAgent {
                agent_id,
                agent_alias_id,
                region,
                timeout_ms,
            } => {
                Self::new(
                    agent_id.clone(),
                    agent_alias_id.clone(),
                    region.clone(),
                    Duration::from_millis(*timeout_ms),
                    endpoint_url,
                )
                .await
            }
            _ => Err(BedrockAgentError::Config {
                field: "model.provider",
                value: "(not bedrock-agent)".into(),
                reason: "the agent's provider is not bedrock-agent".into(),
            }),
        }
    }

    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    pub fn agent_alias_id(&self) -> &str {
        &self.agent_alias_id
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// A name for traces and verdicts, e.g. `bedrock-agent:SUPPAGT001/PRODALIAS1`.
    pub fn model_name(&self) -> String {
        format!("bedrock-agent:{}/{}", self.agent_id, self.agent_alias_id)
    }

    /// Runs one invocation to its end: Bedrock's answer, a stop by `check`, or an error. On
    /// error the [`RunFailure`] carries what was gathered so far (trace, calls, egress).
    pub async fn run(
        &self,
        req: &RemoteInvocation<'_>,
        ctx: &ToolContext<'_>,
        tools: &dyn ToolRunner,
        mut check: Option<&mut dyn StepCheck>,
    ) -> Result<RemoteOutcome, RunFailure> {
        let mut out = RemoteOutcome::default();
        let fail = |out: RemoteOutcome, error: BedrockAgentError| RunFailure {
            error,
            partial: Box::new(out),
        };
        if let Err(e) = validate(req) {
            return Err(fail(out, e));
        }
        let mut envelope = Envelope::new(&self.agent_id, &self.agent_alias_id, req.session_id);
        let mut completion: Vec<u8> = Vec::new();
        let mut results: Option<(String, Vec<bt::InvocationResultMember>)> = None;
        loop {
            out.round_trips += 1;
            let round = out.round_trips;
            let call = self.round_trip(
                req,
                results.take(),
                &mut out,
                &mut envelope,
                &mut completion,
            );
            let end = match tokio::time::timeout(self.timeout, call).await {
                Ok(Ok(end)) => end,
                Ok(Err(e)) => return Err(fail(out, e)),
                Err(_) => {
                    let e = BedrockAgentError::Timeout {
                        after: self.timeout,
                        round_trip: round,
                    };
                    return Err(fail(out, e));
                }
            };
            let payload = match end {
                StreamEnd::Answered => break,
                StreamEnd::ReturnedControl(p) => p,
            };
            out.returned_control.push(trace::return_control(&payload));
            if out.round_trips >= req.max_round_trips {
                // The results could not be sent back: nothing of this round runs.
                let e = BedrockAgentError::TooManyRoundTrips {
                    limit: req.max_round_trips,
                };
                return Err(fail(out, e));
            }
            let (invocation_id, calls) = match control::returned_calls(&payload, req.action_groups)
            {
                Ok(c) => c,
                Err(e) => return Err(fail(out, e)),
            };
            let mut members = Vec::with_capacity(calls.len());
            for (n, returned) in calls.iter().enumerate() {
                let trace_id = control::trace_id_for(&out.trace, &invocation_id, n);
                out.trace.push(envelope.wrap(
                    control::invocation_input(returned, &trace_id, &invocation_id),
                    &now_rfc3339(),
                ));
                let started = Instant::now();
                let output = match tools.run(ctx, &returned.call).await {
                    Ok(o) => o,
                    Err(source) => {
                        out.trace.push(envelope.wrap(
                            control::failure(&trace_id, 424, &source.to_string()),
                            &now_rfc3339(),
                        ));
                        out.tool_calls.push(returned.call.clone());
                        let e = BedrockAgentError::Tool {
                            action_group: returned.call.action_group.clone(),
                            source,
                        };
                        return Err(fail(out, e));
                    }
                };
                let ms = started.elapsed().as_millis() as u64;
                out.tool_calls.push(returned.call.clone());
                out.egress.extend(output.egress.iter().cloned());
                out.notes.extend(output.notes.iter().cloned());
                out.trace.push(envelope.wrap(
                    control::observation(&trace_id, &output.text, ms),
                    &now_rfc3339(),
                ));
                if let Some(stop) = step_check(&mut check, &out.trace, &returned.call, &output) {
                    // The output never goes back to Bedrock; the trace says so, as Warden's
                    // own loop does.
                    if let Some(last) = out.trace.last_mut() {
                        *last = envelope.wrap(
                            control::observation(
                                &trace_id,
                                "[withheld: the invocation was stopped]",
                                ms,
                            ),
                            &now_rfc3339(),
                        );
                    }
                    out.trace.push(envelope.wrap(
                        control::failure(&trace_id, 403, &stop.message),
                        &now_rfc3339(),
                    ));
                    out.stopped = Some(stop);
                    out.completion = String::from_utf8_lossy(&completion).into_owned();
                    return Ok(out);
                }
                let raw = output.text;
                let mut text = raw.clone();
                if let Some(screen) = req.screen {
                    let screened = screen.screen(&text, ScreenSource::ToolOutput, req.instructions);
                    if screened.blocked {
                        if let Some(last) = out.trace.last_mut() {
                            *last = envelope.wrap(
                                control::observation(&trace_id, "[withheld by guardrail]", ms),
                                &now_rfc3339(),
                            );
                        }
                        out.trace.push(envelope.wrap(
                            control::guardrail(&trace_id, screened.assessments.clone()),
                            &now_rfc3339(),
                        ));
                        out.blocked = Some(screened.rules);
                        out.completion = screened.blocked_message;
                        return Ok(out);
                    }
                    out.fired.extend(screened.rules.iter().cloned());
                    text = screened.text;
                    if text != raw {
                        // The trace records what went back to the model, as Warden's own loop.
                        if let Some(last) = out.trace.last_mut() {
                            *last = envelope
                                .wrap(control::observation(&trace_id, &text, ms), &now_rfc3339());
                        }
                    }
                }
                match control::result_member(returned, &text) {
                    Ok(m) => members.push(m),
                    Err(e) => return Err(fail(out, e)),
                }
            }
            results = Some((invocation_id, members));
        }
        match String::from_utf8(completion) {
            Ok(text) => out.completion = text,
            Err(e) => {
                let err = BedrockAgentError::MalformedStream(format!(
                    "the answer chunks are not UTF-8 (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ));
                return Err(fail(out, err));
            }
        }
        Ok(out)
    }

    /// One InvokeAgent call and its whole response stream. Trace parts are recorded as they
    /// arrive, so a timeout or a broken stream keeps what came before it.
    async fn round_trip(
        &self,
        req: &RemoteInvocation<'_>,
        results: Option<(String, Vec<bt::InvocationResultMember>)>,
        out: &mut RemoteOutcome,
        envelope: &mut Envelope,
        completion: &mut Vec<u8>,
    ) -> Result<StreamEnd, BedrockAgentError> {
        let to_map = |m: &BTreeMap<String, String>| -> Option<HashMap<String, String>> {
            (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        };
        let mut state = bt::SessionState::builder()
            .set_session_attributes(to_map(req.session_attributes))
            .set_prompt_session_attributes(to_map(req.prompt_session_attributes));
        let resuming = results.is_some();
        if let Some((id, members)) = results {
            state = state
                .invocation_id(id)
                .set_return_control_invocation_results(Some(members));
        }
        let mut call = self
            .client
            .invoke_agent()
            .agent_id(&self.agent_id)
            .agent_alias_id(&self.agent_alias_id)
            .session_id(req.session_id)
            .enable_trace(true)
            .end_session(req.end_session)
            .session_state(state.build());
        // Bedrock ignores inputText when results are present; it is not sent again.
        if !resuming {
            call = call.input_text(req.input_text);
        }
        let mut response = call.send().await.map_err(error::from_invoke)?;
        out.session_id = Some(response.session_id.clone());
        let mut returned: Option<bt::ReturnControlPayload> = None;
        loop {
            let event = response
                .completion
                .recv()
                .await
                .map_err(error::from_stream)?;
            let Some(event) = event else { break };
            match event {
                bt::ResponseStream::Chunk(part) => {
                    if let Some(bytes) = &part.bytes {
                        completion.extend_from_slice(bytes.as_ref());
                    }
                }
                bt::ResponseStream::Trace(part) => {
                    let value = trace::trace_part(&part);
                    envelope.follow(&value);
                    out.trace.push(value);
                }
                bt::ResponseStream::ReturnControl(payload) => {
                    if returned.is_some() {
                        return Err(BedrockAgentError::MalformedStream(
                            "two returnControl events in one response stream".into(),
                        ));
                    }
                    returned = Some(payload);
                }
                bt::ResponseStream::Files(files) => {
                    let names: Vec<&str> = files
                        .files
                        .as_deref()
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|f| f.name.as_deref())
                        .collect();
                    out.notes.push(Reason {
                        rule: "bedrock-agent.files-ignored".into(),
                        message: format!(
                            "Bedrock sent {} generated file(s) that proxy mode does not return",
                            names.len()
                        ),
                        evidence: names.iter().map(|n| format!("file:{n}")).collect(),
                    });
                }
                other => {
                    tracing::debug!(event = ?other, "unknown InvokeAgent stream event ignored");
                    out.notes.push(Reason {
                        rule: "bedrock-agent.unknown-event".into(),
                        message: "Bedrock sent a stream event this SDK version does not know"
                            .into(),
                        evidence: Vec::new(),
                    });
                }
            }
        }
        Ok(match returned {
            Some(p) => StreamEnd::ReturnedControl(p),
            None => StreamEnd::Answered,
        })
    }
}

fn step_check(
    check: &mut Option<&mut dyn StepCheck>,
    trace: &[Value],
    call: &ToolCall,
    output: &ToolOutput,
) -> Option<Stop> {
    check
        .as_mut()
        .and_then(|c| c.after_tool(trace, call, output))
}

/// Checks the request against InvokeAgent's documented rules before anything is sent.
fn validate(req: &RemoteInvocation<'_>) -> Result<(), BedrockAgentError> {
    let s = req.session_id;
    if !(2..=100).contains(&s.len())
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
    {
        return Err(BedrockAgentError::InvalidRequest {
            field: "sessionId",
            value: s.to_string(),
            reason: "must be 2 to 100 characters of [0-9a-zA-Z._:-]",
        });
    }
    if req.max_round_trips == 0 {
        return Err(BedrockAgentError::InvalidRequest {
            field: "max_round_trips",
            value: "0".into(),
            reason: "must be at least 1",
        });
    }
    Ok(())
}
