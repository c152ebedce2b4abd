//! The agent runtime: runs one invocation of a configured agent — model turns, tool calls,
//! content screening hooks — and records it as a Bedrock-format trace (`TracePart` JSON), so
//! the same trace parser serves Warden's own agents and agents hosted on Bedrock.

mod provider;
mod runtime;
mod scripted;
mod trace;

pub use provider::{
    Exchange, ModelError, ModelProvider, ModelRequest, ModelTurn, ToolCall, TurnAction, Usage,
};
pub use runtime::{
    AgentError, Invocation, InvocationOutcome, PendingControl, Resume, Screen, ScreenOutcome,
    ScreenSource, StepCheck, Stop, ToolContext, ToolError, ToolOutput, ToolRunner,
};
pub use scripted::{ScriptError, ScriptedProvider};
pub use trace::{TraceBuilder, TraceState, DRAFT_ALIAS};
