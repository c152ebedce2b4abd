//! The Bedrock action-group Lambda wire format: building the input event a handler receives
//! and checking the response it returns (bedrock-formats.md §4).

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The largest handler response accepted (Lambda's own synchronous payload limit).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// Who is calling, for the event's `agent` member.
#[derive(Debug, Clone)]
pub struct AgentRef {
    pub name: String,
    pub id: String,
    pub alias: String,
    pub version: String,
}

/// One action-group call, as Bedrock hands it to a Lambda: every parameter value a string.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionCall {
    pub action_group: String,
    pub api_path: Option<String>,
    pub http_method: Option<String>,
    pub function: Option<String>,
    /// (name, type, value): the type is the schema's declared type (`string` when unknown).
    pub parameters: Vec<(String, String, String)>,
    /// Request body properties (name, type, value) for `application/json`.
    pub body: Option<Vec<(String, String, String)>>,
}

/// Builds the Lambda input event.
pub fn event(
    agent: &AgentRef,
    input_text: &str,
    session_id: &str,
    call: &ActionCall,
    session_attributes: &BTreeMap<String, String>,
    prompt_session_attributes: &BTreeMap<String, String>,
) -> Value {
    let params: Vec<Value> = call
        .parameters
        .iter()
        .map(|(n, t, v)| json!({"name": n, "type": t, "value": v}))
        .collect();
    let mut ev = json!({
        "messageVersion": "1.0",
        "agent": {"name": agent.name, "id": agent.id, "alias": agent.alias, "version": agent.version},
        "inputText": input_text,
        "sessionId": session_id,
        "actionGroup": call.action_group,
        "parameters": params,
        "sessionAttributes": session_attributes,
        "promptSessionAttributes": prompt_session_attributes,
    });
    if let Some(f) = &call.function {
        ev["function"] = json!(f);
    } else {
        ev["apiPath"] = json!(call.api_path.clone().unwrap_or_default());
        ev["httpMethod"] = json!(call.http_method.clone().unwrap_or_default());
        if let Some(props) = &call.body {
            let props: Vec<Value> = props
                .iter()
                .map(|(n, t, v)| json!({"name": n, "type": t, "value": v}))
                .collect();
            ev["requestBody"] = json!({"content": {"application/json": {"properties": props}}});
        }
    }
    ev
}

/// A handler response that passed the format checks.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionResponse {
    /// The whole response document, as the handler returned it.
    pub document: Value,
    /// The body text (`responseBody.<type>.body`), what the model sees as the observation.
    pub body: String,
    /// `httpStatusCode` for API action groups.
    pub http_status: Option<u16>,
    /// `responseState` (`FAILURE` or `REPROMPT`) when set.
    pub response_state: Option<String>,
    /// Session attributes the handler wants to set (replace the session's values).
    pub session_attributes: Option<BTreeMap<String, String>>,
}

/// Why a handler's response is not a valid action-group response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("handler response is {0} bytes; the limit is {MAX_RESPONSE_BYTES}")]
    TooLarge(usize),
    #[error("handler response is not JSON: {0}")]
    NotJson(String),
    #[error("handler response `{field}` {problem}")]
    Shape { field: String, problem: String },
}

fn shape(field: &str, problem: impl Into<String>) -> ResponseError {
    ResponseError::Shape {
        field: field.into(),
        problem: problem.into(),
    }
}

fn string_map(v: &Value, field: &str) -> Result<BTreeMap<String, String>, ResponseError> {
    let obj = v
        .as_object()
        .ok_or_else(|| shape(field, "must be an object of strings"))?;
    obj.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(shape(&format!("{field}.{k}"), "must be a string")),
        })
        .collect()
}

fn body_of(response_body: &Value, field: &str) -> Result<String, ResponseError> {
    let obj: &Map<String, Value> = response_body
        .as_object()
        .ok_or_else(|| shape(field, "must be an object keyed by content type"))?;
    let (ctype, content) = obj
        .iter()
        .next()
        .ok_or_else(|| shape(field, "is empty; expected one content type"))?;
    match content.get("body") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(shape(
            &format!("{field}.{ctype}.body"),
            "must be a string (JSON text), not a nested value",
        )),
        None => Err(shape(&format!("{field}.{ctype}.body"), "is missing")),
    }
}

