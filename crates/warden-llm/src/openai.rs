//! `OpenAiChat`: OpenAI-compatible chat completions (`POST {base_url}/chat/completions`), as
//! served by hosted APIs, Ollama, vLLM and the llama.cpp server. Tool calling uses `tools`
//! with `type: "function"` and `tool_calls` in answers; tool results go back as `role: "tool"`.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use warden_core::Sensitive;

use crate::error::snippet;
use crate::policy::parse_retry_after;
use crate::{
    CallPolicy, ChatModel, ChatRequest, ChatResponse, ContentBlock, LlmError, Role, StopReason,
    Usage,
};

/// How to reach an OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Base URL up to the API version, e.g. `https://api.openai.com/v1` or
    /// `http://127.0.0.1:11434/v1` (Ollama). `/chat/completions` is appended.
    pub base_url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<Sensitive<String>>,
    pub policy: CallPolicy,
    /// Bound on establishing the TCP (and TLS) connection.
    pub connect_timeout: Duration,
}

impl OpenAiConfig {
    /// A config with the default [`CallPolicy`] and no API key.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            policy: CallPolicy::default(),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A chat model behind an OpenAI-compatible chat completions endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiChat {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    model: String,
    api_key: Option<Sensitive<String>>,
    policy: CallPolicy,
    provider: String,
}

