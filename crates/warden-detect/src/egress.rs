//! Egress evidence in Warden's own shape: `EgressEvent` records (camelCase JSON) as a JSON array
//! or JSON lines, read strictly or leniently (bad records skipped and returned as warnings).

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use warden_core::egress::EgressEvent;

/// How to treat a bad record or line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParseMode {
    /// The first bad record is an error.
    #[default]
    Strict,
    /// Bad records are skipped and reported as warnings.
    Lenient,
}

/// A record that could not be read: where, which field, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {field}: {message}", column.map(|c| format!(", column {c}")).unwrap_or_default())]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Index of the record (0-based) among the records of the input.
    pub record: usize,
    /// The field at fault (`json` for syntax errors).
    pub field: String,
    pub message: String,
}

/// Records read, plus the bad ones skipped in lenient mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    pub records: Vec<T>,
    pub warnings: Vec<LineError>,
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Parsed {
            records: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// A whole input that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressParseError {
    #[error("egress evidence: {0}")]
    Line(#[from] LineError),
}

struct Counting<'a> {
    count: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for Counting<'_> {
    type Value = Vec<Value>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<Value>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Counting<'_> {
    type Value = Vec<Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of egress events")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            out.push(v);
            *self.count += 1;
        }
        Ok(out)
    }
}

/// The serde field path of an error message like "missing field `kind`" or "unknown variant".
fn field_of(msg: &str) -> String {
    if let Some(start) = msg.find('`') {
        if let Some(len) = msg[start + 1..].find('`') {
            return msg[start + 1..start + 1 + len].to_string();
        }
    }
    "record".to_string()
}

/// 1-based line of byte `offset` in `s`.
fn line_of(s: &str, offset: usize) -> usize {
    s.as_bytes()[..offset.min(s.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn convert(v: Value, line: usize, record: usize) -> Result<EgressEvent, LineError> {
    let fail = |e: serde_json::Error| {
        let message = e.to_string();
        LineError {
            line,
            column: None,
            record,
            field: field_of(&message),
            message,
        }
    };
    serde_json::from_value::<EgressEvent>(v).map_err(fail)
}

/// Read `EgressEvent`s from a JSON array, or from JSON lines (one event per line; blank lines
/// ignored). Field names are the camelCase contract of `warden_core::egress::EgressEvent`.
pub fn parse_egress_events(
    input: &str,
    mode: ParseMode,
) -> Result<Parsed<EgressEvent>, EgressParseError> {
    let mut out = Parsed::default();
    let trimmed = input.trim_start();
    if trimmed.starts_with('[') {
        let mut de = serde_json::Deserializer::from_str(input);
        let mut count = 0usize;
        let values = Counting { count: &mut count }
            .deserialize(&mut de)
            .and_then(|v| de.end().map(|()| v))
            .map_err(|e| LineError {
                line: e.line(),
                column: Some(e.column()),
                record: count,
                field: "json".into(),
                message: e.to_string(),
            })?;
        // Line of each element: find it by re-serialising is not exact; use the array's line
        // for a single-line array and the element's own line for pretty-printed input.
        let starts = element_lines(input);
        for (i, v) in values.into_iter().enumerate() {
            let line = starts.get(i).copied().unwrap_or(1);
            match convert(v, line, i) {
                Ok(ev) => out.records.push(ev),
                Err(e) if mode == ParseMode::Lenient => out.warnings.push(e),
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(out);
    }
    let mut record = 0usize;
    for (i, raw) in input.split('\n').enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let parsed: Result<EgressEvent, LineError> = serde_json::from_str::<Value>(line)
            .map_err(|e| LineError {
                line: i + 1,
                column: Some(e.column()),
                record,
                field: "json".into(),
                message: e.to_string(),
            })
            .and_then(|v| convert(v, i + 1, record));
        match parsed {
            Ok(ev) => out.records.push(ev),
            Err(e) if mode == ParseMode::Lenient => out.warnings.push(e),
            Err(e) => return Err(e.into()),
        }
        record += 1;
    }
    Ok(out)
}

/// 1-based line on which each top-level element of a JSON array starts.
fn element_lines(input: &str) -> Vec<usize> {
    let b = input.as_bytes();
    let mut depth = 0i32;
    let mut in_str = false;
    let mut esc = false;
    let mut expecting = false;
    let mut out = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        if expecting && !c.is_ascii_whitespace() && c != b']' {
            out.push(line_of(input, i));
            expecting = false;
        }
        match c {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth == 1 && c == b'[' {
                    expecting = true;
                }
            }
            b']' | b'}' => depth -= 1,
            b',' if depth == 1 => expecting = true,
            _ => {}
        }
    }
    out
}
