//! Network model providers for the agent loop: any `warden_llm::ChatModel` (OpenAI-compatible
//! chat completions, Bedrock Converse) adapted to the loop's `ModelProvider`, with the agent's
//! action-group operations offered as tools (one tool per operation, schema from the policy
//! catalogue).

use async_trait::async_trait;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use warden_agent::{
    ModelError, ModelProvider, ModelRequest, ModelTurn, ToolCall, TurnAction, Usage,
};
use warden_llm::{ChatModel, ChatRequest, ContentBlock, LlmError, Message, Role, ToolSpec};
use warden_policy::Catalog;

/// Which action-group operation a model-facing tool name stands for.
#[derive(Debug, Clone)]
struct Target {
    action_group: String,
    api_path: Option<String>,
    http_method: Option<String>,
    function: Option<String>,
    /// Names that are parameters; any other argument is a request-body property.
    params: Vec<String>,
}

/// A chat model driving an agent.
#[derive(Debug)]
pub struct LlmProvider {
    model: Arc<dyn ChatModel>,
    name: String,
    tools: Vec<ToolSpec>,
    targets: BTreeMap<String, Target>,
    max_tokens: u32,
    /// Ask the provider to cache the stable prompt prefix (see `ChatRequest::cache_prompt`).
    cache_prompt: bool,
}

/// `<tool>__<operation>`, restricted to the characters every provider accepts.
fn tool_name(tool: &str, op: &str) -> String {
    let raw = format!("{tool}__{op}");
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

impl LlmProvider {
    pub fn new(
        model: Arc<dyn ChatModel>,
        catalog: &Catalog,
        action_groups: &[String],
        max_tokens: u32,
    ) -> LlmProvider {
        let mut tools = Vec::new();
        let mut targets = BTreeMap::new();
        for ag in action_groups {
            let Some(m) = catalog.tool(ag) else { continue };
            for op in &m.operations {
                let name = tool_name(ag, &op.id);
                let description = op
                    .description
                    .clone()
                    .or_else(|| op.summary.clone())
                    .or_else(|| m.description.clone())
                    .unwrap_or_else(|| op.id.clone());
                tools.push(ToolSpec {
                    name: name.clone(),
                    description,
                    input_schema: op.input_schema(),
                });
                targets.insert(
                    name,
                    Target {
                        action_group: ag.clone(),
                        api_path: op.path.clone(),
                        http_method: op.method.clone(),
                        function: op.function.clone(),
                        params: op.params.iter().map(|p| p.name.clone()).collect(),
                    },
                );
            }
        }
        LlmProvider {
            name: model.model_name().to_string(),
            model,
            tools,
            targets,
            max_tokens,
            cache_prompt: false,
        }
    }

    /// Marks every request's system prompt and tools as cacheable.
    pub fn with_prompt_cache(mut self, on: bool) -> Self {
        self.cache_prompt = on;
        self
    }

    fn name_of(&self, call: &ToolCall) -> String {
        self.targets
            .iter()
            .find(|(_, t)| {
                t.action_group == call.action_group
                    && t.function == call.function
                    && t.api_path == call.api_path
            })
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| call.action_group.clone())
    }
}

