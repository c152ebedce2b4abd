//! `BedrockConverse`: Bedrock Runtime `Converse` through the AWS SDK for Rust, with the default
//! credential chain, optional guardrail, tool use, a response size cap and the raw body kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_bedrockruntime::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextMut,
};
use aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseOutput};
use aws_sdk_bedrockruntime::types as bt;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::{Document, Number};
use serde_json::Value;

use crate::error::snippet;
use crate::policy::parse_retry_after;
use crate::{
    CallPolicy, ChatModel, ChatRequest, ChatResponse, ContentBlock, LlmError, Role, StopReason,
    Usage,
};

/// A Bedrock guardrail to apply to every call (`guardrailConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardrailRef {
    pub identifier: String,
    pub version: String,
}

/// How to reach Bedrock Runtime.
#[derive(Debug, Clone)]
pub struct BedrockConfig {
    /// Model id, inference profile id or ARN, e.g. `anthropic.claude-3-5-haiku-20241022-v1:0`.
    pub model_id: String,
    /// Region; `None` takes it from the default chain (`AWS_REGION`, profile).
    pub region: Option<String>,
    /// Endpoint override (VPC endpoints, local servers in tests).
    pub endpoint_url: Option<String>,
    pub guardrail: Option<GuardrailRef>,
    pub policy: CallPolicy,
}

impl BedrockConfig {
    /// A config with the default [`CallPolicy`], default region chain and no guardrail.
    pub fn new(model_id: impl Into<String>) -> Self {
        BedrockConfig {
            model_id: model_id.into(),
            region: None,
            endpoint_url: None,
            guardrail: None,
            policy: CallPolicy::default(),
        }
    }
}

/// A chat model on Bedrock Runtime, called through `Converse`.
#[derive(Debug, Clone)]
pub struct BedrockConverse {
    client: aws_sdk_bedrockruntime::Client,
    model_id: String,
    guardrail: Option<GuardrailRef>,
    policy: CallPolicy,
    provider: String,
}

impl BedrockConverse {
    /// Loads credentials and region from the default chain (credentials are resolved lazily,
    /// on the first call) and builds the client. The SDK's own retries are off: the
    /// [`CallPolicy`] decides.
    pub async fn new(config: BedrockConfig) -> Result<Self, LlmError> {
        if config.model_id.trim().is_empty() {
            return Err(LlmError::BadRequest("model_id must not be empty".into()));
        }
        if let Some(g) = &config.guardrail {
            if g.identifier.trim().is_empty() || g.version.trim().is_empty() {
                return Err(LlmError::BadRequest(
                    "guardrail identifier and version must both be set".into(),
                ));
            }
        }
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .retry_config(aws_config::retry::RetryConfig::disabled());
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &config.endpoint_url {
            let parsed = reqwest::Url::parse(url).map_err(|e| {
                LlmError::BadRequest(format!("endpoint_url {url:?} is not a URL: {e}"))
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(LlmError::BadRequest(format!(
                    "endpoint_url {url:?} must use http or https"
                )));
            }
            loader = loader.endpoint_url(url.clone());
        }
        let sdk = loader.load().await;
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
            LlmError::BadRequest(
                "no AWS region: set the region in config, or AWS_REGION / a profile region".into(),
            )
        })?;
        let provider = format!("bedrock runtime ({region})");
        Ok(BedrockConverse {
            client: aws_sdk_bedrockruntime::Client::new(&sdk),
            model_id: config.model_id,
            guardrail: config.guardrail,
            policy: config.policy,
            provider,
        })
    }

    /// The policy bounding each call.
    pub fn policy(&self) -> &CallPolicy {
        &self.policy
    }

    async fn attempt(&self, parts: &ConverseParts) -> Result<ChatResponse, LlmError> {
        let capture = BodyCapture {
            limit: self.policy.max_response_bytes,
            raw: Arc::new(Mutex::new(None)),
        };
        let raw_slot = capture.raw.clone();
        let mut call = self
            .client
            .converse()
            .model_id(&self.model_id)
            .set_messages(Some(parts.messages.clone()))
            .set_system(parts.system.clone())
            .inference_config(parts.inference.clone())
            .set_tool_config(parts.tools.clone());
        if let Some(g) = &self.guardrail {
            call = call.guardrail_config(
                bt::GuardrailConfiguration::builder()
                    .guardrail_identifier(&g.identifier)
                    .guardrail_version(&g.version)
                    .trace(bt::GuardrailTrace::Enabled)
                    .build(),
            );
        }
        let result = call.customize().interceptor(capture).send().await;
        let output = result.map_err(|e| self.map_error(e))?;
        let raw = raw_slot
            .lock()
            .map(|mut slot| slot.take())
            .unwrap_or_default()
            .unwrap_or_default();
        from_output(output, raw)
    }

    fn map_error(
        &self,
        err: SdkError<ConverseError, aws_smithy_runtime_api_http::Response>,
    ) -> LlmError {
        map_sdk_error(&self.provider, self.policy.max_response_bytes, err)
    }
}

