//! Schema documents as JSON values: JSON or YAML text parsed with positions in errors, YAML
//! aliases expanded under a node budget so a small file cannot expand without bound.

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

/// Most nodes a YAML document may expand to (aliases included).
const YAML_NODE_BUDGET: usize = 200_000;
/// Deepest nesting accepted in a YAML document.
const YAML_MAX_DEPTH: usize = 128;

/// Parses a schema document. JSON when the text starts with `{` or `[` (after whitespace),
/// YAML otherwise. The error message names line and column.
pub(crate) fn parse_document(text: &str, json_hint: bool) -> Result<Value, String> {
    let first = text.trim_start().as_bytes().first().copied();
    if json_hint || matches!(first, Some(b'{') | Some(b'[')) {
        serde_json::from_str::<Value>(text).map_err(|e| {
            format!(
                "invalid JSON at line {} column {}: {}",
                e.line(),
                e.column(),
                json_error_message(&e)
            )
        })
    } else {
        parse_yaml(text)
    }
}

fn json_error_message(e: &serde_json::Error) -> String {
    // serde_json appends " at line L column C" to its Display; the caller says that already.
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

enum Frame {
    Seq(Vec<Value>, usize),
    Map(Map<String, Value>, Option<String>, usize),
}

struct Builder {
    stack: Vec<Frame>,
    anchors: Vec<(usize, Value, usize)>,
    root: Option<Value>,
    nodes: usize,
    error: Option<String>,
    documents: usize,
}

fn value_size(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(value_size).sum::<usize>(),
        Value::Object(o) => 1 + o.values().map(value_size).sum::<usize>(),
        _ => 1,
    }
}

fn scalar(text: String, style: TScalarStyle) -> Value {
    if style != TScalarStyle::Plain {
        return Value::String(text);
    }
    match Yaml::from_str(&text) {
        Yaml::Integer(i) => Value::Number(i.into()),
        Yaml::Real(r) => match r.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Value::Number(n),
            None => Value::String(text),
        },
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        _ => Value::String(text),
    }
}

fn key_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

impl Builder {
    fn fail(&mut self, msg: String) {
        if self.error.is_none() {
            self.error = Some(msg);
        }
    }

    fn push_value(&mut self, v: Value, anchor: usize, mark: Marker) {
        if anchor > 0 {
            self.anchors.push((anchor, v.clone(), value_size(&v)));
        }
        let mut duplicate = None;
        match self.stack.last_mut() {
            None => self.root = Some(v),
            Some(Frame::Seq(items, _)) => items.push(v),
            Some(Frame::Map(map, key, _)) => match key.take() {
                None => *key = Some(key_string(&v)),
                Some(k) => {
                    if map.contains_key(&k) {
                        duplicate = Some(format!(
                            "invalid YAML at line {} column {}: duplicate key `{}`",
                            mark.line(),
                            mark.col() + 1,
                            crate::manifest::truncate(&k, 64)
                        ));
                    }
                    map.insert(k, v);
                }
            },
        }
        if let Some(msg) = duplicate {
            self.fail(msg);
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        self.nodes += 1;
        if self.nodes > YAML_NODE_BUDGET {
            self.fail(format!(
                "YAML document expands beyond {YAML_NODE_BUDGET} nodes"
            ));
            return;
        }
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(format!(
                        "invalid YAML at line {} column {}: more than one document",
                        mark.line(),
                        mark.col() + 1
                    ));
                }
            }
            Event::Scalar(text, style, anchor, _) => {
                let v = scalar(text, style);
                self.push_value(v, anchor, mark);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= YAML_MAX_DEPTH {
                    self.fail(format!("YAML nesting deeper than {YAML_MAX_DEPTH} levels"));
                    return;
                }
                if matches!(ev, Event::SequenceStart(..)) {
                    self.stack.push(Frame::Seq(Vec::new(), anchor));
                } else {
                    self.stack.push(Frame::Map(Map::new(), None, anchor));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq(items, anchor)) => {
                    self.push_value(Value::Array(items), anchor, mark)
                }
                Some(Frame::Map(map, _, anchor)) => {
                    self.push_value(Value::Object(map), anchor, mark)
                }
                None => self.fail("unbalanced YAML events".to_string()),
            },
            Event::Alias(id) => {
                let found = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _, _)| *a == id)
                    .map(|(_, v, n)| (v.clone(), *n));
                match found {
                    Some((v, n)) => {
                        self.nodes += n;
                        if self.nodes > YAML_NODE_BUDGET {
                            self.fail(format!(
                                "YAML document expands beyond {YAML_NODE_BUDGET} nodes"
                            ));
                            return;
                        }
                        self.push_value(v, 0, mark);
                    }
                    None => self.fail(format!(
                        "invalid YAML at line {} column {}: unknown alias",
                        mark.line(),
                        mark.col() + 1
                    )),
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

fn parse_yaml(text: &str) -> Result<Value, String> {
    let mut builder = Builder {
        stack: Vec::new(),
        anchors: Vec::new(),
        root: None,
        nodes: 0,
        error: None,
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        return Err(format!(
            "invalid YAML at line {} column {}: {}",
            e.marker().line(),
            e.marker().col() + 1,
            e.info()
        ));
    }
    if let Some(e) = builder.error {
        return Err(e);
    }
    builder.root.ok_or_else(|| "empty document".to_string())
}

/// Escapes one JSON-pointer reference token (`~` → `~0`, `/` → `~1`).
pub(crate) fn escape_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Appends a reference token to a JSON pointer.
pub(crate) fn ptr(base: &str, token: &str) -> String {
    format!("{base}/{}", escape_token(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_scalars_and_keys() {
        let v = parse_document("a: 1\nb: '1'\nc: true\nd: [x, 2.5]\n200: ok\n", false).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a":1,"b":"1","c":true,"d":["x",2.5],"200":"ok"})
        );
    }

    #[test]
    fn yaml_aliases_expand_and_budget_holds() {
        let v = parse_document("a: &x {k: v}\nb: *x\n", false).unwrap();
        assert_eq!(v["b"]["k"], "v");
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
                p = i - 1
            ));
        }
        let err = parse_document(&bomb, false).unwrap_err();
        assert!(err.contains("expands beyond"), "{err}");
    }

    #[test]
    fn errors_name_line_and_column() {
        let err = parse_document("{\n  \"a\": 1,\n  \"b\" 2\n}", false).unwrap_err();
        assert!(err.starts_with("invalid JSON at line 3 column"), "{err}");
        let err = parse_document("a: 1\nb: [1, 2\n", false).unwrap_err();
        assert!(err.starts_with("invalid YAML at line"), "{err}");
        let err = parse_document("a: 1\na: 2\n", false).unwrap_err();
        assert!(err.contains("duplicate key `a`"), "{err}");
    }
}