fn args_object(call: &ToolCall) -> Value {
    let mut m = Map::new();
    for (k, v) in &call.parameters {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    if let Some(Value::Object(body)) = &call.request_body {
        for (k, v) in body {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

fn map_error(e: LlmError) -> ModelError {
    match e {
        LlmError::Timeout { .. } => ModelError::Timeout,
        LlmError::Throttled { .. } => ModelError::Throttled,
        LlmError::InvalidResponse(m) => ModelError::InvalidResponse(m),
        other => ModelError::Provider(other.to_string()),
    }
}

#[async_trait]
impl ModelProvider for LlmProvider {
    fn model_name(&self) -> &str {
        &self.name
    }

    async fn next_turn(&self, req: &ModelRequest<'_>) -> Result<ModelTurn, ModelError> {
        // The session's memory first (as plain user/assistant turns), then this input.
        let mut messages = Vec::with_capacity(req.history.len() * 2 + 1 + req.steps.len() * 2);
        for e in req.history {
            messages.push(Message {
                role: Role::User,
                content: vec![ContentBlock::Text(e.user.clone())],
            });
            messages.push(Message {
                role: Role::Assistant,
                content: vec![ContentBlock::Text(e.assistant.clone())],
            });
        }
        messages.push(Message {
            role: Role::User,
            content: vec![ContentBlock::Text(req.input_text.to_string())],
        });
        for (i, (call, output)) in req.steps.iter().enumerate() {
            let id = format!("call_{i}");
            messages.push(Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse {
                    id: id.clone(),
                    name: self.name_of(call),
                    input: args_object(call),
                }],
            });
            messages.push(Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: id,
                    content: output.clone(),
                    is_error: false,
                }],
            });
        }
        let chat = ChatRequest {
            system: req.instructions.to_string(),
            messages,
            tools: self.tools.clone(),
            max_tokens: self.max_tokens,
            temperature: None,
            cache_prompt: self.cache_prompt,
        };
        let resp = self.model.chat(&chat).await.map_err(map_error)?;
        let usage = Usage {
            input_tokens: resp.usage.input_tokens,
            output_tokens: resp.usage.output_tokens,
        };
        let mut rationale = None;
        let mut text = String::new();
        for block in &resp.content {
            match block {
                ContentBlock::ToolUse { name, input, .. } => {
                    let Some(t) = self.targets.get(name) else {
                        return Err(ModelError::InvalidResponse(format!(
                            "the model called `{name}`, which is not one of this agent's tools"
                        )));
                    };
                    let Value::Object(args) = input else {
                        return Err(ModelError::InvalidResponse(format!(
                            "the arguments of `{name}` are not a JSON object"
                        )));
                    };
                    // Bedrock hands every parameter value over as a string; arguments that
                    // are not parameters of the operation form the request body.
                    let mut parameters = Vec::new();
                    let mut body = Map::new();
                    for (k, v) in args {
                        if t.function.is_some() || t.params.contains(k) {
                            let s = match v {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            parameters.push((k.clone(), s));
                        } else {
                            body.insert(k.clone(), v.clone());
                        }
                    }
                    if !text.is_empty() {
                        rationale = Some(text.clone());
                    }
                    return Ok(ModelTurn {
                        rationale,
                        action: TurnAction::Tool(ToolCall {
                            action_group: t.action_group.clone(),
                            api_path: t.api_path.clone(),
                            http_method: t.http_method.clone(),
                            function: t.function.clone(),
                            parameters,
                            request_body: (!body.is_empty()).then_some(Value::Object(body)),
                        }),
                        usage,
                        raw: resp.raw.clone(),
                    });
                }
                ContentBlock::Text(t) => text.push_str(t),
                ContentBlock::ToolResult { .. } => {}
            }
        }
        if text.trim().is_empty() {
            return Err(ModelError::InvalidResponse(
                "the model answered with neither text nor a tool call".into(),
            ));
        }
        Ok(ModelTurn {
            rationale: None,
            action: TurnAction::Answer(text),
            usage,
            raw: resp.raw,
        })
    }
}

/// Bedrock Converse for an agent (`provider = "bedrock"`), its client built on first use: the
/// SDK's configuration loader (default credential chain, region, `AWS_ENDPOINT_URL_*`) is
/// async and the server's build step is not. A loading failure (no region, say) fails that
/// call with a precise error.
#[cfg(feature = "bedrock")]
#[derive(Debug)]
pub struct LazyBedrock {
    config: warden_llm::BedrockConfig,
    client: tokio::sync::OnceCell<warden_llm::BedrockConverse>,
}

#[cfg(feature = "bedrock")]
impl LazyBedrock {
    pub fn new(config: warden_llm::BedrockConfig) -> Self {
        LazyBedrock {
            config,
            client: tokio::sync::OnceCell::new(),
        }
    }
}

#[cfg(feature = "bedrock")]
#[async_trait]
impl ChatModel for LazyBedrock {
    fn model_name(&self) -> &str {
        &self.config.model_id
    }

    async fn chat(
        &self,
        req: &warden_llm::ChatRequest,
    ) -> Result<warden_llm::ChatResponse, LlmError> {
        let client = self
            .client
            .get_or_try_init(|| warden_llm::BedrockConverse::new(self.config.clone()))
            .await?;
        client.chat(req).await
    }
}