impl OpenAiChat {
    /// Validates the config and builds the HTTP client.
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        let mut endpoint = reqwest::Url::parse(config.base_url.trim()).map_err(|e| {
            LlmError::BadRequest(format!("base_url {:?} is not a URL: {e}", config.base_url))
        })?;
        // Append to the path; a query (e.g. `api-version=…`) stays where it is.
        let path = format!("{}/chat/completions", endpoint.path().trim_end_matches('/'));
        endpoint.set_path(&path);
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(LlmError::BadRequest(format!(
                "base_url {:?} must use http or https",
                config.base_url
            )));
        }
        if config.model.trim().is_empty() {
            return Err(LlmError::BadRequest("model must not be empty".into()));
        }
        if let Some(key) = &config.api_key {
            if reqwest::header::HeaderValue::from_str(&format!("Bearer {}", key.expose())).is_err()
            {
                return Err(LlmError::Auth(
                    "the API key holds characters not allowed in an HTTP header".into(),
                ));
            }
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| LlmError::Transport(format!("cannot build the HTTP client: {e}")))?;
        // Messages name the endpoint without userinfo or query, where credentials may hide.
        let provider = format!(
            "openai-compatible endpoint {}{}",
            endpoint.origin().ascii_serialization(),
            endpoint.path()
        );
        Ok(OpenAiChat {
            http,
            endpoint,
            model: config.model,
            api_key: config.api_key,
            policy: config.policy,
            provider,
        })
    }

    /// The policy bounding each call.
    pub fn policy(&self) -> &CallPolicy {
        &self.policy
    }

    async fn attempt(&self, body: &Value) -> Result<ChatResponse, LlmError> {
        let mut request = self.http.post(self.endpoint.clone()).json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| LlmError::Transport(describe_reqwest(&self.provider, e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let raw = read_capped(response, self.policy.max_response_bytes, &self.provider).await?;
        if !status.is_success() {
            return Err(status_error(&self.provider, status, &headers, &raw));
        }
        parse_response(raw)
    }
}

#[async_trait]
impl ChatModel for OpenAiChat {
    fn model_name(&self) -> &str {
        &self.model
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.policy.check_budget(req)?;
        let body = request_body(&self.model, req)?;
        self.policy
            .run(&self.provider, || self.attempt(&body))
            .await
    }
}

/// The chat completions request body for `req`.
pub fn request_body(model: &str, req: &ChatRequest) -> Result<Value, LlmError> {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    for (i, message) in req.messages.iter().enumerate() {
        if message.content.is_empty() {
            return Err(LlmError::BadRequest(format!(
                "messages[{i}] has no content"
            )));
        }
        let mut texts: Vec<&str> = Vec::new();
        match message.role {
            Role::User => {
                for block in &message.content {
                    match block {
                        ContentBlock::Text(t) => texts.push(t),
                        ContentBlock::ToolResult {
                            tool_use_id,
                            content,
                            is_error,
                        } => {
                            // The wire format has no error flag: mark the text instead.
                            let content = if *is_error {
                                format!("error: {content}")
                            } else {
                                content.clone()
                            };
                            messages.push(json!({
                                "role": "tool",
                                "tool_call_id": tool_use_id,
                                "content": content,
                            }));
                        }
                        ContentBlock::ToolUse { id, .. } => {
                            return Err(LlmError::BadRequest(format!(
                                "messages[{i}]: a user turn cannot carry tool_use {id:?}"
                            )))
                        }
                    }
                }
                if !texts.is_empty() {
                    messages.push(json!({"role": "user", "content": texts.join("\n")}));
                }
            }
            Role::Assistant => {
                let mut calls = Vec::new();
                for block in &message.content {
                    match block {
                        ContentBlock::Text(t) => texts.push(t),
                        ContentBlock::ToolUse { id, name, input } => calls.push(json!({
                            "id": id,
                            "type": "function",
                            "function": {"name": name, "arguments": input.to_string()},
                        })),
                        ContentBlock::ToolResult { tool_use_id, .. } => {
                            return Err(LlmError::BadRequest(format!(
                                "messages[{i}]: an assistant turn cannot carry tool_result {tool_use_id:?}"
                            )))
                        }
                    }
                }
                let mut m = Map::new();
                m.insert("role".into(), json!("assistant"));
                m.insert(
                    "content".into(),
                    if texts.is_empty() {
                        Value::Null
                    } else {
                        json!(texts.join("\n"))
                    },
                );
                if !calls.is_empty() {
                    m.insert("tool_calls".into(), Value::Array(calls));
                }
                messages.push(Value::Object(m));
            }
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert("max_tokens".into(), json!(req.max_tokens));
    if let Some(t) = req.temperature {
        if !t.is_finite() || t < 0.0 {
            return Err(LlmError::BadRequest(format!(
                "temperature {t} must be a finite number ≥ 0"
            )));
        }
        body.insert("temperature".into(), json!(t));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.input_schema,
                    },
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    body.insert("stream".into(), json!(false));
    Ok(Value::Object(body))
}

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// Parses a chat completions response body (the first choice).
pub fn parse_response(raw: Vec<u8>) -> Result<ChatResponse, LlmError> {
    let raw = String::from_utf8(raw)
        .map_err(|e| LlmError::InvalidResponse(format!("response body is not UTF-8: {e}")))?;
    let wire: WireResponse = serde_json::from_str(&raw).map_err(|e| {
        LlmError::InvalidResponse(format!(
            "response is not a chat completion: {e}; body starts {:?}",
            snippet(&raw, 120)
        ))
    })?;
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::InvalidResponse("response has no choices".into()))?;
    let mut content = Vec::new();
    match choice.message.content {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            if !s.is_empty() {
                content.push(ContentBlock::Text(s));
            }
        }
        Some(Value::Array(parts)) => {
            for (i, part) in parts.iter().enumerate() {
                match part.get("text").and_then(Value::as_str) {
                    Some(t) => content.push(ContentBlock::Text(t.to_string())),
                    None => {
                        return Err(LlmError::InvalidResponse(format!(
                            "choices[0].message.content[{i}] has no text"
                        )))
                    }
                }
            }
        }
        Some(other) => {
            return Err(LlmError::InvalidResponse(format!(
                "choices[0].message.content is neither text nor parts: {}",
                snippet(&other.to_string(), 80)
            )))
        }
    }
    let has_calls = !choice.message.tool_calls.is_empty();
    for (i, call) in choice.message.tool_calls.into_iter().enumerate() {
        let name = call.function.name;
        if name.is_empty() {
            return Err(LlmError::InvalidResponse(format!(
                "choices[0].message.tool_calls[{i}].function.name is empty"
            )));
        }
        let input = match call.function.arguments {
            None | Some(Value::Null) => json!({}),
            Some(Value::String(s)) if s.trim().is_empty() => json!({}),
            Some(Value::String(s)) => serde_json::from_str::<Value>(&s).map_err(|e| {
                LlmError::InvalidResponse(format!(
                    "choices[0].message.tool_calls[{i}] ({name}): arguments are not JSON: {e}; arguments start {:?}",
                    snippet(&s, 80)
                ))
            })?,
            // Some servers send the object itself rather than its JSON text.
            Some(v @ Value::Object(_)) => v,
            Some(other) => {
                return Err(LlmError::InvalidResponse(format!(
                    "choices[0].message.tool_calls[{i}] ({name}): arguments must be a JSON string, got {}",
                    snippet(&other.to_string(), 80)
                )))
            }
        };
        if !input.is_object() {
            return Err(LlmError::InvalidResponse(format!(
                "choices[0].message.tool_calls[{i}] ({name}): arguments must be a JSON object, got {}",
                snippet(&input.to_string(), 80)
            )));
        }
        // Servers that omit call ids still need one for the tool result to refer to.
        let id = call
            .id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| format!("call_{i}"));
        content.push(ContentBlock::ToolUse { id, name, input });
    }
    let stop_reason = match choice.finish_reason.as_deref() {
        Some("tool_calls") | Some("function_call") => StopReason::ToolUse,
        // Some servers report "stop" even when the turn calls tools.
        Some("stop") | None if has_calls => StopReason::ToolUse,
        Some("stop") => StopReason::EndTurn,
        Some("length") => StopReason::MaxTokens,
        Some("content_filter") => StopReason::GuardrailIntervened,
        Some(other) => StopReason::Other(other.to_string()),
        None => StopReason::Other("none".into()),
    };
    let usage = wire
        .usage
        .map(|u| Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
        })
        .unwrap_or_default();
    Ok(ChatResponse {
        content,
        stop_reason,
        usage,
        raw,
    })
}

