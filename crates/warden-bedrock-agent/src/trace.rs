//! Converts the SDK's decoded trace types back into Bedrock's documented `TracePart` JSON, so
//! the trace parser that reads Warden's own traces reads Bedrock's too. Members are written
//! only when present (absent stays absent, an empty list stays an empty list); union members
//! this SDK version does not know become `{"unknown": "<UnionName>"}` instead of failing.

use std::collections::HashMap;

use aws_sdk_bedrockagentruntime::types as bt;
use aws_smithy_types::{DateTime, Document, Number};
use base64::Engine;
use serde_json::{json, Map, Value};

/// A JSON object under construction: members are added only when they have a value.
#[derive(Debug, Default)]
pub(crate) struct Obj(Map<String, Value>);

impl Obj {
    pub(crate) fn new() -> Self {
        Obj(Map::new())
    }

    /// Adds `key` when `value` is `Some`.
    pub(crate) fn opt<V: Into<Value>>(mut self, key: &str, value: Option<V>) -> Self {
        if let Some(v) = value {
            self.0.insert(key.to_string(), v.into());
        }
        self
    }

    /// Adds `key` unconditionally.
    pub(crate) fn set<V: Into<Value>>(mut self, key: &str, value: V) -> Self {
        self.0.insert(key.to_string(), value.into());
        self
    }

    pub(crate) fn build(self) -> Value {
        Value::Object(self.0)
    }
}

/// The marker for a union member this SDK version could not decode.
fn unknown(union: &str) -> Value {
    json!({ "unknown": union })
}

fn s(v: &Option<String>) -> Option<&str> {
    v.as_deref()
}

fn list<T>(v: &Option<Vec<T>>, f: impl Fn(&T) -> Value) -> Option<Value> {
    v.as_ref()
        .map(|items| Value::Array(items.iter().map(f).collect()))
}

fn strings(v: &Option<Vec<String>>) -> Option<Value> {
    list(v, |x| Value::String(x.clone()))
}

/// RFC 3339 in UTC, with the fraction in groups of three digits as Bedrock writes it
/// (`2026-11-21T10:15:01.020Z`; none when the instant is a whole second).
pub(crate) fn time(t: &DateTime) -> Value {
    let nanos = i128::from(t.secs()) * 1_000_000_000 + i128::from(t.subsec_nanos());
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        // Out of the representable range: keep the instant as epoch seconds.
        return json!(t.as_secs_f64());
    };
    let sub = t.subsec_nanos();
    let fraction = if sub == 0 {
        String::new()
    } else if sub.is_multiple_of(1_000_000) {
        format!(".{:03}", sub / 1_000_000)
    } else if sub.is_multiple_of(1_000) {
        format!(".{:06}", sub / 1_000)
    } else {
        format!(".{sub:09}")
    };
    Value::String(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    ))
}

fn b64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Converts a Smithy document (free-form metadata) to JSON; non-finite floats become `null`.
pub(crate) fn document(doc: &Document) -> Value {
    match doc {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => Value::Array(a.iter().map(document).collect()),
        Document::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), document(v))).collect())
        }
    }
}

/// One `TracePart` event payload in the documented JSON shape.
pub fn trace_part(p: &bt::TracePart) -> Value {
    Obj::new()
        .opt("agentId", s(&p.agent_id))
        .opt("agentAliasId", s(&p.agent_alias_id))
        .opt("sessionId", s(&p.session_id))
        .opt("agentVersion", s(&p.agent_version))
        .opt("eventTime", p.event_time.as_ref().map(time))
        .opt("callerChain", list(&p.caller_chain, caller))
        .opt("collaboratorName", s(&p.collaborator_name))
        .opt("trace", p.trace.as_ref().map(trace))
        .build()
}

fn caller(c: &bt::Caller) -> Value {
    match c {
        bt::Caller::AgentAliasArn(arn) => json!({ "agentAliasArn": arn }),
        _ => unknown("Caller"),
    }
}

