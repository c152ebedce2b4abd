//! YAML front end: builds a [`Node`] tree with lines, maps CloudFormation short tags to intrinsics.
//!
//! Plain scalars are typed with YAML 1.2 core rules except that timestamps are never produced,
//! so an unquoted `Version: 2012-10-17` stays the string `2012-10-17` (a YAML 1.1 parser would
//! read a date; CloudFormation itself treats it as the version string).

use crate::error::ParseError;
use crate::node::{Kind, Node, MAX_DEPTH, MAX_NODES};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// CloudFormation short-form tags and the long form they stand for.
fn cfn_tag(suffix: &str) -> String {
    match suffix {
        "Ref" => "Ref".to_string(),
        "Condition" => "Condition".to_string(),
        other => format!("Fn::{other}"),
    }
}

enum Frame {
    Seq(Vec<Node>, Marker, Option<Tag>, usize),
    Map(
        Vec<(String, Node)>,
        Option<String>,
        Marker,
        Option<Tag>,
        usize,
    ),
}

struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: std::collections::HashMap<usize, Node>,
    nodes: usize,
    error: Option<ParseError>,
}

fn line_of(m: Marker) -> u32 {
    u32::try_from(m.line()).unwrap_or(u32::MAX).max(1)
}

fn col_of(m: Marker) -> u32 {
    u32::try_from(m.col() + 1).unwrap_or(u32::MAX)
}

fn plain_kind(v: String) -> Kind {
    match v.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => Kind::Null,
        "true" | "True" | "TRUE" => Kind::Bool(true),
        "false" | "False" | "FALSE" => Kind::Bool(false),
        _ => {
            let t = v.strip_prefix(['-', '+']).unwrap_or(&v);
            let numeric = !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'e' || b == b'E')
                && t.bytes().next().is_some_and(|b| b.is_ascii_digit())
                && t.bytes().filter(|b| *b == b'.').count() <= 1
                && v.parse::<f64>().is_ok();
            if numeric {
                Kind::Num(v)
            } else {
                Kind::Str(v)
            }
        }
    }
}

impl Builder {
    fn wrap_tag(node: Node, tag: Option<Tag>) -> Node {
        match tag {
            Some(t) if t.handle == "!" && !t.suffix.is_empty() => {
                let (line, col) = (node.line, node.col);
                Node::new(Kind::Map(vec![(cfn_tag(&t.suffix), node)]), line, col)
            }
            _ => node,
        }
    }

    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(items, ..)) => items.push(node),
            Some(Frame::Map(entries, pending, ..)) => match pending.take() {
                None => match node.kind {
                    Kind::Str(s) | Kind::Num(s) => *pending = Some(s),
                    Kind::Bool(b) => *pending = Some(b.to_string()),
                    Kind::Null => *pending = Some(String::new()),
                    _ => {
                        self.error = Some(ParseError::Yaml {
                            line: node.line,
                            col: node.col,
                            msg: "complex mapping keys are not supported".into(),
                        });
                    }
                },
                Some(key) => entries.push((key, node)),
            },
        }
    }

    fn count(&mut self, n: usize, mark: Marker) -> bool {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            self.error = Some(ParseError::TooManyNodes { limit: MAX_NODES });
            return false;
        }
        if self.stack.len() > MAX_DEPTH {
            self.error = Some(ParseError::TooDeep {
                limit: MAX_DEPTH,
                line: line_of(mark),
            });
            return false;
        }
        true
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::Scalar(v, style, anchor, tag) => {
                if !self.count(1, mark) {
                    return;
                }
                let kind = if style == TScalarStyle::Plain && tag.is_none() {
                    plain_kind(v)
                } else {
                    Kind::Str(v)
                };
                let node = Builder::wrap_tag(Node::new(kind, line_of(mark), col_of(mark)), tag);
                self.push_value(node, anchor);
            }
            Event::SequenceStart(anchor, tag) if self.count(1, mark) => {
                self.stack.push(Frame::Seq(Vec::new(), mark, tag, anchor));
            }
            Event::MappingStart(anchor, tag) if self.count(1, mark) => {
                self.stack
                    .push(Frame::Map(Vec::new(), None, mark, tag, anchor));
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, m, tag, anchor)) = self.stack.pop() {
                    let node =
                        Builder::wrap_tag(Node::new(Kind::Seq(items), line_of(m), col_of(m)), tag);
                    self.push_value(node, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(entries, _, m, tag, anchor)) = self.stack.pop() {
                    let node = Builder::wrap_tag(
                        Node::new(Kind::Map(entries), line_of(m), col_of(m)),
                        tag,
                    );
                    self.push_value(node, anchor);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(n) => {
                    if self.count(n.count(), mark) {
                        self.push_value(n, 0);
                    }
                }
                None => {
                    self.error = Some(ParseError::Yaml {
                        line: line_of(mark),
                        col: col_of(mark),
                        msg: "alias refers to an unknown anchor".into(),
                    });
                }
            },
            _ => {}
        }
    }
}

