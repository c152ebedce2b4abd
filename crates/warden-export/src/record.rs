//! The export record: the closed set of verdict fields that may leave a data plane.
//!
//! DESIGN.md §3 invariant 4: ids, decision, confidence, mode, rule ids, the human reason and
//! timestamps; nothing else. In particular not the verdict's evidence references (they point
//! at trace steps, egress events and findings, and callers have been known to put content
//! there) and not the list of checks that ran (harmless stage names, but the control plane
//! does not need them and a closed record is easier to reason about when it is minimal).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use warden_core::{Decision, Verdict, VerdictMode};

/// The schema version this crate writes and accepts.
pub const SCHEMA_VERSION: u32 = 1;
/// The longest `reason`, in characters.
pub const MAX_REASON_CHARS: usize = 1000;
/// The most rule ids in one record.
pub const MAX_RULES: usize = 64;
/// The longest id (data plane, tenant, agent, session, invocation, rule).
pub const MAX_ID_LEN: usize = 128;
/// The exact JSON keys of a serialized record.
pub const RECORD_KEYS: [&str; 14] = [
    "schemaVersion",
    "dataPlaneId",
    "tenantId",
    "agentId",
    "sessionId",
    "invocationId",
    "decision",
    "confidence",
    "mode",
    "rules",
    "reason",
    "startedAt",
    "decidedAt",
    "exportedAt",
];

/// One exported verdict. Closed: unknown fields are refused when deserializing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExportRecord {
    pub schema_version: u32,
    pub data_plane_id: String,
    pub tenant_id: String,
    pub agent_id: String,
    pub session_id: String,
    pub invocation_id: String,
    pub decision: Decision,
    /// 0.0..=1.0.
    pub confidence: f64,
    pub mode: VerdictMode,
    /// Rule ids of the verdict's reasons, in order, without duplicates.
    pub rules: Vec<String>,
    /// The reasons' human messages joined with `; `, at most [`MAX_REASON_CHARS`] characters.
    pub reason: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub decided_at: String,
    /// RFC 3339 time the record was made for export.
    pub exported_at: String,
}

/// Why a record is not acceptable. `field` is the JSON key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {reason}")]
pub struct RecordError {
    pub field: &'static str,
    pub reason: String,
}

fn bad(field: &'static str, reason: impl Into<String>) -> RecordError {
    RecordError {
        field,
        reason: reason.into(),
    }
}