// The SDK's raw HTTP response type, named once.
mod aws_smithy_runtime_api_http {
    pub(crate) type Response = aws_sdk_bedrockruntime::config::http::HttpResponse;
}

#[async_trait]
impl ChatModel for BedrockConverse {
    fn model_name(&self) -> &str {
        &self.model_id
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.policy.check_budget(req)?;
        let parts = converse_parts(req)?;
        self.policy
            .run(&self.provider, || self.attempt(&parts))
            .await
    }
}

/// The request pieces, built once per call and reused across attempts.
#[derive(Debug, Clone)]
struct ConverseParts {
    messages: Vec<bt::Message>,
    system: Option<Vec<bt::SystemContentBlock>>,
    inference: bt::InferenceConfiguration,
    tools: Option<bt::ToolConfiguration>,
}

fn build_err(what: &str, e: impl std::fmt::Display) -> LlmError {
    LlmError::BadRequest(format!("{what}: {e}"))
}

fn converse_parts(req: &ChatRequest) -> Result<ConverseParts, LlmError> {
    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        if m.content.is_empty() {
            return Err(LlmError::BadRequest(format!(
                "messages[{i}] has no content"
            )));
        }
        let mut blocks = Vec::with_capacity(m.content.len());
        for block in &m.content {
            blocks.push(match (m.role, block) {
                (_, ContentBlock::Text(t)) => bt::ContentBlock::Text(t.clone()),
                (Role::Assistant, ContentBlock::ToolUse { id, name, input }) => {
                    bt::ContentBlock::ToolUse(
                        bt::ToolUseBlock::builder()
                            .tool_use_id(id)
                            .name(name)
                            .input(json_to_document(input))
                            .build()
                            .map_err(|e| build_err(&format!("messages[{i}] tool_use"), e))?,
                    )
                }
                (
                    Role::User,
                    ContentBlock::ToolResult {
                        tool_use_id,
                        content,
                        is_error,
                    },
                ) => bt::ContentBlock::ToolResult(
                    bt::ToolResultBlock::builder()
                        .tool_use_id(tool_use_id)
                        .content(bt::ToolResultContentBlock::Text(content.clone()))
                        .status(if *is_error {
                            bt::ToolResultStatus::Error
                        } else {
                            bt::ToolResultStatus::Success
                        })
                        .build()
                        .map_err(|e| build_err(&format!("messages[{i}] tool_result"), e))?,
                ),
                (Role::User, ContentBlock::ToolUse { id, .. }) => {
                    return Err(LlmError::BadRequest(format!(
                        "messages[{i}]: a user turn cannot carry tool_use {id:?}"
                    )))
                }
                (Role::Assistant, ContentBlock::ToolResult { tool_use_id, .. }) => {
                    return Err(LlmError::BadRequest(format!(
                        "messages[{i}]: an assistant turn cannot carry tool_result {tool_use_id:?}"
                    )))
                }
            });
        }
        let role = match m.role {
            Role::User => bt::ConversationRole::User,
            Role::Assistant => bt::ConversationRole::Assistant,
        };
        messages.push(
            bt::Message::builder()
                .role(role)
                .set_content(Some(blocks))
                .build()
                .map_err(|e| build_err(&format!("messages[{i}]"), e))?,
        );
    }
    let cache_point = || {
        bt::CachePointBlock::builder()
            .r#type(bt::CachePointType::Default)
            .build()
            .map_err(|e| build_err("cachePoint", e))
    };
    let system = if req.system.is_empty() {
        None
    } else {
        let mut blocks = vec![bt::SystemContentBlock::Text(req.system.clone())];
        if req.cache_prompt {
            blocks.push(bt::SystemContentBlock::CachePoint(cache_point()?));
        }
        Some(blocks)
    };
    let max_tokens = i32::try_from(req.max_tokens)
        .map_err(|_| LlmError::BadRequest(format!("max_tokens {} is too large", req.max_tokens)))?;
    let mut inference = bt::InferenceConfiguration::builder().max_tokens(max_tokens);
    if let Some(t) = req.temperature {
        if !t.is_finite() || t < 0.0 {
            return Err(LlmError::BadRequest(format!(
                "temperature {t} must be a finite number ≥ 0"
            )));
        }
        inference = inference.temperature(t);
    }
    let tools = if req.tools.is_empty() {
        None
    } else {
        let mut specs = Vec::with_capacity(req.tools.len());
        for t in &req.tools {
            specs.push(bt::Tool::ToolSpec(
                bt::ToolSpecification::builder()
                    .name(&t.name)
                    .description(&t.description)
                    .input_schema(bt::ToolInputSchema::Json(json_to_document(&t.input_schema)))
                    .build()
                    .map_err(|e| build_err(&format!("tool {:?}", t.name), e))?,
            ));
        }
        if req.cache_prompt {
            specs.push(bt::Tool::CachePoint(cache_point()?));
        }
        Some(
            bt::ToolConfiguration::builder()
                .set_tools(Some(specs))
                .tool_choice(bt::ToolChoice::Auto(bt::AutoToolChoice::builder().build()))
                .build()
                .map_err(|e| build_err("toolConfig", e))?,
        )
    };
    Ok(ConverseParts {
        messages,
        system,
        inference: inference.build(),
        tools,
    })
}

