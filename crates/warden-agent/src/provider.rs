//! The model-provider trait: Converse-like turns with tool use.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Token counts of one model call, fed to the per-tenant token rate limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// A tool call proposed by the model, in action-group terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    pub action_group: String,
    /// OpenAPI action groups: path and verb.
    pub api_path: Option<String>,
    pub http_method: Option<String>,
    /// Function-details action groups: the function name.
    pub function: Option<String>,
    /// Parameter values, as strings (Bedrock passes every value as a string).
    pub parameters: Vec<(String, String)>,
    pub request_body: Option<Value>,
}

/// What the model decided this turn.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnAction {
    Answer(String),
    Tool(ToolCall),
}

/// One model turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelTurn {
    pub rationale: Option<String>,
    pub action: TurnAction,
    pub usage: Usage,
    /// The raw response as the provider returned it (for `modelInvocationOutput`).
    pub raw: String,
}

/// One earlier exchange of the session: what the user said and what the agent answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    pub user: String,
    pub assistant: String,
}

/// What the model is asked: instructions, the session's earlier exchanges, the user's input,
/// and this invocation's steps.
#[derive(Debug, Clone)]
pub struct ModelRequest<'a> {
    pub instructions: &'a str,
    /// The session's memory, oldest first (already cut to the agent's memory window).
    pub history: &'a [Exchange],
    pub input_text: &'a str,
    /// (tool call, tool output text) pairs of this invocation so far.
    pub steps: &'a [(ToolCall, String)],
}

/// Why a model call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("model provider timed out")]
    Timeout,
    #[error("model provider throttled the request")]
    Throttled,
    #[error("model response is invalid: {0}")]
    InvalidResponse(String),
    #[error("model provider failed: {0}")]
    Provider(String),
}

/// A model that proposes the next turn.
#[async_trait]
pub trait ModelProvider: Send + Sync + std::fmt::Debug {
    /// A name for traces, e.g. `scripted:support.script.json` or a Bedrock model id.
    fn model_name(&self) -> &str;
    async fn next_turn(&self, req: &ModelRequest<'_>) -> Result<ModelTurn, ModelError>;
}
