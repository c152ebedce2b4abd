//! The tool broker: one action-group call from request to Lambda-format response. Policy
//! (schema, tenant scope, Cedar) from `warden-policy`, per-tenant secrets from
//! `warden-secrets`, a sandbox cell from `warden-sandbox` (or the cooperative proxy
//! environment), the real handler driven over the Lambda Runtime API ([`FunctionHost`]), and
//! the egress events the call produced, scanned for secrets on the way out ([`dlp`]).

pub mod dlp;
pub mod lambda;
mod runtime_api;
pub mod service;

pub use runtime_api::{BrokerError, FunctionHost, HandlerSpec, Launcher, Outcome};
pub use service::{Broker, BrokerOptions, ToolFailure, ToolRequest, ToolResult};
