//! The runtime detector: Bedrock traces and egress evidence normalised, gap rules, verdict fusion; pure and synchronous.
//!
//! Warden compares what an agent *reported* (its Bedrock-format trace) with what its tools
//! *really did* on the network (egress events from Warden's proxy and DNS server, or AWS VPC
//! Flow Logs and Route 53 Resolver query logs) and produces a verdict. Everything here is a
//! synchronous function over in-memory values: no IO, no tokio, no clock it is not given.
//!
//! - [`trace`]: `TracePart` JSON → [`Step`]s ([`parse_trace`]).
//! - [`egress`], [`aws`]: egress evidence readers ([`parse_egress_events`],
//!   [`parse_vpc_flow_logs`], [`parse_resolver_query_logs`], [`aws_to_egress`]).
//! - [`evidence`]: tool manifests and the trusted context.
//! - [`rules`]: the gap rules and their stable ids; [`detector`]: per-step and one-shot
//!   evaluation ([`Detector`], [`evaluate`]).
//! - [`fusion`]: findings + judge → `Verdict` ([`fuse`]); [`judge`]: the judge's summary and
//!   strict answer parser.

pub mod aws;
pub mod detector;
pub mod egress;
pub mod evidence;
pub mod fusion;
pub mod judge;
pub mod rules;
pub mod text;
pub mod trace;

pub use aws::{
    aws_to_egress, parse_resolver_query_logs, parse_vpc_flow_logs, Attribution, AwsAttribution,
    FlowRecord, ResolverQuery,
};
pub use detector::{evaluate, evaluate_with, Detector};
pub use egress::{parse_egress_events, EgressParseError, LineError, ParseMode, Parsed};
pub use evidence::{
    parse_host_rule, Context, Effect, Evidence, ObservationMode, Operation, ToolInfo,
};
pub use fusion::{combine, fuse, JudgeOutcome, OnFailure, VerdictContext};
pub use judge::{parse_judge_answer, JudgeParseError, JudgeSummary};
pub use rules::{ids, DetectConfig, Finding, Severity};
pub use trace::{parse_trace, steps_from_values, Invocation, Step, StepKind, Trace, TraceError};