/// Parses the first YAML document of `text`.
pub fn parse_yaml(text: &str) -> Result<Node, ParseError> {
    let mut b = Builder {
        stack: Vec::new(),
        docs: Vec::new(),
        anchors: std::collections::HashMap::new(),
        nodes: 0,
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, false) {
        let m = e.marker();
        return Err(ParseError::Yaml {
            line: line_of(*m),
            col: col_of(*m),
            msg: e.info().to_string(),
        });
    }
    if let Some(e) = b.error {
        return Err(e);
    }
    Ok(b.docs
        .into_iter()
        .next()
        .unwrap_or_else(|| Node::new(Kind::Null, 1, 1)))
}

/// `# warden:ignore RULE-ID reason` comments: (line, rule, reason).
pub fn comment_suppressions(text: &str) -> Vec<(u32, String, Option<String>)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(pos) = line.find("warden:ignore") else {
            continue;
        };
        let before = &line[..pos];
        if !(before.contains('#') || before.contains("//")) {
            continue;
        }
        let rest = line[pos + "warden:ignore".len()..].trim();
        let mut parts = rest.splitn(2, char::is_whitespace);
        let rule = parts.next().unwrap_or("").trim().to_string();
        let reason = parts
            .next()
            .map(|r| r.trim().trim_start_matches(['-', ':']).trim().to_string())
            .filter(|r| !r.is_empty());
        let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
        out.push((n, rule, reason));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_stays_a_string_and_tags_become_intrinsics() {
        let n = parse_yaml("Version: 2012-10-17\nArn: !GetAtt Role.Arn\nN: 5\nB: true\n").unwrap();
        assert_eq!(
            n.get("Version").unwrap().kind,
            Kind::Str("2012-10-17".into())
        );
        assert_eq!(
            n.path(&["Arn", "Fn::GetAtt"]).unwrap().as_str(),
            Some("Role.Arn")
        );
        assert_eq!(n.get("Arn").unwrap().line, 2);
        assert_eq!(n.get("N").unwrap().kind, Kind::Num("5".into()));
        assert_eq!(n.get("B").unwrap().kind, Kind::Bool(true));
    }

    #[test]
    fn bad_yaml_has_a_position() {
        let e = parse_yaml("a: [1, 2\nb: c").unwrap_err();
        assert!(matches!(e, ParseError::Yaml { .. }), "{e}");
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            s.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = c;
        }
        assert!(matches!(
            parse_yaml(&s),
            Err(ParseError::TooManyNodes { .. })
        ));
    }

    #[test]
    fn comments() {
        let c = comment_suppressions(
            "a: 1 # warden:ignore IAM-003 scoped by SCP\n# warden:ignore LAMBDA-001\n",
        );
        assert_eq!(c[0], (1, "IAM-003".into(), Some("scoped by SCP".into())));
        assert_eq!(c[1], (2, "LAMBDA-001".into(), None));
    }
}