/// The `Trace` union: exactly one member.
pub fn trace(t: &bt::Trace) -> Value {
    match t {
        bt::Trace::OrchestrationTrace(o) => json!({ "orchestrationTrace": orchestration(o) }),
        bt::Trace::PreProcessingTrace(p) => json!({ "preProcessingTrace": pre_processing(p) }),
        bt::Trace::PostProcessingTrace(p) => {
            json!({ "postProcessingTrace": post_processing(p) })
        }
        bt::Trace::GuardrailTrace(g) => json!({ "guardrailTrace": guardrail(g) }),
        bt::Trace::FailureTrace(f) => json!({ "failureTrace": failure(f) }),
        bt::Trace::CustomOrchestrationTrace(c) => {
            json!({ "customOrchestrationTrace": custom_orchestration(c) })
        }
        bt::Trace::RoutingClassifierTrace(r) => {
            json!({ "routingClassifierTrace": routing_classifier(r) })
        }
        _ => unknown("Trace"),
    }
}

fn orchestration(o: &bt::OrchestrationTrace) -> Value {
    match o {
        bt::OrchestrationTrace::Rationale(r) => json!({ "rationale": rationale(r) }),
        bt::OrchestrationTrace::InvocationInput(i) => {
            json!({ "invocationInput": invocation_input(i) })
        }
        bt::OrchestrationTrace::Observation(o) => json!({ "observation": observation(o) }),
        bt::OrchestrationTrace::ModelInvocationInput(m) => {
            json!({ "modelInvocationInput": model_input(m) })
        }
        bt::OrchestrationTrace::ModelInvocationOutput(m) => {
            json!({ "modelInvocationOutput": orchestration_model_output(m) })
        }
        _ => unknown("OrchestrationTrace"),
    }
}

fn pre_processing(p: &bt::PreProcessingTrace) -> Value {
    match p {
        bt::PreProcessingTrace::ModelInvocationInput(m) => {
            json!({ "modelInvocationInput": model_input(m) })
        }
        bt::PreProcessingTrace::ModelInvocationOutput(m) => {
            let parsed = m.parsed_response.as_ref().map(|r| {
                Obj::new()
                    .opt("isValid", r.is_valid)
                    .opt("rationale", s(&r.rationale))
                    .build()
            });
            json!({ "modelInvocationOutput": Obj::new()
                .opt("traceId", s(&m.trace_id))
                .opt("parsedResponse", parsed)
                .opt("rawResponse", m.raw_response.as_ref().map(raw_response))
                .opt("metadata", m.metadata.as_ref().map(metadata))
                .opt("reasoningContent", m.reasoning_content.as_ref().map(reasoning))
                .build() })
        }
        _ => unknown("PreProcessingTrace"),
    }
}

fn post_processing(p: &bt::PostProcessingTrace) -> Value {
    match p {
        bt::PostProcessingTrace::ModelInvocationInput(m) => {
            json!({ "modelInvocationInput": model_input(m) })
        }
        bt::PostProcessingTrace::ModelInvocationOutput(m) => {
            let parsed = m
                .parsed_response
                .as_ref()
                .map(|r| Obj::new().opt("text", s(&r.text)).build());
            json!({ "modelInvocationOutput": Obj::new()
                .opt("traceId", s(&m.trace_id))
                .opt("parsedResponse", parsed)
                .opt("rawResponse", m.raw_response.as_ref().map(raw_response))
                .opt("metadata", m.metadata.as_ref().map(metadata))
                .opt("reasoningContent", m.reasoning_content.as_ref().map(reasoning))
                .build() })
        }
        _ => unknown("PostProcessingTrace"),
    }
}

fn routing_classifier(r: &bt::RoutingClassifierTrace) -> Value {
    match r {
        bt::RoutingClassifierTrace::InvocationInput(i) => {
            json!({ "invocationInput": invocation_input(i) })
        }
        bt::RoutingClassifierTrace::Observation(o) => json!({ "observation": observation(o) }),
        bt::RoutingClassifierTrace::ModelInvocationInput(m) => {
            json!({ "modelInvocationInput": model_input(m) })
        }
        bt::RoutingClassifierTrace::ModelInvocationOutput(m) => {
            json!({ "modelInvocationOutput": Obj::new()
                .opt("traceId", s(&m.trace_id))
                .opt("rawResponse", m.raw_response.as_ref().map(raw_response))
                .opt("metadata", m.metadata.as_ref().map(metadata))
                .build() })
        }
        _ => unknown("RoutingClassifierTrace"),
    }
}

