//! warden-posture: static posture scanner for LLM-agent deployments (`warden scan`).
//!
//! Reads IAM policies, CloudFormation (JSON/YAML), Terraform (plan JSON and HCL), Bedrock agent
//! definitions, OpenAPI tool schemas and `warden.toml`, builds one deployment model per file, and
//! reports findings with stable rule ids as text, JSON or SARIF 2.1.0.
//!
//! ```no_run
//! use warden_posture::{scan_paths, ScanOptions};
//! let report = scan_paths(&["deploy/".into()], &ScanOptions::default());
//! for f in &report.findings {
//!     println!("{} {} {}:{} {}", f.severity, f.rule, f.file, f.line, f.message);
//! }
//! ```

pub mod catalogue;
pub mod cfn;
mod checks;
pub mod cli;
pub mod error;
pub mod finding;
pub mod iam;
pub mod model;
pub mod node;
pub mod output;
mod report_ctx;
pub mod rules;
pub mod scan;
pub mod schema;
pub mod suppress;
pub mod tf;
pub mod wardencfg;
pub mod yaml;

pub use cli::{run, ScanArgs};
pub use error::{ParseError, ScanError};
pub use finding::{FileError, Finding, ScanReport, Severity};
pub use report_ctx::Ctx;
pub use rules::{Rule, RULES};
pub use scan::{scan_paths, scan_source, FileOutcome, ScanOptions};

/// Parses a policy or template text (JSON or YAML by sniffing) into a [`node::Node`]; used by
/// the fuzz target.
pub fn parse_document(text: &str) -> Result<node::Node, ParseError> {
    if text.trim_start().starts_with(['{', '[']) {
        node::parse_json(text)
    } else {
        yaml::parse_yaml(text)
    }
}
