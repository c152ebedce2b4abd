//! Findings, severities, per-file errors and the scan report.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Finding severity, ordered from least to most severe.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// One level lower (never below `Low`, `Info` stays `Info`).
    pub fn lowered(self) -> Severity {
        match self {
            Severity::Critical => Severity::High,
            Severity::High => Severity::Medium,
            Severity::Medium | Severity::Low => Severity::Low,
            Severity::Info => Severity::Info,
        }
    }

    /// One level higher.
    pub fn raised(self) -> Severity {
        match self {
            Severity::Info => Severity::Low,
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule id (`IAM-001`).
    pub rule: String,
    /// Effective severity (after adjustments such as conditions).
    pub severity: Severity,
    /// Human message naming the offending values in backticks.
    pub message: String,
    /// File the finding is in (as given / walked).
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: u32,
    /// Resource address (`AgentRole`, `aws_iam_role.agent`, `policy`).
    pub resource: String,
    /// Logical path inside the resource (`Policies[0].PolicyDocument.Statement[1]`).
    pub path: String,
    /// Discriminator for several findings of one rule at one path (privesc method id…).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub key: String,
    /// Suppression reason when suppressed in source.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub suppressed: Option<String>,
    /// Stable fingerprint (independent of line numbers).
    pub fingerprint: String,
}

impl Finding {
    /// Computes the stable fingerprint from rule, file, resource, path and key.
    pub fn compute_fingerprint(&mut self) {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [
            &self.rule,
            &self.file,
            &self.resource,
            &self.path,
            &self.key,
        ] {
            for b in part.as_bytes().iter().chain(std::iter::once(&0u8)) {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        self.fingerprint = format!("{h:016x}");
    }
}

/// A file (or part of one) that could not be scanned; the scan of other files continues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileError {
    /// The file.
    pub file: String,
    /// 1-based line when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<u32>,
    /// What went wrong.
    pub message: String,
}

/// Result of a scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReport {
    /// Findings, sorted by file, line, rule.
    pub findings: Vec<Finding>,
    /// Per-file errors.
    pub errors: Vec<FileError>,
    /// Number of files that were read and recognised.
    pub files_scanned: usize,
    /// Number of files skipped as not relevant.
    pub files_skipped: usize,
}

impl ScanReport {
    /// Unsuppressed findings at or above `sev`.
    pub fn count_at_least(&self, sev: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.suppressed.is_none() && f.severity >= sev)
            .count()
    }

    /// Sorted set of unsuppressed rule ids (handy in tests).
    pub fn rule_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .findings
            .iter()
            .filter(|f| f.suppressed.is_none())
            .map(|f| f.rule.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}