fn custom_orchestration(c: &bt::CustomOrchestrationTrace) -> Value {
    Obj::new()
        .opt("traceId", s(&c.trace_id))
        .opt(
            "event",
            c.event
                .as_ref()
                .map(|e| Obj::new().opt("text", s(&e.text)).build()),
        )
        .build()
}

fn rationale(r: &bt::Rationale) -> Value {
    Obj::new()
        .opt("traceId", s(&r.trace_id))
        .opt("text", s(&r.text))
        .build()
}

fn parameter(p: &bt::Parameter) -> Value {
    Obj::new()
        .opt("name", s(&p.name))
        .opt("type", s(&p.r#type))
        .opt("value", s(&p.value))
        .build()
}

fn invocation_input(i: &bt::InvocationInput) -> Value {
    let action_group = i.action_group_invocation_input.as_ref().map(|a| {
        // In the trace, `requestBody.content[mediaType]` is directly a list of parameters.
        let body = a.request_body.as_ref().map(|b| {
            Obj::new()
                .opt(
                    "content",
                    b.content
                        .as_ref()
                        .map(|c| media_map(c, |ps| list_of(ps, parameter))),
                )
                .build()
        });
        Obj::new()
            .opt("actionGroupName", s(&a.action_group_name))
            .opt("verb", s(&a.verb))
            .opt("apiPath", s(&a.api_path))
            .opt("function", s(&a.function))
            .opt("parameters", list(&a.parameters, parameter))
            .opt("requestBody", body)
            .opt(
                "executionType",
                a.execution_type.as_ref().map(|e| e.as_str()),
            )
            .opt("invocationId", s(&a.invocation_id))
            .build()
    });
    let knowledge_base = i.knowledge_base_lookup_input.as_ref().map(|k| {
        Obj::new()
            .opt("knowledgeBaseId", s(&k.knowledge_base_id))
            .opt("text", s(&k.text))
            .build()
    });
    let code = i.code_interpreter_invocation_input.as_ref().map(|c| {
        Obj::new()
            .opt("code", s(&c.code))
            .opt("files", strings(&c.files))
            .build()
    });
    let collaborator = i.agent_collaborator_invocation_input.as_ref().map(|c| {
        let input = c.input.as_ref().map(|p| {
            Obj::new()
                .opt("type", p.r#type.as_ref().map(|t| t.as_str()))
                .opt("text", s(&p.text))
                .opt(
                    "returnControlResults",
                    p.return_control_results.as_ref().map(|r| {
                        Obj::new()
                            .opt("invocationId", s(&r.invocation_id))
                            .opt(
                                "returnControlInvocationResults",
                                list(&r.return_control_invocation_results, invocation_result),
                            )
                            .build()
                    }),
                )
                .build()
        });
        Obj::new()
            .opt("agentCollaboratorName", s(&c.agent_collaborator_name))
            .opt(
                "agentCollaboratorAliasArn",
                s(&c.agent_collaborator_alias_arn),
            )
            .opt("input", input)
            .build()
    });
    Obj::new()
        .opt("traceId", s(&i.trace_id))
        .opt(
            "invocationType",
            i.invocation_type.as_ref().map(|t| t.as_str()),
        )
        .opt("actionGroupInvocationInput", action_group)
        .opt("knowledgeBaseLookupInput", knowledge_base)
        .opt("codeInterpreterInvocationInput", code)
        .opt("agentCollaboratorInvocationInput", collaborator)
        .build()
}

fn list_of<T>(items: &[T], f: impl Fn(&T) -> Value) -> Value {
    Value::Array(items.iter().map(f).collect())
}

fn media_map<T>(m: &HashMap<String, T>, f: impl Fn(&T) -> Value) -> Value {
    // Sorted keys, so the same event always serializes the same way.
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    Value::Object(keys.into_iter().map(|k| (k.clone(), f(&m[k]))).collect())
}

fn observation(o: &bt::Observation) -> Value {
    let action_group = o.action_group_invocation_output.as_ref().map(|a| {
        Obj::new()
            .opt("text", s(&a.text))
            .opt("metadata", a.metadata.as_ref().map(metadata))
            .build()
    });
    let knowledge_base = o.knowledge_base_lookup_output.as_ref().map(|k| {
        Obj::new()
            .opt(
                "retrievedReferences",
                list(&k.retrieved_references, retrieved_reference),
            )
            .opt("metadata", k.metadata.as_ref().map(metadata))
            .build()
    });
    let code = o.code_interpreter_invocation_output.as_ref().map(|c| {
        Obj::new()
            .opt("executionOutput", s(&c.execution_output))
            .opt("executionError", s(&c.execution_error))
            .opt("executionTimeout", c.execution_timeout)
            .opt("files", strings(&c.files))
            .opt("metadata", c.metadata.as_ref().map(metadata))
            .build()
    });
    let collaborator = o.agent_collaborator_invocation_output.as_ref().map(|c| {
        let output = c.output.as_ref().map(|p| {
            Obj::new()
                .opt("type", p.r#type.as_ref().map(|t| t.as_str()))
                .opt("text", s(&p.text))
                .opt(
                    "returnControlPayload",
                    p.return_control_payload.as_ref().map(return_control),
                )
                .build()
        });
        Obj::new()
            .opt("agentCollaboratorName", s(&c.agent_collaborator_name))
            .opt(
                "agentCollaboratorAliasArn",
                s(&c.agent_collaborator_alias_arn),
            )
            .opt("output", output)
            .opt("metadata", c.metadata.as_ref().map(metadata))
            .build()
    });
    let final_response = o.final_response.as_ref().map(|f| {
        Obj::new()
            .opt("text", s(&f.text))
            .opt("metadata", f.metadata.as_ref().map(metadata))
            .build()
    });
    let reprompt = o.reprompt_response.as_ref().map(|r| {
        Obj::new()
            .opt("text", s(&r.text))
            .opt("source", r.source.as_ref().map(|x| x.as_str()))
            .build()
    });
    Obj::new()
        .opt("traceId", s(&o.trace_id))
        .opt("type", o.r#type.as_ref().map(|t| t.as_str()))
        .opt("actionGroupInvocationOutput", action_group)
        .opt("knowledgeBaseLookupOutput", knowledge_base)
        .opt("codeInterpreterInvocationOutput", code)
        .opt("agentCollaboratorInvocationOutput", collaborator)
        .opt("finalResponse", final_response)
        .opt("repromptResponse", reprompt)
        .build()
}

/// A knowledge-base reference (in `knowledgeBaseLookupOutput` and chunk citations).
pub(crate) fn retrieved_reference(r: &bt::RetrievedReference) -> Value {
    let content = r.content.as_ref().map(|c| {
        Obj::new()
            .opt("type", c.r#type.as_ref().map(|t| t.as_str()))
            .set("text", c.text.as_str())
            .opt("byteContent", s(&c.byte_content))
            .opt(
                "video",
                c.video.as_ref().map(|v| {
                    Obj::new()
                        .set("s3Uri", v.s3_uri.as_str())
                        .opt("summary", s(&v.summary))
                        .build()
                }),
            )
            .opt(
                "audio",
                c.audio.as_ref().map(|a| {
                    Obj::new()
                        .set("s3Uri", a.s3_uri.as_str())
                        .opt("transcription", s(&a.transcription))
                        .build()
                }),
            )
            .opt(
                "row",
                list(&c.row, |col| {
                    Obj::new()
                        .opt("columnName", s(&col.column_name))
                        .opt("columnValue", s(&col.column_value))
                        .opt("type", col.r#type.as_ref().map(|t| t.as_str()))
                        .build()
                }),
            )
            .build()
    });
    let location = r.location.as_ref().map(|l| {
        let one = |key: &str, v: &Option<String>| s(v).map(|x| json!({ key: x }));
        Obj::new()
            .set("type", l.r#type.as_str())
            .opt(
                "s3Location",
                l.s3_location.as_ref().and_then(|x| one("uri", &x.uri)),
            )
            .opt(
                "webLocation",
                l.web_location.as_ref().and_then(|x| one("url", &x.url)),
            )
            .opt(
                "confluenceLocation",
                l.confluence_location
                    .as_ref()
                    .and_then(|x| one("url", &x.url)),
            )
            .opt(
                "salesforceLocation",
                l.salesforce_location
                    .as_ref()
                    .and_then(|x| one("url", &x.url)),
            )
            .opt(
                "sharePointLocation",
                l.share_point_location
                    .as_ref()
                    .and_then(|x| one("url", &x.url)),
            )
            .opt(
                "customDocumentLocation",
                l.custom_document_location
                    .as_ref()
                    .and_then(|x| one("id", &x.id)),
            )
            .opt(
                "kendraDocumentLocation",
                l.kendra_document_location
                    .as_ref()
                    .and_then(|x| one("uri", &x.uri)),
            )
            .opt(
                "sqlLocation",
                l.sql_location.as_ref().and_then(|x| one("query", &x.query)),
            )
            .opt(
                "oneDriveLocation",
                l.one_drive_location
                    .as_ref()
                    .and_then(|x| one("url", &x.url)),
            )
            .opt(
                "googleDriveLocation",
                l.google_drive_location
                    .as_ref()
                    .and_then(|x| one("url", &x.url)),
            )
            .build()
    });
    Obj::new()
        .opt("content", content)
        .opt("location", location)
        .opt(
            "metadata",
            r.metadata.as_ref().map(|m| media_map(m, document)),
        )
        .build()
}

fn model_input(m: &bt::ModelInvocationInput) -> Value {
    let inference = m.inference_configuration.as_ref().map(|c| {
        Obj::new()
            .opt("temperature", c.temperature.map(f64::from).map(float))
            .opt("topP", c.top_p.map(f64::from).map(float))
            .opt("topK", c.top_k)
            .opt("maximumLength", c.maximum_length)
            .opt("stopSequences", strings(&c.stop_sequences))
            .build()
    });
    Obj::new()
        .opt("traceId", s(&m.trace_id))
        .opt("text", s(&m.text))
        .opt("type", m.r#type.as_ref().map(|t| t.as_str()))
        .opt("foundationModel", s(&m.foundation_model))
        .opt("inferenceConfiguration", inference)
        .opt("overrideLambda", s(&m.override_lambda))
        .opt("parserMode", m.parser_mode.as_ref().map(|t| t.as_str()))
        .opt(
            "promptCreationMode",
            m.prompt_creation_mode.as_ref().map(|t| t.as_str()),
        )
        .build()
}

/// An `f32` widened to JSON without the binary noise of the widening (0.7f32 → 0.7).
fn float(f: f64) -> Value {
    let short = format!("{}", f as f32);
    short
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn orchestration_model_output(m: &bt::OrchestrationModelInvocationOutput) -> Value {
    Obj::new()
        .opt("traceId", s(&m.trace_id))
        .opt("rawResponse", m.raw_response.as_ref().map(raw_response))
        .opt("metadata", m.metadata.as_ref().map(metadata))
        .opt(
            "reasoningContent",
            m.reasoning_content.as_ref().map(reasoning),
        )
        .build()
}

fn raw_response(r: &bt::RawResponse) -> Value {
    Obj::new().opt("content", s(&r.content)).build()
}

fn reasoning(r: &bt::ReasoningContentBlock) -> Value {
    match r {
        bt::ReasoningContentBlock::ReasoningText(t) => json!({ "reasoningText": Obj::new()
            .set("text", t.text.as_str())
            .opt("signature", s(&t.signature))
            .build() }),
        bt::ReasoningContentBlock::RedactedContent(b) => {
            json!({ "redactedContent": b64(b.as_ref()) })
        }
        _ => unknown("ReasoningContentBlock"),
    }
}

/// The shared `Metadata` shape.
pub(crate) fn metadata(m: &bt::Metadata) -> Value {
    let usage = m.usage.as_ref().map(|u| {
        Obj::new()
            .opt("inputTokens", u.input_tokens)
            .opt("outputTokens", u.output_tokens)
            .build()
    });
    Obj::new()
        .opt("clientRequestId", s(&m.client_request_id))
        .opt("startTime", m.start_time.as_ref().map(time))
        .opt("endTime", m.end_time.as_ref().map(time))
        .opt("totalTimeMs", m.total_time_ms)
        .opt("operationTotalTimeMs", m.operation_total_time_ms)
        .opt("usage", usage)
        .build()
}

fn guardrail(g: &bt::GuardrailTrace) -> Value {
    Obj::new()
        .opt("traceId", s(&g.trace_id))
        .opt("action", g.action.as_ref().map(|a| a.as_str()))
        .opt("inputAssessments", list(&g.input_assessments, assessment))
        .opt("outputAssessments", list(&g.output_assessments, assessment))
        .opt("metadata", g.metadata.as_ref().map(metadata))
        .build()
}

fn assessment(a: &bt::GuardrailAssessment) -> Value {
    let topic = a.topic_policy.as_ref().map(|t| {
        Obj::new()
            .opt(
                "topics",
                list(&t.topics, |x| {
                    Obj::new()
                        .opt("name", s(&x.name))
                        .opt("type", x.r#type.as_ref().map(|v| v.as_str()))
                        .opt("action", x.action.as_ref().map(|v| v.as_str()))
                        .build()
                }),
            )
            .build()
    });
    let content = a.content_policy.as_ref().map(|c| {
        Obj::new()
            .opt(
                "filters",
                list(&c.filters, |x| {
                    Obj::new()
                        .opt("type", x.r#type.as_ref().map(|v| v.as_str()))
                        .opt("confidence", x.confidence.as_ref().map(|v| v.as_str()))
                        .opt("action", x.action.as_ref().map(|v| v.as_str()))
                        .build()
                }),
            )
            .build()
    });
    let word = a.word_policy.as_ref().map(|w| {
        Obj::new()
            .opt(
                "customWords",
                list(&w.custom_words, |x| {
                    Obj::new()
                        .opt("match", s(&x.r#match))
                        .opt("action", x.action.as_ref().map(|v| v.as_str()))
                        .build()
                }),
            )
            .opt(
                "managedWordLists",
                list(&w.managed_word_lists, |x| {
                    Obj::new()
                        .opt("match", s(&x.r#match))
                        .opt("type", x.r#type.as_ref().map(|v| v.as_str()))
                        .opt("action", x.action.as_ref().map(|v| v.as_str()))
                        .build()
                }),
            )
            .build()
    });
    let sensitive = a.sensitive_information_policy.as_ref().map(|p| {
        Obj::new()
            .opt(
                "piiEntities",
                list(&p.pii_entities, |x| {
                    Obj::new()
                        .opt("type", x.r#type.as_ref().map(|v| v.as_str()))
                        .opt("match", s(&x.r#match))
                        .opt("action", x.action.as_ref().map(|v| v.as_str()))
                        .build()
                }),
            )
            .opt(
                "regexes",
                list(&p.regexes, |x| {
                    Obj::new()
                        .opt("name", s(&x.name))
                        .opt("regex", s(&x.regex))
                        .opt("match", s(&x.r#match))
                        .opt("action", x.action.as_ref().map(|v| v.as_str()))
                        .build()
                }),
            )
            .build()
    });
    Obj::new()
        .opt("topicPolicy", topic)
        .opt("contentPolicy", content)
        .opt("wordPolicy", word)
        .opt("sensitiveInformationPolicy", sensitive)
        .build()
}

fn failure(f: &bt::FailureTrace) -> Value {
    Obj::new()
        .opt("traceId", s(&f.trace_id))
        .opt("failureCode", f.failure_code)
        .opt("failureReason", s(&f.failure_reason))
        .opt("metadata", f.metadata.as_ref().map(metadata))
        .build()
}

/// A `returnControl` payload (`ReturnControlPayload`) in its documented JSON shape.
pub fn return_control(r: &bt::ReturnControlPayload) -> Value {
    Obj::new()
        .opt("invocationId", s(&r.invocation_id))
        .opt(
            "invocationInputs",
            list(&r.invocation_inputs, invocation_input_member),
        )
        .build()
}

fn api_parameter(p: &bt::ApiParameter) -> Value {
    Obj::new()
        .opt("name", s(&p.name))
        .opt("type", s(&p.r#type))
        .opt("value", s(&p.value))
        .build()
}

fn function_parameter(p: &bt::FunctionParameter) -> Value {
    Obj::new()
        .opt("name", s(&p.name))
        .opt("type", s(&p.r#type))
        .opt("value", s(&p.value))
        .build()
}

fn invocation_input_member(m: &bt::InvocationInputMember) -> Value {
    match m {
        bt::InvocationInputMember::ApiInvocationInput(a) => {
            let body = a.request_body.as_ref().map(|b| {
                Obj::new()
                    .opt(
                        "content",
                        b.content.as_ref().map(|c| {
                            media_map(c, |p| {
                                Obj::new()
                                    .opt("properties", list(&p.properties, parameter))
                                    .build()
                            })
                        }),
                    )
                    .build()
            });
            json!({ "apiInvocationInput": Obj::new()
                .set("actionGroup", a.action_group.as_str())
                .opt("httpMethod", s(&a.http_method))
                .opt("apiPath", s(&a.api_path))
                .opt("actionInvocationType", a.action_invocation_type.as_ref().map(|t| t.as_str()))
                .opt("agentId", s(&a.agent_id))
                .opt("collaboratorName", s(&a.collaborator_name))
                .opt("parameters", list(&a.parameters, api_parameter))
                .opt("requestBody", body)
                .build() })
        }
        bt::InvocationInputMember::FunctionInvocationInput(f) => {
            json!({ "functionInvocationInput": Obj::new()
                .set("actionGroup", f.action_group.as_str())
                .opt("function", s(&f.function))
                .opt("actionInvocationType", f.action_invocation_type.as_ref().map(|t| t.as_str()))
                .opt("agentId", s(&f.agent_id))
                .opt("collaboratorName", s(&f.collaborator_name))
                .opt("parameters", list(&f.parameters, function_parameter))
                .build() })
        }
        _ => unknown("InvocationInputMember"),
    }
}

fn invocation_result(r: &bt::InvocationResultMember) -> Value {
    let body = |b: &Option<HashMap<String, bt::ContentBody>>| {
        b.as_ref().map(|m| {
            media_map(m, |c| {
                Obj::new()
                    .opt("body", s(&c.body))
                    .opt(
                        "images",
                        list(&c.images, |i| {
                            let source = i.source.as_ref().map(|src| match src {
                                bt::ImageInputSource::Bytes(b) => {
                                    json!({ "bytes": b64(b.as_ref()) })
                                }
                                _ => unknown("ImageInputSource"),
                            });
                            Obj::new()
                                .set("format", i.format.as_str())
                                .opt("source", source)
                                .build()
                        }),
                    )
                    .build()
            })
        })
    };
    match r {
        bt::InvocationResultMember::ApiResult(a) => json!({ "apiResult": Obj::new()
            .set("actionGroup", a.action_group.as_str())
            .opt("httpMethod", s(&a.http_method))
            .opt("apiPath", s(&a.api_path))
            .opt("confirmationState", a.confirmation_state.as_ref().map(|x| x.as_str()))
            .opt("responseState", a.response_state.as_ref().map(|x| x.as_str()))
            .opt("httpStatusCode", a.http_status_code)
            .opt("responseBody", body(&a.response_body))
            .opt("agentId", s(&a.agent_id))
            .build() }),
        bt::InvocationResultMember::FunctionResult(f) => json!({ "functionResult": Obj::new()
            .set("actionGroup", f.action_group.as_str())
            .opt("function", s(&f.function))
            .opt("confirmationState", f.confirmation_state.as_ref().map(|x| x.as_str()))
            .opt("responseState", f.response_state.as_ref().map(|x| x.as_str()))
            .opt("responseBody", body(&f.response_body))
            .opt("agentId", s(&f.agent_id))
            .build() }),
        _ => unknown("InvocationResultMember"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_orchestration_invocation_input_keeps_the_trace_shape() {
        let part = bt::TracePart::builder()
            .agent_id("SUPPAGT001")
            .agent_alias_id("PRODALIAS1")
            .session_id("sess-7f3a9c")
            .agent_version("3")
            .event_time(DateTime::from_millis(1_795_255_203_415))
            .caller_chain(bt::Caller::AgentAliasArn(
                "arn:aws:bedrock:us-east-1:123456789012:agent-alias/SUPPAGT001/PRODALIAS1".into(),
            ))
            .trace(bt::Trace::OrchestrationTrace(
                bt::OrchestrationTrace::InvocationInput(
                    bt::InvocationInput::builder()
                        .trace_id("t-0")
                        .invocation_type(bt::InvocationType::ActionGroup)
                        .action_group_invocation_input(
                            bt::ActionGroupInvocationInput::builder()
                                .action_group_name("OrderApi")
                                .verb("POST")
                                .api_path("/orders/{orderId}/refund")
                                .parameters(
                                    bt::Parameter::builder()
                                        .name("orderId")
                                        .r#type("string")
                                        .value("112-4471")
                                        .build(),
                                )
                                .request_body(
                                    bt::RequestBody::builder()
                                        .content(
                                            "application/json",
                                            vec![bt::Parameter::builder()
                                                .name("amount")
                                                .r#type("number")
                                                .value("49.99")
                                                .build()],
                                        )
                                        .build(),
                                )
                                .execution_type(bt::ExecutionType::ReturnControl)
                                .invocation_id("inv-1")
                                .build(),
                        )
                        .build(),
                ),
            ))
            .build();
        assert_eq!(
            trace_part(&part),
            json!({
                "agentId": "SUPPAGT001", "agentAliasId": "PRODALIAS1", "sessionId": "sess-7f3a9c",
                "agentVersion": "3", "eventTime": "2026-11-21T10:00:03.415Z",
                "callerChain": [{"agentAliasArn": "arn:aws:bedrock:us-east-1:123456789012:agent-alias/SUPPAGT001/PRODALIAS1"}],
                "trace": {"orchestrationTrace": {"invocationInput": {
                    "traceId": "t-0", "invocationType": "ACTION_GROUP",
                    "actionGroupInvocationInput": {
                        "actionGroupName": "OrderApi", "verb": "POST",
                        "apiPath": "/orders/{orderId}/refund",
                        "parameters": [{"name": "orderId", "type": "string", "value": "112-4471"}],
                        "requestBody": {"content": {"application/json": [
                            {"name": "amount", "type": "number", "value": "49.99"}]}},
                        "executionType": "RETURN_CONTROL", "invocationId": "inv-1"}}}}
            })
        );
    }

    #[test]
    fn times_keep_millisecond_groups() {
        assert_eq!(
            time(&DateTime::from_millis(1_795_255_201_020)),
            json!("2026-11-21T10:00:01.020Z")
        );
        assert_eq!(
            time(&DateTime::from_secs(1_795_255_201)),
            json!("2026-11-21T10:00:01Z")
        );
        assert_eq!(
            time(&DateTime::from_secs_and_nanos(1_795_255_201, 1_500)),
            json!("2026-11-21T10:00:01.000001500Z")
        );
    }

    #[test]
    fn floats_widen_without_noise() {
        assert_eq!(float(f64::from(0.7f32)), json!(0.7));
        assert_eq!(float(f64::from(1.0f32)), json!(1.0));
    }
}
