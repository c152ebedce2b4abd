//! Return of control: turns the invocations Bedrock hands back into Warden [`ToolCall`]s, the
//! tool outputs into `returnControlInvocationResults`, and records each call Warden ran as the
//! `invocationInput` + `observation` trace parts Bedrock would have written, marked
//! `"executedBy": "warden"`.

use std::collections::HashMap;

use aws_sdk_bedrockagentruntime::types as bt;
use serde_json::{json, Map, Value};
use warden_agent::ToolCall;

use crate::error::BedrockAgentError;
use crate::trace::Obj;

/// The `TracePart` member that marks parts Warden wrote for calls it ran itself.
pub const EXECUTED_BY_KEY: &str = "executedBy";
/// Its value.
pub const EXECUTED_BY_WARDEN: &str = "warden";

/// The media type whose properties become the call's request body.
const JSON_MEDIA: &str = "application/json";

/// One handed-back invocation, ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Returned {
    pub call: ToolCall,
    /// `true` for `apiInvocationInput`, `false` for `functionInvocationInput`.
    pub api: bool,
    /// Parameters as Bedrock sent them (`{name, type, value}`), for the trace.
    pub parameters: Vec<Value>,
    /// Request-body properties per media type, for the trace (a list per media type).
    pub body: Option<Map<String, Value>>,
}

fn malformed(what: String) -> BedrockAgentError {
    BedrockAgentError::MalformedReturnControl(what)
}

/// Name, type and value of one parameter; a parameter without a name cannot be passed on.
fn param(
    at: &str,
    name: &Option<String>,
    ty: &Option<String>,
    value: &Option<String>,
) -> Result<(String, Value), BedrockAgentError> {
    let Some(name) = name.as_deref().filter(|n| !n.is_empty()) else {
        return Err(malformed(format!("{at} has no name")));
    };
    let mut v = Obj::new().set("name", name);
    if let Some(t) = ty {
        v = v.set("type", t.as_str());
    }
    v = v.set("value", value.as_deref().unwrap_or_default());
    Ok((name.to_string(), v.build()))
}

/// A string property value read as its declared JSON type (Bedrock sends every value as a
/// string); a value that does not parse as its type stays a string.
fn typed(ty: Option<&str>, value: &str) -> Value {
    match ty.map(str::to_ascii_lowercase).as_deref() {
        Some("number") | Some("integer") => value
            .parse::<serde_json::Number>()
            .map(Value::Number)
            .unwrap_or_else(|_| Value::String(value.to_string())),
        Some("boolean") => match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(value.to_string()),
        },
        Some("array") | Some("object") => serde_json::from_str::<Value>(value)
            .ok()
            .filter(|v| v.is_array() || v.is_object())
            .unwrap_or_else(|| Value::String(value.to_string())),
        _ => Value::String(value.to_string()),
    }
}

/// Checks the payload and converts every invocation input. Nothing runs unless all of them
/// are well-formed, allowed for this agent and need no user confirmation.
pub(crate) fn returned_calls(
    payload: &bt::ReturnControlPayload,
    allowed: &[String],
) -> Result<(String, Vec<Returned>), BedrockAgentError> {
    let id = payload
        .invocation_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed("it has no invocationId".into()))?
        .to_string();
    let inputs = payload.invocation_inputs.as_deref().unwrap_or_default();
    if inputs.is_empty() || inputs.len() > 5 {
        return Err(malformed(format!(
            "invocation {id} has {} invocationInputs (1 to 5 allowed)",
            inputs.len()
        )));
    }
    let mut calls = Vec::with_capacity(inputs.len());
    for (i, member) in inputs.iter().enumerate() {
        let at = format!("invocationInputs[{i}]");
        let (group, kind) = match member {
            bt::InvocationInputMember::ApiInvocationInput(a) => {
                (&a.action_group, a.action_invocation_type.as_ref())
            }
            bt::InvocationInputMember::FunctionInvocationInput(f) => {
                (&f.action_group, f.action_invocation_type.as_ref())
            }
            _ => {
                return Err(malformed(format!(
                    "{at} is neither apiInvocationInput nor functionInvocationInput"
                )))
            }
        };
        if group.is_empty() {
            return Err(malformed(format!("{at} has an empty actionGroup")));
        }
        if !allowed.iter().any(|g| g == group) {
            return Err(BedrockAgentError::ForbiddenActionGroup {
                action_group: group.clone(),
                allowed: allowed.to_vec(),
            });
        }
        if let Some(k) = kind {
            if !matches!(k, bt::ActionInvocationType::Result) {
                return Err(BedrockAgentError::ConfirmationRequired {
                    action_group: group.clone(),
                    invocation_type: k.as_str().to_string(),
                });
            }
        }
        calls.push(match member {
            bt::InvocationInputMember::ApiInvocationInput(a) => api_call(&at, a)?,
            // The only other member left after the check above.
            _ => match member.as_function_invocation_input() {
                Ok(f) => function_call(&at, f)?,
                Err(_) => return Err(malformed(format!("{at} has an unknown member"))),
            },
        });
    }
    Ok((id, calls))
}

