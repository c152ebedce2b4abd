//! Report renderers: human text (grouped by file and resource, optionally coloured), JSON and
//! SARIF 2.1.0 for GitHub code scanning.

use crate::catalogue::catalogue;
use crate::finding::{Finding, ScanReport, Severity};
use crate::rules::{rule, RULES};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Tool name in reports.
pub const TOOL: &str = "warden-posture";
/// Tool version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn colour(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical => "\x1b[1;35m",
        Severity::High => "\x1b[1;31m",
        Severity::Medium => "\x1b[33m",
        Severity::Low => "\x1b[36m",
        Severity::Info => "\x1b[2m",
    }
}

/// Counts per severity of unsuppressed findings.
fn counts(findings: &[&Finding]) -> BTreeMap<Severity, usize> {
    let mut m = BTreeMap::new();
    for f in findings.iter().filter(|f| f.suppressed.is_none()) {
        *m.entry(f.severity).or_insert(0) += 1;
    }
    m
}

/// Renders the human-readable report.
pub fn text(report: &ScanReport, min: Severity, show_suppressed: bool, color: bool) -> String {
    let (r, b, d) = if color {
        ("\x1b[0m", "\x1b[1m", "\x1b[2m")
    } else {
        ("", "", "")
    };
    let shown: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity >= min && (show_suppressed || f.suppressed.is_none()))
        .collect();
    let mut out = String::new();
    let mut by_file: BTreeMap<&str, BTreeMap<&str, Vec<&Finding>>> = BTreeMap::new();
    for f in &shown {
        by_file
            .entry(&f.file)
            .or_default()
            .entry(if f.resource.is_empty() {
                "(file)"
            } else {
                &f.resource
            })
            .or_default()
            .push(f);
    }
    for (file, resources) in &by_file {
        let _ = writeln!(out, "{b}{file}{r}");
        for (res, fs) in resources {
            let _ = writeln!(out, "  {b}{res}{r}");
            let mut fs = fs.clone();
            fs.sort_by(|a, b| {
                b.severity
                    .cmp(&a.severity)
                    .then(a.line.cmp(&b.line))
                    .then(a.rule.cmp(&b.rule))
            });
            for f in fs {
                let sev = f.severity.as_str().to_ascii_uppercase();
                let (sc, sr) = if color {
                    (colour(f.severity), "\x1b[0m")
                } else {
                    ("", "")
                };
                let _ = writeln!(
                    out,
                    "    {sc}{sev:<8}{sr} {:<12} {file}:{}  {}",
                    f.rule, f.line, f.message
                );
                if let Some(reason) = &f.suppressed {
                    let _ = writeln!(out, "    {d}         suppressed: {reason}{r}");
                } else if let Some(rm) = rule(&f.rule) {
                    let _ = writeln!(out, "    {d}         why: {}{r}", rm.why);
                    let _ = writeln!(out, "    {d}         fix: {}{r}", rm.fix);
                }
            }
        }
        out.push('\n');
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "{b}errors{r}");
        for e in &report.errors {
            match e.line {
                Some(l) => {
                    let _ = writeln!(out, "  {}:{l}: {}", e.file, e.message);
                }
                None => {
                    let _ = writeln!(out, "  {}: {}", e.file, e.message);
                }
            }
        }
        out.push('\n');
    }
    let all: Vec<&Finding> = report.findings.iter().collect();
    let cnt = counts(&all);
    let total: usize = cnt.values().sum();
    let parts: Vec<String> = cnt.iter().rev().map(|(s, n)| format!("{n} {s}")).collect();
    let suppressed = report
        .findings
        .iter()
        .filter(|f| f.suppressed.is_some())
        .count();
    let _ = writeln!(
        out,
        "{total} finding{} ({}), {suppressed} suppressed, {} file{} scanned, {} error{}",
        if total == 1 { "" } else { "s" },
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        },
        report.files_scanned,
        if report.files_scanned == 1 { "" } else { "s" },
        report.errors.len(),
        if report.errors.len() == 1 { "" } else { "s" },
    );
    out
}

/// Renders the JSON report.
pub fn json(report: &ScanReport) -> Value {
    let all: Vec<&Finding> = report.findings.iter().collect();
    json!({
        "tool": {"name": TOOL, "version": VERSION, "catalogue": catalogue().source},
        "summary": {
            "findings": all.iter().filter(|f| f.suppressed.is_none()).count(),
            "suppressed": all.iter().filter(|f| f.suppressed.is_some()).count(),
            "bySeverity": counts(&all).iter().map(|(s, n)| (s.as_str().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "filesScanned": report.files_scanned,
            "errors": report.errors.len(),
        },
        "findings": report.findings,
        "errors": report.errors,
    })
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

/// Renders SARIF 2.1.0.
pub fn sarif(report: &ScanReport) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            let family = r.id.split('-').next().unwrap_or("").to_ascii_lowercase();
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.why},
                "fullDescription": {"text": format!("{} Fix: {}", r.why, r.fix)},
                "help": {"text": format!("{}\n\nFix: {}", r.why, r.fix), "markdown": format!("**Why:** {}\n\n**Fix:** {}", r.why, r.fix)},
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {"security-severity": security_severity(r.severity), "tags": ["security", family], "precision": "high"},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let idx = RULES.iter().position(|r| r.id == f.rule).unwrap_or(0);
            let logical = if f.path.is_empty() { f.resource.clone() } else { format!("{}/{}", f.resource, f.path) };
            let mut v = json!({
                "ruleId": f.rule,
                "ruleIndex": idx,
                "level": level(f.severity),
                "message": {"text": f.message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": f.line.max(1)},
                    },
                    "logicalLocations": [{"fullyQualifiedName": logical, "kind": "resource"}],
                }],
                "partialFingerprints": {"wardenFingerprint/v1": f.fingerprint},
                "properties": {"severity": f.severity.as_str(), "security-severity": security_severity(f.severity)},
            });
            if let Some(reason) = &f.suppressed {
                v["suppressions"] = json!([{"kind": "inSource", "justification": reason}]);
            }
            v
        })
        .collect();
    let notes: Vec<Value> = report
        .errors
        .iter()
        .map(|e| {
            let mut loc = json!({"physicalLocation": {"artifactLocation": {"uri": e.file, "uriBaseId": "%SRCROOT%"}}});
            if let Some(l) = e.line {
                loc["physicalLocation"]["region"] = json!({"startLine": l.max(1)});
            }
            json!({"level": "error", "message": {"text": e.message}, "locations": [loc]})
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": TOOL,
                "version": VERSION,
                "semanticVersion": VERSION,
                "rules": rules,
                "properties": {"catalogue": catalogue().source},
            }},
            "invocations": [{"executionSuccessful": true, "toolExecutionNotifications": notes}],
            "results": results,
        }],
    })
}
