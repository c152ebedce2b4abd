//! LLM clients (Bedrock Converse through the AWS SDK, OpenAI-compatible chat completions) with tool use, and the verdict judge built on them.
//!
//! Every client implements [`ChatModel`] over one provider-neutral, Converse-like message model
//! and is bounded by a [`CallPolicy`]: a deadline for the whole call, retries with jittered
//! exponential back-off on throttling, 5xx and transport errors (honouring `Retry-After`), a
//! per-call token budget and a response size cap. The Bedrock client is behind the `bedrock`
//! cargo feature.

#[cfg(feature = "bedrock")]
pub mod bedrock;
pub mod error;
pub mod judge;
pub mod model;
pub mod openai;
pub mod policy;

#[cfg(feature = "bedrock")]
pub use bedrock::{BedrockConfig, BedrockConverse, GuardrailRef};
pub use error::LlmError;
pub use judge::{
    judge_from_config, parse_opinion, ConfiguredJudge, Judge, JudgeConfigError, JudgeError,
    LlmJudge, JUDGE_SYSTEM_PROMPT, MAX_REASON_CHARS,
};
pub use model::{
    ChatModel, ChatRequest, ChatResponse, ContentBlock, Message, Role, StopReason, ToolSpec, Usage,
};
pub use openai::{OpenAiChat, OpenAiConfig};
pub use policy::CallPolicy;