fn api_call(at: &str, a: &bt::ApiInvocationInput) -> Result<Returned, BedrockAgentError> {
    let mut parameters = Vec::new();
    let mut pairs = Vec::new();
    for (j, p) in a
        .parameters
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let (name, v) = param(
            &format!("{at}.apiInvocationInput.parameters[{j}]"),
            &p.name,
            &p.r#type,
            &p.value,
        )?;
        pairs.push((name, p.value.clone().unwrap_or_default()));
        parameters.push(v);
    }
    let mut body_trace: Option<Map<String, Value>> = None;
    let mut request_body = None;
    if let Some(content) = a.request_body.as_ref().and_then(|b| b.content.as_ref()) {
        let mut media: Vec<&String> = content.keys().collect();
        media.sort();
        let mut trace = Map::new();
        for m in &media {
            let mut props = Vec::new();
            let mut object = Map::new();
            for (j, p) in content[*m]
                .properties
                .as_deref()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let (name, v) = param(
                    &format!("{at}.apiInvocationInput.requestBody.content[{m}].properties[{j}]"),
                    &p.name,
                    &p.r#type,
                    &p.value,
                )?;
                object.insert(
                    name,
                    typed(p.r#type.as_deref(), p.value.as_deref().unwrap_or_default()),
                );
                props.push(v);
            }
            // The JSON body, or the only one there is, becomes the call's request body.
            if m.as_str() == JSON_MEDIA || media.len() == 1 {
                request_body = Some(Value::Object(object));
            }
            trace.insert((*m).clone(), Value::Array(props));
        }
        body_trace = Some(trace);
    }
    Ok(Returned {
        call: ToolCall {
            action_group: a.action_group.clone(),
            api_path: a.api_path.clone(),
            http_method: a.http_method.clone(),
            function: None,
            parameters: pairs,
            request_body,
        },
        api: true,
        parameters,
        body: body_trace,
    })
}

fn function_call(at: &str, f: &bt::FunctionInvocationInput) -> Result<Returned, BedrockAgentError> {
    let mut parameters = Vec::new();
    let mut pairs = Vec::new();
    for (j, p) in f
        .parameters
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let (name, v) = param(
            &format!("{at}.functionInvocationInput.parameters[{j}]"),
            &p.name,
            &p.r#type,
            &p.value,
        )?;
        pairs.push((name, p.value.clone().unwrap_or_default()));
        parameters.push(v);
    }
    Ok(Returned {
        call: ToolCall {
            action_group: f.action_group.clone(),
            api_path: None,
            http_method: None,
            function: f.function.clone(),
            parameters: pairs,
            request_body: None,
        },
        api: false,
        parameters,
        body: None,
    })
}

