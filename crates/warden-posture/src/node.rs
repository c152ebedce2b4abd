//! Line-annotated document tree shared by every front end, plus a strict JSON parser that builds it.
//!
//! All inputs (JSON, YAML, HCL, TOML, embedded schema strings) are normalised into [`Node`] so
//! that the rules see one shape and every finding can point at a line.

use crate::error::ParseError;

/// Maximum nesting depth accepted by the parsers (protects the recursive consumers).
pub const MAX_DEPTH: usize = 200;
/// Maximum number of nodes a single document may expand to (YAML alias bombs, huge inputs).
pub const MAX_NODES: usize = 4_000_000;

/// One value with the 1-based line and column where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub kind: Kind,
    /// 1-based line of the first character of the value.
    pub line: u32,
    /// 1-based column of the first character of the value.
    pub col: u32,
}

/// The shape of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `null` / `~`.
    Null,
    /// Boolean.
    Bool(bool),
    /// Number, kept as its source text.
    Num(String),
    /// String.
    Str(String),
    /// Array / sequence.
    Seq(Vec<Node>),
    /// Object / mapping, in source order.
    Map(Vec<(String, Node)>),
}

impl Node {
    /// A node of `kind` at `line`.
    pub fn new(kind: Kind, line: u32, col: u32) -> Self {
        Node { kind, line, col }
    }

    /// A string node.
    pub fn str(s: impl Into<String>, line: u32) -> Self {
        Node::new(Kind::Str(s.into()), line, 1)
    }

    /// Value of `key` when this is a map (first occurrence).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Value of `key`, compared ASCII case-insensitively.
    pub fn get_ci(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Follows a chain of keys.
    pub fn path(&self, keys: &[&str]) -> Option<&Node> {
        let mut cur = self;
        for k in keys {
            cur = cur.get(k)?;
        }
        Some(cur)
    }

    /// Map entries (empty for non-maps).
    pub fn entries(&self) -> &[(String, Node)] {
        match &self.kind {
            Kind::Map(e) => e,
            _ => &[],
        }
    }

    /// Sequence items (empty for non-sequences).
    pub fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(v) => v,
            _ => &[],
        }
    }

    /// The node as a list: a sequence's items, or the node itself for a scalar / map.
    pub fn as_list(&self) -> Vec<&Node> {
        match &self.kind {
            Kind::Seq(v) => v.iter().collect(),
            Kind::Null => Vec::new(),
            _ => vec![self],
        }
    }

    /// Scalar text: strings, numbers and booleans (as `true`/`false`).
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) | Kind::Num(s) => Some(s),
            Kind::Bool(true) => Some("true"),
            Kind::Bool(false) => Some("false"),
            _ => None,
        }
    }

    /// Boolean value, accepting the strings `"true"`/`"false"` as CloudFormation does.
    pub fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            Kind::Bool(b) => Some(*b),
            Kind::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Kind::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// Scalar texts of the node seen as a list (non-scalars are skipped).
    pub fn str_list(&self) -> Vec<&str> {
        self.as_list()
            .into_iter()
            .filter_map(Node::as_str)
            .collect()
    }

    /// True for maps.
    pub fn is_map(&self) -> bool {
        matches!(self.kind, Kind::Map(_))
    }

    /// Last line covered by this node (the start line of its deepest, last child).
    pub fn end_line(&self) -> u32 {
        match &self.kind {
            Kind::Seq(v) => v.last().map_or(self.line, Node::end_line).max(self.line),
            Kind::Map(e) => e
                .last()
                .map_or(self.line, |(_, n)| n.end_line())
                .max(self.line),
            _ => self.line,
        }
    }

    /// Number of nodes in the tree.
    pub fn count(&self) -> usize {
        1 + match &self.kind {
            Kind::Seq(v) => v.iter().map(Node::count).sum(),
            Kind::Map(e) => e.iter().map(|(_, n)| n.count()).sum(),
            _ => 0,
        }
    }

    /// Converts to a `serde_json::Value` (used to re-serialise embedded documents).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Num(n) => n
                .parse::<serde_json::Number>()
                .map(Value::Number)
                .unwrap_or_else(|_| Value::String(n.clone())),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(v) => Value::Array(v.iter().map(Node::to_json).collect()),
            Kind::Map(e) => {
                Value::Object(e.iter().map(|(k, n)| (k.clone(), n.to_json())).collect())
            }
        }
    }

    /// Shifts every line number by `delta` (for documents embedded in another file).
    pub fn shift_lines(&mut self, delta: u32) {
        self.line = self.line.saturating_add(delta);
        match &mut self.kind {
            Kind::Seq(v) => v.iter_mut().for_each(|n| n.shift_lines(delta)),
            Kind::Map(e) => e.iter_mut().for_each(|(_, n)| n.shift_lines(delta)),
            _ => {}
        }
    }

    /// Sets every line number to `line` (for documents whose own lines are meaningless).
    pub fn set_lines(&mut self, line: u32) {
        self.line = line;
        match &mut self.kind {
            Kind::Seq(v) => v.iter_mut().for_each(|n| n.set_lines(line)),
            Kind::Map(e) => e.iter_mut().for_each(|(_, n)| n.set_lines(line)),
            _ => {}
        }
    }
}

