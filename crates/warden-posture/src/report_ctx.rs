//! Per-file collection context: the current file and resource, findings, suppressions, errors.

use crate::finding::{FileError, Finding, Severity};
use crate::suppress::Suppression;

/// Collects what the front ends and rules produce for one file.
#[derive(Debug, Default)]
pub struct Ctx {
    /// File as displayed in reports.
    pub file: String,
    /// Address of the resource being checked.
    pub resource: String,
    /// Findings so far.
    pub findings: Vec<Finding>,
    /// Suppressions declared in the file.
    pub suppressions: Vec<Suppression>,
    /// Errors (the rest of the file is still scanned where possible).
    pub errors: Vec<FileError>,
    /// Account ids treated as "ours" (not cross-account).
    pub own_accounts: Vec<String>,
    /// Resource spans (address, first line, last line) for comment suppressions.
    pub spans: Vec<(String, u32, u32)>,
}

impl Ctx {
    /// A context for `file`.
    pub fn new(file: &str, own_accounts: &[String]) -> Self {
        Ctx {
            file: file.to_string(),
            own_accounts: own_accounts.to_vec(),
            ..Ctx::default()
        }
    }

    /// Records a finding of `rule` (default severity unless `sev`) on the current resource.
    pub fn push(
        &mut self,
        rule: &'static str,
        sev: Option<Severity>,
        line: u32,
        path: &str,
        message: String,
        key: &str,
    ) {
        let severity = sev
            .unwrap_or_else(|| crate::rules::rule(rule).map_or(Severity::Medium, |r| r.severity));
        let mut f = Finding {
            rule: rule.to_string(),
            severity,
            message,
            file: self.file.clone(),
            line,
            resource: self.resource.clone(),
            path: path.to_string(),
            key: key.to_string(),
            suppressed: None,
            fingerprint: String::new(),
        };
        f.compute_fingerprint();
        self.findings.push(f);
    }

    /// Records a per-file error.
    pub fn error(&mut self, line: Option<u32>, message: String) {
        self.errors.push(FileError {
            file: self.file.clone(),
            line,
            message,
        });
    }
}