/// The result sent back for one call: the handler's response body as `TEXT`.
pub(crate) fn result_member(
    r: &Returned,
    body: &str,
) -> Result<bt::InvocationResultMember, BedrockAgentError> {
    let content = HashMap::from([(
        "TEXT".to_string(),
        bt::ContentBody::builder().body(body).build(),
    )]);
    let built = if r.api {
        bt::ApiResult::builder()
            .action_group(&r.call.action_group)
            .set_api_path(r.call.api_path.clone())
            .set_http_method(r.call.http_method.clone())
            .http_status_code(200)
            .set_response_body(Some(content))
            .build()
            .map(bt::InvocationResultMember::ApiResult)
    } else {
        bt::FunctionResult::builder()
            .action_group(&r.call.action_group)
            .set_function(r.call.function.clone())
            .set_response_body(Some(content))
            .build()
            .map(bt::InvocationResultMember::FunctionResult)
    };
    built.map_err(|e| {
        malformed(format!(
            "cannot build the result for action group `{}`: {e}",
            r.call.action_group
        ))
    })
}

/// The `TracePart` envelope for a part Warden writes: Bedrock's own members (agent, alias,
/// version, session, caller chain) copied from the last part Bedrock sent, or the configured
/// ids when it sent none.
#[derive(Debug, Clone)]
pub(crate) struct Envelope(pub Map<String, Value>);

impl Envelope {
    pub(crate) fn new(agent_id: &str, alias: &str, session_id: &str) -> Self {
        let mut m = Map::new();
        m.insert("agentId".into(), json!(agent_id));
        m.insert("agentAliasId".into(), json!(alias));
        m.insert("sessionId".into(), json!(session_id));
        Envelope(m)
    }

    /// Takes the identifying members of a part Bedrock sent.
    pub(crate) fn follow(&mut self, part: &Value) {
        for key in [
            "agentId",
            "agentAliasId",
            "sessionId",
            "agentVersion",
            "callerChain",
            "collaboratorName",
        ] {
            if let Some(v) = part.get(key) {
                self.0.insert(key.into(), v.clone());
            }
        }
    }

    pub(crate) fn wrap(&self, trace: Value, event_time: &str) -> Value {
        let mut m = self.0.clone();
        m.insert("eventTime".into(), json!(event_time));
        m.insert(EXECUTED_BY_KEY.into(), json!(EXECUTED_BY_WARDEN));
        m.insert("trace".into(), trace);
        Value::Object(m)
    }
}

/// The `traceId` for Warden's parts of one call: the one Bedrock gave its own
/// `invocationInput` for this invocation id when there is one, else `<invocationId>-warden-<n>`.
pub(crate) fn trace_id_for(trace: &[Value], invocation_id: &str, n: usize) -> String {
    trace
        .iter()
        .rev()
        .filter(|p| p.get(EXECUTED_BY_KEY).is_none())
        .filter_map(|p| p.pointer("/trace/orchestrationTrace/invocationInput"))
        .find(|i| {
            i.pointer("/actionGroupInvocationInput/invocationId")
                .and_then(Value::as_str)
                == Some(invocation_id)
        })
        .and_then(|i| i.get("traceId").and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| format!("{invocation_id}-warden-{n}"))
}

/// The `invocationInput` Bedrock would have written for this call.
pub(crate) fn invocation_input(r: &Returned, trace_id: &str, invocation_id: &str) -> Value {
    let mut input = Obj::new()
        .set("actionGroupName", r.call.action_group.as_str())
        .opt("verb", r.call.http_method.as_deref())
        .opt("apiPath", r.call.api_path.as_deref())
        .opt("function", r.call.function.as_deref())
        .set("parameters", Value::Array(r.parameters.clone()));
    if let Some(body) = &r.body {
        input = input.set("requestBody", json!({ "content": body }));
    }
    let input = input
        .set("executionType", "RETURN_CONTROL")
        .set("invocationId", invocation_id)
        .build();
    json!({"orchestrationTrace": {"invocationInput": {
        "traceId": trace_id,
        "invocationType": "ACTION_GROUP",
        "actionGroupInvocationInput": input,
    }}})
}

/// The `observation` with the handler's output, as Bedrock writes a Lambda's.
pub(crate) fn observation(trace_id: &str, text: &str, total_ms: u64) -> Value {
    json!({"orchestrationTrace": {"observation": {
        "traceId": trace_id,
        "type": "ACTION_GROUP",
        "actionGroupInvocationOutput": {"text": text, "metadata": {"totalTimeMs": total_ms}},
    }}})
}