fn from_output(output: ConverseOutput, raw: String) -> Result<ChatResponse, LlmError> {
    let message = match output.output() {
        Some(bt::ConverseOutput::Message(m)) => m,
        Some(_) => return Err(LlmError::InvalidResponse("output is not a message".into())),
        None => return Err(LlmError::InvalidResponse("response has no output".into())),
    };
    let mut content = Vec::with_capacity(message.content().len());
    for (i, block) in message.content().iter().enumerate() {
        match block {
            bt::ContentBlock::Text(t) => content.push(ContentBlock::Text(t.clone())),
            bt::ContentBlock::ToolUse(u) => {
                let input = document_to_json(u.input());
                if !input.is_object() {
                    return Err(LlmError::InvalidResponse(format!(
                        "output.message.content[{i}].toolUse ({}): input must be a JSON object",
                        u.name()
                    )));
                }
                content.push(ContentBlock::ToolUse {
                    id: u.tool_use_id().to_string(),
                    name: u.name().to_string(),
                    input,
                });
            }
            // Reasoning, citations and other block kinds carry nothing the loop acts on.
            _ => {}
        }
    }
    let stop_reason = match output.stop_reason() {
        bt::StopReason::EndTurn | bt::StopReason::StopSequence => StopReason::EndTurn,
        bt::StopReason::ToolUse => StopReason::ToolUse,
        bt::StopReason::MaxTokens => StopReason::MaxTokens,
        bt::StopReason::GuardrailIntervened | bt::StopReason::ContentFiltered => {
            StopReason::GuardrailIntervened
        }
        other => StopReason::Other(other.as_str().to_string()),
    };
    let usage = output
        .usage()
        .map(|u| Usage {
            input_tokens: u.input_tokens().max(0) as u64,
            output_tokens: u.output_tokens().max(0) as u64,
        })
        .unwrap_or_default();
    Ok(ChatResponse {
        content,
        stop_reason,
        usage,
        raw,
    })
}

