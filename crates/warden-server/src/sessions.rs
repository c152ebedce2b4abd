//! Session memory and return of control: each (tenant, agent, session)'s earlier exchanges
//! and its paused invocation, kept in the store. The tenant in the key is always the
//! authenticated one, so a session id reused by another tenant starts empty.

use crate::error::ApiError;
use crate::now_secs;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use warden_agent::{Exchange, PendingControl, ToolCall};
use warden_store::{SessionKey, SessionRecord, Store};

/// What is stored per session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionMemory {
    /// Completed exchanges, oldest first; at most the agent's `memory_window`.
    #[serde(default)]
    pub exchanges: Vec<Exchange>,
    /// The invocation paused for return of control, if any.
    #[serde(default)]
    pub pending: Option<PendingControl>,
}

impl SessionMemory {
    /// Appends an exchange and drops the oldest beyond `window` (0 keeps nothing).
    pub fn remember(&mut self, exchange: Exchange, window: u32) {
        self.exchanges.push(exchange);
        let window = window as usize;
        if self.exchanges.len() > window {
            let drop = self.exchanges.len() - window;
            self.exchanges.drain(..drop);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.exchanges.is_empty() && self.pending.is_none()
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, warden_store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(format!("session memory: {e}")))
}

/// The session's memory; empty when it never existed or was idle for longer than
/// `idle_secs`. Unreadable memory fails the request (never silently forgotten).
pub async fn load(
    store: &Arc<dyn Store>,
    key: &SessionKey,
    idle_secs: u64,
) -> Result<SessionMemory, ApiError> {
    let (store, k) = (store.clone(), key.clone());
    let record = blocking(move || store.load_session(&k, now_secs(), idle_secs)).await?;
    match record {
        None => Ok(SessionMemory::default()),
        Some(r) => serde_json::from_str(&r.data).map_err(|e| {
            ApiError::internal(format!(
                "session memory of `{}` is unreadable: {e}",
                key.session
            ))
        }),
    }
}

/// Stores the memory (or deletes it when empty).
pub async fn save(
    store: &Arc<dyn Store>,
    key: &SessionKey,
    memory: &SessionMemory,
) -> Result<(), ApiError> {
    let (store, k) = (store.clone(), key.clone());
    if memory.is_empty() {
        return blocking(move || store.delete_session(&k).map(|_| ())).await;
    }
    let data = serde_json::to_string(memory).map_err(ApiError::internal)?;
    blocking(move || {
        store.save_session(
            &k,
            &SessionRecord {
                data,
                updated_at: now_secs(),
            },
        )
    })
    .await
}

/// Forgets the session (`endSession`); true when something was stored.
pub async fn end(store: &Arc<dyn Store>, key: &SessionKey) -> Result<bool, ApiError> {
    let (store, k) = (store.clone(), key.clone());
    blocking(move || store.delete_session(&k)).await
}

/// The `returnControl` payload handed to the caller for a paused call, in Bedrock's shape.
pub fn return_control_payload(agent_id: &str, pending: &PendingControl) -> Value {
    let call = &pending.call;
    let parameters: Vec<Value> = call
        .parameters
        .iter()
        .map(|(n, v)| json!({"name": n, "type": "string", "value": v}))
        .collect();
    let input = match (&call.api_path, &call.function) {
        (Some(path), _) => {
            let mut api = json!({
                "actionGroup": call.action_group,
                "apiPath": path,
                "httpMethod": call.http_method.clone().unwrap_or_default(),
                "actionInvocationType": "RESULT",
                "agentId": agent_id,
                "parameters": parameters,
            });
            if let Some(Value::Object(body)) = &call.request_body {
                let properties: Vec<Value> = body
                    .iter()
                    .map(|(k, v)| {
                        let (ty, value) = match v {
                            Value::String(s) => ("string", s.clone()),
                            Value::Number(n) => ("number", n.to_string()),
                            Value::Bool(b) => ("boolean", b.to_string()),
                            Value::Array(_) => ("array", v.to_string()),
                            _ => ("object", v.to_string()),
                        };
                        json!({"name": k, "type": ty, "value": value})
                    })
                    .collect();
                api["requestBody"] =
                    json!({"content": {"application/json": {"properties": properties}}});
            }
            json!({"apiInvocationInput": api})
        }
        (None, function) => json!({"functionInvocationInput": {
            "actionGroup": call.action_group,
            "function": function.clone().unwrap_or_default(),
            "actionInvocationType": "RESULT",
            "agentId": agent_id,
            "parameters": parameters,
        }}),
    };
    json!({"invocationId": pending.invocation_id, "invocationInputs": [input]})
}

/// Why the caller's results cannot resume the paused invocation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResultError {
    /// A client mistake (400).
    #[error("{0}")]
    Invalid(String),
    /// The caller reported that its execution failed (`responseState: FAILURE`, 424).
    #[error("the caller reported that action group `{0}` failed")]
    Failed(String),
}

