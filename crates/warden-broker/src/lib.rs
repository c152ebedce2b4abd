//! The tool-call lifecycle. Today: [`FunctionHost`], a Lambda Runtime API host that runs one
//! real action-group handler (any language; `python3 -m awslambdaric app.handler` or a Rust
//! `lambda_runtime` binary) as a child process in its own process group, hands it Lambda
//! events and collects its responses, errors and init errors, with a deadline that kills the
//! handler and its children. Schema validation, tenant scope, Cedar and the sandbox cells
//! come next (see ARCHITECTURE.md).

pub mod lambda;
mod runtime_api;

pub use runtime_api::{BrokerError, FunctionHost, HandlerSpec, Launcher, Outcome};