/// Parses strict JSON (RFC 8259) into a [`Node`], with line/column positions.
pub fn parse_json(text: &str) -> Result<Node, ParseError> {
    let mut p = JsonParser {
        s: text.as_bytes(),
        i: 0,
        line: 1,
        line_start: 0,
        nodes: 0,
    };
    // A UTF-8 byte-order mark is tolerated.
    if p.s.starts_with(&[0xEF, 0xBB, 0xBF]) {
        p.i = 3;
        p.line_start = 3;
    }
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i < p.s.len() {
        return Err(p.err("unexpected trailing characters after the document"));
    }
    Ok(v)
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
    line: u32,
    line_start: usize,
    nodes: usize,
}

impl JsonParser<'_> {
    fn col(&self) -> u32 {
        u32::try_from(self.i.saturating_sub(self.line_start) + 1).unwrap_or(u32::MAX)
    }

    fn err(&self, msg: &str) -> ParseError {
        ParseError::Json {
            line: self.line,
            col: self.col(),
            msg: msg.to_string(),
        }
    }

    fn ws(&mut self) {
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b' ' | b'\t' | b'\r' => self.i += 1,
                b'\n' => {
                    self.i += 1;
                    self.line += 1;
                    self.line_start = self.i;
                }
                _ => break,
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError::TooDeep {
                limit: MAX_DEPTH,
                line: self.line,
            });
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(ParseError::TooManyNodes { limit: MAX_NODES });
        }
        let (line, col) = (self.line, self.col());
        let kind = match self.s.get(self.i) {
            None => return Err(self.err("unexpected end of input, expected a value")),
            Some(b'{') => {
                self.i += 1;
                let mut entries = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        if self.s.get(self.i) != Some(&b'"') {
                            return Err(self.err("expected a string key"));
                        }
                        let key = self.string()?;
                        self.ws();
                        if self.s.get(self.i) != Some(&b':') {
                            return Err(self.err("expected `:` after an object key"));
                        }
                        self.i += 1;
                        self.ws();
                        let v = self.value(depth + 1)?;
                        entries.push((key, v));
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err(self.err("expected `,` or `}` in an object")),
                        }
                    }
                }
                Kind::Map(entries)
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err(self.err("expected `,` or `]` in an array")),
                        }
                    }
                }
                Kind::Seq(items)
            }
            Some(b'"') => Kind::Str(self.string()?),
            Some(b't') => self.literal("true", Kind::Bool(true))?,
            Some(b'f') => self.literal("false", Kind::Bool(false))?,
            Some(b'n') => self.literal("null", Kind::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => return Err(self.err("unexpected character, expected a value")),
        };
        Ok(Node::new(kind, line, col))
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Result<Kind, ParseError> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(kind)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn number(&mut self) -> Result<Kind, ParseError> {
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let st = p.i;
            while matches!(p.s.get(p.i), Some(b'0'..=b'9')) {
                p.i += 1;
            }
            p.i - st
        };
        if digits(self) == 0 {
            return Err(self.err("invalid number"));
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(self.err("invalid number: digits expected after `.`"));
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("invalid number: digits expected in exponent"));
            }
        }
        // The slice is ASCII by construction.
        Ok(Kind::Num(
            String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
        ))
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("truncated `\\u` escape"))?;
        let txt = std::str::from_utf8(h).map_err(|_| self.err("invalid `\\u` escape"))?;
        let v = u32::from_str_radix(txt, 16).map_err(|_| self.err("invalid `\\u` escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        // Caller guarantees the opening quote.
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(&c) = self.s.get(self.i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            let chunk = std::str::from_utf8(&self.s[start..self.i])
                .map_err(|_| self.err("string is not valid UTF-8"))?;
            out.push_str(chunk);
            match self.s.get(self.i) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let esc = *self
                        .s
                        .get(self.i)
                        .ok_or_else(|| self.err("unterminated escape"))?;
                    self.i += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.err("unpaired surrogate in `\\u` escape"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("invalid low surrogate in `\\u` escape"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(
                                char::from_u32(cp).ok_or_else(|| {
                                    self.err("invalid code point in `\\u` escape")
                                })?,
                            );
                        }
                        _ => return Err(self.err("invalid escape sequence")),
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_lines() {
        let n = parse_json("{\n \"a\": [1, \"x\"],\n \"b\": {\"c\": null}\n}").unwrap();
        assert_eq!(n.get("a").unwrap().line, 2);
        assert_eq!(n.path(&["b", "c"]).unwrap().line, 3);
        assert_eq!(n.get("a").unwrap().items()[1].as_str(), Some("x"));
        assert_eq!(n.end_line(), 3);
    }

    #[test]
    fn rejects_bad_json_with_position() {
        let e = parse_json("{\n  \"a\": [1,]\n}").unwrap_err();
        assert!(matches!(e, ParseError::Json { line: 2, .. }), "{e}");
        assert!(parse_json("{\"a\": 1} x").is_err());
        assert!(parse_json("\"\\ud800\"").is_err());
        assert_eq!(
            parse_json("\"\\ud83d\\ude00\"").unwrap().as_str(),
            Some("😀")
        );
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(10_000);
        assert!(matches!(parse_json(&deep), Err(ParseError::TooDeep { .. })));
    }
}