fn describe(call: &ToolCall) -> String {
    match (&call.api_path, &call.function) {
        (Some(p), _) => format!(
            "{} {} {p}",
            call.action_group,
            call.http_method.as_deref().unwrap_or("")
        ),
        (None, Some(f)) => format!("{} function {f}", call.action_group),
        (None, None) => call.action_group.clone(),
    }
}

/// Reads `returnControlInvocationResults` for the paused call: exactly one result, naming
/// the same action group and operation; returns the body text the model gets.
pub fn result_text(results: &Value, pending: &PendingControl) -> Result<String, ResultError> {
    let bad = |m: String| Err(ResultError::Invalid(m));
    let Some(items) = results.as_array() else {
        return bad("`sessionState.returnControlInvocationResults` must be a list".into());
    };
    if items.len() != 1 {
        return bad(format!(
            "`returnControlInvocationResults` has {} results; invocation `{}` handed back one call ({})",
            items.len(),
            pending.invocation_id,
            describe(&pending.call)
        ));
    }
    let Some(item) = items[0].as_object().filter(|o| o.len() == 1) else {
        return bad(
            "each result must be an object with exactly one of `apiResult` or `functionResult`"
                .into(),
        );
    };
    let call = &pending.call;
    let (kind, r) = item
        .iter()
        .next()
        .map(|(k, v)| (k.as_str(), v))
        .unwrap_or_default();
    let field = |name: &str| r.get(name).and_then(Value::as_str);
    let group = field("actionGroup").unwrap_or("");
    let matches = match kind {
        "apiResult" => {
            group == call.action_group
                && field("apiPath") == call.api_path.as_deref()
                && field("httpMethod").map(str::to_ascii_uppercase)
                    == call.http_method.as_deref().map(str::to_ascii_uppercase)
        }
        "functionResult" => {
            group == call.action_group && field("function") == call.function.as_deref()
        }
        other => {
            return bad(format!(
                "unknown result member `{other}`; expected `apiResult` or `functionResult`"
            ))
        }
    };
    if !matches {
        return bad(format!(
            "the result does not answer the handed-back call ({}) of invocation `{}`",
            describe(call),
            pending.invocation_id
        ));
    }
    match field("responseState") {
        None | Some("REPROMPT") => {}
        Some("FAILURE") => return Err(ResultError::Failed(call.action_group.clone())),
        Some(other) => {
            return bad(format!(
                "`responseState` `{other}` is not one of FAILURE, REPROMPT"
            ))
        }
    }
    if field("confirmationState") == Some("DENY") {
        return Ok("The user denied this action.".into());
    }
    match r.get("responseBody") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::Object(body)) => match body.get("TEXT") {
            Some(t) => match t.get("body") {
                Some(Value::String(s)) => Ok(s.clone()),
                None => Ok(String::new()),
                Some(_) => bad("`responseBody.TEXT.body` must be a string".into()),
            },
            None => bad(format!(
                "`responseBody` has no `TEXT` member (found: {})",
                body.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
        },
        Some(_) => bad("`responseBody` must be an object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(call: ToolCall) -> PendingControl {
        PendingControl {
            invocation_id: "inv-9".into(),
            input_text: "where is A-1043?".into(),
            steps: vec![],
            call,
            turns: 1,
            trace: warden_agent::TraceBuilder::new("a", "s", true).state(),
            egress: vec![],
            notes: vec![],
            fired: vec![],
            input_tokens: 0,
            output_tokens: 0,
            started_at: String::new(),
        }
    }

    fn api_call() -> ToolCall {
        ToolCall {
            action_group: "orders".into(),
            api_path: Some("/orders/{orderId}".into()),
            http_method: Some("GET".into()),
            function: None,
            parameters: vec![("orderId".into(), "A-1043".into())],
            request_body: Some(json!({"note": "x", "qty": 2})),
        }
    }

    #[test]
    fn payload_has_bedrocks_shape() {
        let p = return_control_payload("support", &pending(api_call()));
        assert_eq!(p["invocationId"], "inv-9");
        let api = &p["invocationInputs"][0]["apiInvocationInput"];
        assert_eq!(api["actionGroup"], "orders");
        assert_eq!(api["httpMethod"], "GET");
        assert_eq!(api["parameters"][0]["value"], "A-1043");
        let props = &api["requestBody"]["content"]["application/json"]["properties"];
        assert!(props
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "qty" && p["type"] == "number" && p["value"] == "2"));
    }

    #[test]
    fn results_must_answer_the_handed_back_call() {
        let p = pending(api_call());
        let ok = json!([{"apiResult": {"actionGroup": "orders", "apiPath": "/orders/{orderId}",
            "httpMethod": "get", "responseBody": {"TEXT": {"body": "{\"status\":\"SHIPPED\"}"}}}}]);
        assert_eq!(result_text(&ok, &p).unwrap(), "{\"status\":\"SHIPPED\"}");
        for (bad, needle) in [
            (json!({}), "must be a list"),
            (json!([]), "has 0 results"),
            (
                json!([{"apiResult": {}, "functionResult": {}}]),
                "exactly one",
            ),
            (json!([{"imageResult": {}}]), "unknown result member"),
            (
                json!([{"apiResult": {"actionGroup": "payments", "apiPath": "/orders/{orderId}", "httpMethod": "GET"}}]),
                "does not answer",
            ),
            (
                json!([{"functionResult": {"actionGroup": "orders", "function": "f"}}]),
                "does not answer",
            ),
            (
                json!([{"apiResult": {"actionGroup": "orders", "apiPath": "/orders/{orderId}", "httpMethod": "GET", "responseState": "MAYBE"}}]),
                "MAYBE",
            ),
            (
                json!([{"apiResult": {"actionGroup": "orders", "apiPath": "/orders/{orderId}", "httpMethod": "GET", "responseBody": {"IMAGES": {}}}}]),
                "no `TEXT`",
            ),
        ] {
            let e = result_text(&bad, &p).unwrap_err();
            assert!(e.to_string().contains(needle), "{bad}: {e}");
        }
        let failed = json!([{"apiResult": {"actionGroup": "orders", "apiPath": "/orders/{orderId}",
            "httpMethod": "GET", "responseState": "FAILURE"}}]);
        assert_eq!(
            result_text(&failed, &p),
            Err(ResultError::Failed("orders".into()))
        );
    }

    #[test]
    fn the_window_keeps_the_newest_exchanges() {
        let mut m = SessionMemory::default();
        for i in 0..5 {
            m.remember(
                Exchange {
                    user: format!("u{i}"),
                    assistant: format!("a{i}"),
                },
                3,
            );
        }
        let users: Vec<_> = m.exchanges.iter().map(|e| e.user.as_str()).collect();
        assert_eq!(users, ["u2", "u3", "u4"]);
        m.remember(
            Exchange {
                user: "x".into(),
                assistant: "y".into(),
            },
            0,
        );
        assert!(m.is_empty());
    }
}