/// The `guardrailTrace` of a tool output Warden's screen blocked.
pub(crate) fn guardrail(trace_id: &str, assessments: Value) -> Value {
    json!({"guardrailTrace": {
        "traceId": format!("{trace_id}-guardrail-tool"),
        "action": "INTERVENED",
        "outputAssessments": assessments,
    }})
}

/// A `failureTrace` for a run Warden ended itself.
pub(crate) fn failure(trace_id: &str, code: u16, reason: &str) -> Value {
    json!({"failureTrace": {"traceId": trace_id, "failureCode": code, "failureReason": reason}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_payload(group: &str, kind: bt::ActionInvocationType) -> bt::ReturnControlPayload {
        bt::ReturnControlPayload::builder()
            .invocation_id("inv-1")
            .invocation_inputs(bt::InvocationInputMember::ApiInvocationInput(
                bt::ApiInvocationInput::builder()
                    .action_group(group)
                    .http_method("POST")
                    .api_path("/orders/{orderId}/refund")
                    .action_invocation_type(kind)
                    .parameters(
                        bt::ApiParameter::builder()
                            .name("orderId")
                            .r#type("string")
                            .value("112-4471")
                            .build(),
                    )
                    .request_body(
                        bt::ApiRequestBody::builder()
                            .content(
                                JSON_MEDIA,
                                bt::PropertyParameters::builder()
                                    .properties(
                                        bt::Parameter::builder()
                                            .name("amount")
                                            .r#type("number")
                                            .value("49.99")
                                            .build(),
                                    )
                                    .properties(
                                        bt::Parameter::builder()
                                            .name("notify")
                                            .r#type("boolean")
                                            .value("true")
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
                    .unwrap(),
            ))
            .build()
    }

    #[test]
    fn api_inputs_become_calls_with_typed_bodies() {
        let allowed = vec!["OrderApi".to_string()];
        let (id, calls) = returned_calls(
            &api_payload("OrderApi", bt::ActionInvocationType::Result),
            &allowed,
        )
        .unwrap();
        assert_eq!(id, "inv-1");
        assert_eq!(calls.len(), 1);
        let c = &calls[0].call;
        assert_eq!(c.api_path.as_deref(), Some("/orders/{orderId}/refund"));
        assert_eq!(c.http_method.as_deref(), Some("POST"));
        assert_eq!(c.parameters, vec![("orderId".into(), "112-4471".into())]);
        assert_eq!(
            c.request_body,
            Some(json!({"amount": 49.99, "notify": true}))
        );
        let part = invocation_input(&calls[0], "t-1", "inv-1");
        assert_eq!(
            part.pointer(
                "/orchestrationTrace/invocationInput/actionGroupInvocationInput/requestBody"
            ),
            Some(&json!({"content": {"application/json": [
                {"name": "amount", "type": "number", "value": "49.99"},
                {"name": "notify", "type": "boolean", "value": "true"}]}}))
        );
    }

    #[test]
    fn a_forbidden_group_or_a_confirmation_is_refused() {
        let allowed = vec!["OrderTools".to_string()];
        let e = returned_calls(
            &api_payload("OrderApi", bt::ActionInvocationType::Result),
            &allowed,
        )
        .unwrap_err();
        assert!(
            matches!(e, BedrockAgentError::ForbiddenActionGroup { ref action_group, .. } if action_group == "OrderApi")
        );
        let allowed = vec!["OrderApi".to_string()];
        let e = returned_calls(
            &api_payload("OrderApi", bt::ActionInvocationType::UserConfirmation),
            &allowed,
        )
        .unwrap_err();
        assert!(matches!(e, BedrockAgentError::ConfirmationRequired { .. }));
    }

    #[test]
    fn typed_values_fall_back_to_strings() {
        assert_eq!(typed(Some("integer"), "12"), json!(12));
        assert_eq!(typed(Some("number"), "twelve"), json!("twelve"));
        assert_eq!(typed(Some("array"), "[1,2]"), json!([1, 2]));
        assert_eq!(typed(Some("object"), "3"), json!("3"));
        assert_eq!(typed(None, "x"), json!("x"));
    }
}