/// Formats a time as RFC 3339 (UTC, `Z`).
pub fn rfc3339(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// Parses an RFC 3339 time to Unix milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Keeps at most `max` characters of `s` with control characters turned into spaces; a cut
/// string ends with `…` (counted in `max`).
fn bounded(s: &str, max: usize) -> String {
    let clean = s.chars().map(|c| if c.is_control() { ' ' } else { c });
    let total = s.chars().count();
    if total <= max {
        clean.collect()
    } else {
        let mut out: String = clean.take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

impl ExportRecord {
    /// The export record of a verdict: the verdict's ids, decision, confidence, mode and
    /// timestamps; its reasons' rule ids (deduplicated, in order, at most [`MAX_RULES`]) and
    /// messages (joined with `; ` in order — the first reason is the most important — and
    /// bounded to [`MAX_REASON_CHARS`]). Evidence references and checks are never copied.
    pub fn from_verdict(verdict: &Verdict, data_plane_id: &str, now: SystemTime) -> ExportRecord {
        let mut rules: Vec<String> = Vec::new();
        for r in &verdict.reasons {
            if rules.len() < MAX_RULES && !rules.contains(&r.rule) {
                rules.push(r.rule.clone());
            }
        }
        let mut reason = String::new();
        for r in &verdict.reasons {
            let m = r.message.trim();
            if m.is_empty() {
                continue;
            }
            if !reason.is_empty() {
                reason.push_str("; ");
            }
            reason.push_str(m);
            if reason.chars().count() > MAX_REASON_CHARS {
                break;
            }
        }
        ExportRecord {
            schema_version: SCHEMA_VERSION,
            data_plane_id: data_plane_id.to_string(),
            tenant_id: verdict.tenant_id.clone(),
            agent_id: verdict.agent_id.clone(),
            session_id: verdict.session_id.clone(),
            invocation_id: verdict.invocation_id.clone(),
            decision: verdict.decision,
            confidence: verdict.confidence,
            mode: verdict.mode,
            rules,
            reason: bounded(&reason, MAX_REASON_CHARS),
            started_at: verdict.started_at.clone(),
            decided_at: verdict.decided_at.clone(),
            exported_at: rfc3339(now),
        }
    }

    /// Checks every field: schema version, ids (`[A-Za-z0-9._:-]`, 1..=128), confidence in
    /// 0..=1, rule ids, reason length and RFC 3339 timestamps.
    pub fn validate(&self) -> Result<(), RecordError> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(bad(
                "schemaVersion",
                format!(
                    "is {}, this receiver accepts {SCHEMA_VERSION}",
                    self.schema_version
                ),
            ));
        }
        for (field, v) in [
            ("dataPlaneId", &self.data_plane_id),
            ("tenantId", &self.tenant_id),
            ("agentId", &self.agent_id),
            ("sessionId", &self.session_id),
            ("invocationId", &self.invocation_id),
        ] {
            check_id(field, v)?;
        }
        if !(self.confidence.is_finite() && (0.0..=1.0).contains(&self.confidence)) {
            return Err(bad(
                "confidence",
                format!("is {}, not in 0.0..=1.0", self.confidence),
            ));
        }
        if self.rules.len() > MAX_RULES {
            return Err(bad(
                "rules",
                format!("has {} ids, more than {MAX_RULES}", self.rules.len()),
            ));
        }
        for r in &self.rules {
            check_id("rules", r)?;
        }
        let n = self.reason.chars().count();
        if n > MAX_REASON_CHARS {
            return Err(bad(
                "reason",
                format!("is {n} characters, more than {MAX_REASON_CHARS}"),
            ));
        }
        for (field, v) in [
            ("startedAt", &self.started_at),
            ("decidedAt", &self.decided_at),
            ("exportedAt", &self.exported_at),
        ] {
            if parse_rfc3339_ms(v).is_none() {
                return Err(bad(
                    field,
                    format!("`{}` is not an RFC 3339 time", shown(v)),
                ));
            }
        }
        Ok(())
    }

    /// `decidedAt` as Unix milliseconds (0 if it does not parse; validated records parse).
    pub fn decided_at_ms(&self) -> i64 {
        parse_rfc3339_ms(&self.decided_at).unwrap_or(0)
    }
}

fn shown(v: &str) -> String {
    v.chars().take(40).collect()
}

pub(crate) fn check_id(field: &'static str, v: &str) -> Result<(), RecordError> {
    if v.is_empty() {
        return Err(bad(field, "is empty"));
    }
    if v.len() > MAX_ID_LEN {
        return Err(bad(field, format!("is longer than {MAX_ID_LEN} bytes")));
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Err(bad(
            field,
            format!(
                "value `{}` has characters outside [A-Za-z0-9._:-]",
                shown(v)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::Reason;

    fn verdict() -> Verdict {
        Verdict {
            decision: Decision::Block,
            confidence: 0.9,
            reasons: vec![
                Reason {
                    rule: "guard.input.pii".into(),
                    message: "Input contains an email address.".into(),
                    evidence: vec!["step:1".into()],
                },
                Reason {
                    rule: "guard.input.pii".into(),
                    message: "Input contains a phone number.".into(),
                    evidence: vec![],
                },
                Reason {
                    rule: "gap.undeclared-host".into(),
                    message: "Tool reached a host it did not declare.".into(),
                    evidence: vec![],
                },
            ],
            mode: VerdictMode::Enforce,
            checks: vec!["frontdoor".into()],
            tenant_id: "acme".into(),
            agent_id: "support".into(),
            session_id: "s1".into(),
            invocation_id: "inv-1".into(),
            started_at: "2026-11-22T03:00:00Z".into(),
            decided_at: "2026-11-22T03:00:01.250Z".into(),
        }
    }

    #[test]
    fn copies_ids_dedups_rules_and_joins_reasons() {
        let r = ExportRecord::from_verdict(&verdict(), "dp-1", SystemTime::UNIX_EPOCH);
        assert_eq!(r.rules, vec!["guard.input.pii", "gap.undeclared-host"]);
        assert_eq!(
            r.reason,
            "Input contains an email address.; Input contains a phone number.; Tool reached a host it did not declare."
        );
        assert_eq!(r.exported_at, "1970-01-01T00:00:00Z");
        assert_eq!(r.decided_at_ms(), 1_795_316_401_250);
        r.validate().unwrap();
    }

    #[test]
    fn reason_is_bounded_and_cleaned() {
        let mut v = verdict();
        v.reasons[0].message = format!("line\nbreak {}", "x".repeat(5000));
        let r = ExportRecord::from_verdict(&v, "dp-1", SystemTime::now());
        assert_eq!(r.reason.chars().count(), MAX_REASON_CHARS);
        assert!(r.reason.ends_with('…'));
        assert!(r.reason.starts_with("line break"));
        r.validate().unwrap();
    }

    #[test]
    fn validation_names_the_field() {
        let good = ExportRecord::from_verdict(&verdict(), "dp-1", SystemTime::now());
        let mut r = good.clone();
        r.confidence = 1.5;
        assert_eq!(r.validate().unwrap_err().field, "confidence");
        let mut r = good.clone();
        r.tenant_id = "a/b".into();
        assert_eq!(r.validate().unwrap_err().field, "tenantId");
        let mut r = good.clone();
        r.decided_at = "yesterday".into();
        assert_eq!(r.validate().unwrap_err().field, "decidedAt");
        let mut r = good;
        r.schema_version = 2;
        assert_eq!(r.validate().unwrap_err().field, "schemaVersion");
    }
}