/// Reads a response body, refusing more than `cap` bytes.
async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
    provider: &str,
) -> Result<Vec<u8>, LlmError> {
    let too_big = || {
        LlmError::InvalidResponse(format!(
            "{provider} sent a response body over the {cap}-byte limit"
        ))
    };
    if response
        .content_length()
        .is_some_and(|len| len > cap as u64)
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| LlmError::Transport(describe_reqwest(provider, e)))?
    {
        if body.len() + chunk.len() > cap {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Maps a non-success HTTP answer to an error.
fn status_error(provider: &str, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> LlmError {
    let message = error_message(body);
    let what = format!("{provider} answered HTTP {}: {message}", status.as_u16());
    match status.as_u16() {
        401 | 403 => LlmError::Auth(what),
        429 => LlmError::Throttled {
            provider: provider.to_string(),
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after),
            message,
        },
        408 | 500..=599 => LlmError::Transport(what),
        _ => LlmError::BadRequest(what),
    }
}

/// The error text of an error body: `{"error":{"message":…}}`, `{"error":"…"}` or raw text.
fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        let found = v
            .pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("message"))
            .and_then(Value::as_str);
        if let Some(m) = found {
            return snippet(m, 300);
        }
    }
    if text.trim().is_empty() {
        "(empty body)".to_string()
    } else {
        snippet(&text, 300)
    }
}

fn describe_reqwest(provider: &str, e: reqwest::Error) -> String {
    // The provider label already names the endpoint; the error's own URL may carry more.
    let e = e.without_url();
    let mut out = format!("request to {provider} failed: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, ToolSpec};

    #[test]
    fn request_maps_tools_tool_calls_and_tool_results() {
        let req = ChatRequest {
            system: "be brief".into(),
            messages: vec![
                Message::user_text("where is 112?"),
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentBlock::Text("checking".into()),
                        ContentBlock::ToolUse {
                            id: "call_1".into(),
                            name: "lookup_order".into(),
                            input: json!({"order_id": "112"}),
                        },
                    ],
                },
                Message {
                    role: Role::User,
                    content: vec![ContentBlock::ToolResult {
                        tool_use_id: "call_1".into(),
                        content: "not found".into(),
                        is_error: true,
                    }],
                },
            ],
            tools: vec![ToolSpec {
                name: "lookup_order".into(),
                description: "Look up an order".into(),
                input_schema: json!({"type": "object"}),
            }],
            max_tokens: 64,
            temperature: Some(0.0),
            cache_prompt: false,
        };
        let body = request_body("m", &req).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "where is 112?"},
                    {"role": "assistant", "content": "checking", "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "lookup_order", "arguments": "{\"order_id\":\"112\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "error: not found"},
                ],
                "max_tokens": 64,
                "temperature": 0.0,
                "tools": [{"type": "function", "function": {
                    "name": "lookup_order", "description": "Look up an order",
                    "parameters": {"type": "object"}}}],
                "stream": false,
            })
        );
    }

    #[test]
    fn request_refuses_misplaced_blocks() {
        let mut req = ChatRequest {
            system: String::new(),
            messages: vec![Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: "x".into(),
                    content: String::new(),
                    is_error: false,
                }],
            }],
            tools: vec![],
            max_tokens: 1,
            temperature: None,
            cache_prompt: false,
        };
        let err = request_body("m", &req).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad request: messages[0]: an assistant turn cannot carry tool_result \"x\""
        );
        req.messages[0].content.clear();
        assert!(matches!(
            request_body("m", &req),
            Err(LlmError::BadRequest(m)) if m == "messages[0] has no content"
        ));
    }

    #[test]
    fn response_parsing_edge_cases() {
        let r = parse_response(
            br#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":"stop"}]}"#.to_vec(),
        )
        .unwrap();
        assert_eq!(r.stop_reason, StopReason::ToolUse);
        assert_eq!(
            r.content,
            vec![ContentBlock::ToolUse {
                id: "call_0".into(),
                name: "f".into(),
                input: json!({})
            }]
        );
        assert_eq!(r.usage, Usage::default());

        let err = parse_response(
            br#"{"choices":[{"message":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"[1]"}}]}}]}"#.to_vec(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("must be a JSON object"), "{err}");
        assert!(matches!(
            parse_response(br#"{"choices":[]}"#.to_vec()),
            Err(LlmError::InvalidResponse(m)) if m == "response has no choices"
        ));
        let r = parse_response(
            br#"{"choices":[{"message":{"content":"hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#.to_vec(),
        )
        .unwrap();
        assert_eq!(r.stop_reason, StopReason::MaxTokens);
        assert_eq!(r.usage.total(), 7);
    }

    #[test]
    fn error_bodies_are_summarised() {
        assert_eq!(
            error_message(br#"{"error":{"message":"bad key"}}"#),
            "bad key"
        );
        assert_eq!(
            error_message(br#"{"error":"model not found"}"#),
            "model not found"
        );
        assert_eq!(error_message(b""), "(empty body)");
        assert_eq!(error_message(b"oops"), "oops");
    }
}