/// Checks a handler's raw response bytes against the action-group response format for
/// `call` (API or function variant).
pub fn parse_response(raw: &[u8], call: &ActionCall) -> Result<ActionResponse, ResponseError> {
    if raw.len() > MAX_RESPONSE_BYTES {
        return Err(ResponseError::TooLarge(raw.len()));
    }
    let document: Value =
        serde_json::from_slice(raw).map_err(|e| ResponseError::NotJson(e.to_string()))?;
    match document.get("messageVersion") {
        Some(Value::String(v)) if v == "1.0" => {}
        Some(v) => return Err(shape("messageVersion", format!("is {v}; expected \"1.0\""))),
        None => return Err(shape("messageVersion", "is missing")),
    }
    let response = document
        .get("response")
        .filter(|r| r.is_object())
        .ok_or_else(|| shape("response", "is missing or not an object"))?;
    let (body, http_status, response_state) = if call.function.is_some() {
        let fr = response
            .get("functionResponse")
            .ok_or_else(|| shape("response.functionResponse", "is missing"))?;
        let body = body_of(
            fr.get("responseBody")
                .ok_or_else(|| shape("response.functionResponse.responseBody", "is missing"))?,
            "response.functionResponse.responseBody",
        )?;
        let state = match fr.get("responseState") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == "FAILURE" || s == "REPROMPT" => Some(s.clone()),
            Some(v) => {
                return Err(shape(
                    "response.functionResponse.responseState",
                    format!("is {v}; expected FAILURE or REPROMPT"),
                ))
            }
        };
        (body, None, state)
    } else {
        let body = body_of(
            response
                .get("responseBody")
                .ok_or_else(|| shape("response.responseBody", "is missing"))?,
            "response.responseBody",
        )?;
        let status = match response.get("httpStatusCode") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(c) if (100..=599).contains(&c) => Some(c as u16),
                _ => {
                    return Err(shape(
                        "response.httpStatusCode",
                        format!("is {v}; expected an HTTP status code"),
                    ))
                }
            },
        };
        let state = response
            .get("responseState")
            .and_then(Value::as_str)
            .map(str::to_string);
        (body, status, state)
    };
    let session_attributes = match document.get("sessionAttributes") {
        None | Some(Value::Null) => None,
        Some(v) => Some(string_map(v, "sessionAttributes")?),
    };
    Ok(ActionResponse {
        document,
        body,
        http_status,
        response_state,
        session_attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_call() -> ActionCall {
        ActionCall {
            action_group: "orders".into(),
            api_path: Some("/orders/{orderId}".into()),
            http_method: Some("GET".into()),
            function: None,
            parameters: vec![("orderId".into(), "string".into(), "A-1043".into())],
            body: None,
        }
    }

    #[test]
    fn event_has_bedrock_shape() {
        let agent = AgentRef {
            name: "support".into(),
            id: "support".into(),
            alias: "TSTALIASID".into(),
            version: "DRAFT".into(),
        };
        let mut attrs = BTreeMap::new();
        attrs.insert("tenantId".to_string(), "acme".to_string());
        let ev = event(&agent, "hi", "s1", &api_call(), &attrs, &BTreeMap::new());
        assert_eq!(ev["messageVersion"], "1.0");
        assert_eq!(ev["apiPath"], "/orders/{orderId}");
        assert_eq!(ev["httpMethod"], "GET");
        assert_eq!(ev["parameters"][0]["value"], "A-1043");
        assert_eq!(ev["sessionAttributes"]["tenantId"], "acme");
        assert!(ev.get("function").is_none());
    }

    #[test]
    fn api_response_parses() {
        let raw = br#"{"messageVersion":"1.0","response":{"actionGroup":"orders","apiPath":"/orders/{orderId}","httpMethod":"GET","httpStatusCode":200,"responseBody":{"application/json":{"body":"{\"status\":\"shipped\"}"}}}}"#;
        let r = parse_response(raw, &api_call()).unwrap();
        assert_eq!(r.body, r#"{"status":"shipped"}"#);
        assert_eq!(r.http_status, Some(200));
    }

    #[test]
    fn bad_responses_are_precise() {
        let call = api_call();
        assert!(matches!(
            parse_response(b"not json", &call),
            Err(ResponseError::NotJson(_))
        ));
        let e = parse_response(br#"{"messageVersion":"2.0","response":{}}"#, &call).unwrap_err();
        assert!(e.to_string().contains("messageVersion"), "{e}");
        let e = parse_response(
            br#"{"messageVersion":"1.0","response":{"responseBody":{"application/json":{"body":{"a":1}}}}}"#,
            &call,
        )
        .unwrap_err();
        assert!(e.to_string().contains("must be a string"), "{e}");
        let big = vec![b' '; MAX_RESPONSE_BYTES + 1];
        assert!(matches!(
            parse_response(&big, &call),
            Err(ResponseError::TooLarge(_))
        ));
    }

    #[test]
    fn function_response_parses_state() {
        let mut call = api_call();
        call.function = Some("lookup_order".into());
        let raw = br#"{"messageVersion":"1.0","response":{"actionGroup":"orders","function":"lookup_order","functionResponse":{"responseState":"REPROMPT","responseBody":{"TEXT":{"body":"not found"}}}},"sessionAttributes":{"k":"v"}}"#;
        let r = parse_response(raw, &call).unwrap();
        assert_eq!(r.body, "not found");
        assert_eq!(r.response_state.as_deref(), Some("REPROMPT"));
        assert_eq!(r.session_attributes.unwrap()["k"], "v");
        let bad = br#"{"messageVersion":"1.0","response":{"functionResponse":{"responseState":"MAYBE","responseBody":{"TEXT":{"body":"x"}}}}}"#;
        assert!(parse_response(bad, &call).is_err());
    }
}
