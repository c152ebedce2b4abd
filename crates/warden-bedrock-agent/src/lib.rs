//! Bedrock proxy mode: an agent hosted on Bedrock Agents, driven through InvokeAgent.
//!
//! Warden calls InvokeAgent (AWS SDK for Rust, default credential chain, trace enabled) and
//! reads the response event stream. When Bedrock returns control — the agent's action groups
//! are configured `RETURN_CONTROL` on the AWS side — each returned invocation runs through
//! Warden's own [`warden_agent::ToolRunner`] (the broker and sandbox), the optional
//! [`warden_agent::StepCheck`] (the detector) is consulted after every call, the optional
//! [`warden_agent::Screen`] screens each output as untrusted content, and the results go back in
//! the same session until Bedrock answers. A stop or a block ends the run without sending
//! results back. Bedrock's trace is kept as documented
//! `TracePart` JSON, with the calls Warden ran recorded beside it and marked
//! `"executedBy": "warden"`, so the detector compares what was reported with what ran.

mod client;
mod control;
mod error;
pub mod trace;

pub use client::{BedrockAgentClient, RemoteInvocation, RemoteOutcome, DEFAULT_MAX_ROUND_TRIPS};
pub use control::{EXECUTED_BY_KEY, EXECUTED_BY_WARDEN};
pub use error::{BedrockAgentError, RunFailure};