fn map_sdk_error(
    provider: &str,
    limit: usize,
    err: SdkError<ConverseError, aws_smithy_runtime_api_http::Response>,
) -> LlmError {
    match &err {
        SdkError::ServiceError(ctx) => {
            let service = ctx.err();
            let code = service.code().unwrap_or("").to_string();
            let message = snippet(service.message().unwrap_or("(no message)"), 300);
            let status = ctx.raw().status().as_u16();
            if (200..300).contains(&status) {
                // A success status whose body the SDK could not read as a Converse answer.
                return LlmError::InvalidResponse(format!(
                    "{provider} answered HTTP {status} with a body that is not a Converse response: {}",
                    DisplayErrorContext(&err)
                ));
            }
            let what = format!(
                "{provider} answered HTTP {status} {}: {message}",
                if code.is_empty() {
                    "(no error code)"
                } else {
                    &code
                }
            );
            match code.as_str() {
                "ThrottlingException" | "TooManyRequestsException" => LlmError::Throttled {
                    provider: provider.to_string(),
                    retry_after: ctx
                        .raw()
                        .headers()
                        .get("retry-after")
                        .and_then(parse_retry_after),
                    message,
                },
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "IncompleteSignatureException" => LlmError::Auth(what),
                "ValidationException" | "ResourceNotFoundException" => LlmError::BadRequest(what),
                "InternalServerException"
                | "ServiceUnavailableException"
                | "ModelNotReadyException"
                | "ModelTimeoutException"
                | "ModelErrorException" => LlmError::Transport(what),
                _ => match status {
                    401 | 403 => LlmError::Auth(what),
                    429 => LlmError::Throttled {
                        provider: provider.to_string(),
                        retry_after: ctx
                            .raw()
                            .headers()
                            .get("retry-after")
                            .and_then(parse_retry_after),
                        message,
                    },
                    408 | 500..=599 => LlmError::Transport(what),
                    _ => LlmError::BadRequest(what),
                },
            }
        }
        SdkError::TimeoutError(_) => LlmError::Transport(format!(
            "{provider}: the SDK timed out: {}",
            DisplayErrorContext(&err)
        )),
        SdkError::DispatchFailure(_) => {
            let text = DisplayErrorContext(&err).to_string();
            if looks_like_missing_credentials(&text) {
                LlmError::Auth(format!("{provider}: {text}"))
            } else {
                LlmError::Transport(format!("{provider}: {text}"))
            }
        }
        SdkError::ResponseError(_) => {
            if has_source::<http_body_util::LengthLimitError>(&err)
                || has_source::<DeclaredTooLarge>(&err)
            {
                LlmError::InvalidResponse(format!(
                    "{provider} sent a response body over the {limit}-byte limit"
                ))
            } else {
                LlmError::InvalidResponse(format!("{provider}: {}", DisplayErrorContext(&err)))
            }
        }
        SdkError::ConstructionFailure(_) => {
            let text = DisplayErrorContext(&err).to_string();
            if looks_like_missing_credentials(&text) {
                LlmError::Auth(format!("{provider}: {text}"))
            } else {
                LlmError::BadRequest(format!("{provider}: {text}"))
            }
        }
        _ => LlmError::Transport(format!("{provider}: {}", DisplayErrorContext(&err))),
    }
}

/// Whether an SDK error text is about resolving credentials (the SDK has no typed variant).
fn looks_like_missing_credentials(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("credentials") || text.contains("identity") || text.contains("auth scheme")
}

fn has_source<T: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<T>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Per-call interceptor: caps the response body and keeps a copy of it for traces.
#[derive(Debug)]
struct BodyCapture {
    limit: usize,
    raw: Arc<Mutex<Option<String>>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
#[error("response body of {0} bytes (Content-Length) is over the {1}-byte limit")]
struct DeclaredTooLarge(u64, usize);

impl Intercept for BodyCapture {
    fn name(&self) -> &'static str {
        "WardenBodyCapture"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        let declared = response
            .headers()
            .get("content-length")
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(len) = declared {
            if len > self.limit as u64 {
                return Err(Box::new(DeclaredTooLarge(len, self.limit)));
            }
        }
        let body = std::mem::replace(response.body_mut(), SdkBody::taken());
        *response.body_mut() =
            SdkBody::from_body_1_x(http_body_util::Limited::new(body, self.limit));
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = context.response().body().bytes() {
            if let Ok(mut slot) = self.raw.lock() {
                *slot = Some(String::from_utf8_lossy(bytes).into_owned());
            }
        }
        Ok(())
    }
}

/// Converts JSON to a Smithy document.
pub fn json_to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or(0.0))
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(json_to_document).collect()),
        Value::Object(o) => Document::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_document(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// Converts a Smithy document to JSON (non-finite floats become `null`).
pub fn document_to_json(doc: &Document) -> Value {
    match doc {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => Value::Array(a.iter().map(document_to_json).collect()),
        Document::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), document_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_round_trip() {
        let v = json!({"a": [1, -2, 2.5, "s", true, null, {"b": {}}], "u": u64::MAX});
        assert_eq!(document_to_json(&json_to_document(&v)), v);
    }
}
