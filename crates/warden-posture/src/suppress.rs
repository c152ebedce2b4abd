//! Inline suppressions: `"warden:ignore": {"RULE-ID": "reason"}` metadata and
//! `# warden:ignore RULE-ID reason` comments. A suppression must carry a reason.

use crate::node::{Kind, Node};
use crate::report_ctx::Ctx;

/// What a suppression covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole file.
    File,
    /// One resource (by address).
    Resource(String),
    /// A path prefix inside one resource.
    Path(String, String),
}

/// One suppression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// Rule id.
    pub rule: String,
    /// Reason; `None` makes the suppression invalid (reported as SUPPRESS-001).
    pub reason: Option<String>,
    /// Where it is declared.
    pub line: u32,
    /// What it covers.
    pub scope: Scope,
}

impl Suppression {
    /// Suppression scoped to a path of a resource.
    pub fn path(
        rule: String,
        reason: Option<String>,
        line: u32,
        resource: String,
        path: String,
    ) -> Self {
        let scope = if path.is_empty() {
            Scope::Resource(resource)
        } else {
            Scope::Path(resource, path)
        };
        Suppression {
            rule,
            reason,
            line,
            scope,
        }
    }
}

/// Reads a `warden:ignore` value: `{"RULE": "reason"}`, `["RULE reason", …]` or `"RULE reason"`.
pub fn ignores_from(n: Option<&Node>) -> Vec<(String, Option<String>, u32)> {
    let Some(n) = n else { return Vec::new() };
    let clean = |s: &str| Some(s.trim().to_string()).filter(|r| !r.is_empty());
    match &n.kind {
        Kind::Map(entries) => entries
            .iter()
            .map(|(k, v)| (k.trim().to_string(), v.as_str().and_then(clean), v.line))
            .collect(),
        _ => n
            .as_list()
            .into_iter()
            .filter_map(|x| {
                let s = x.as_str()?;
                let mut it = s.trim().splitn(2, char::is_whitespace);
                let rule = it.next()?.to_string();
                Some((rule, it.next().and_then(clean), x.line))
            })
            .collect(),
    }
}

/// Turns comment suppressions into scoped suppressions using the resource spans in `ctx`.
pub fn add_comment_suppressions(ctx: &mut Ctx, comments: Vec<(u32, String, Option<String>)>) {
    for (line, rule, reason) in comments {
        // A comment directly above a resource belongs to it; otherwise the innermost resource
        // containing the comment line; otherwise the whole file.
        let next = ctx
            .spans
            .iter()
            .find(|(_, a, _)| *a == line.saturating_add(1));
        let inner = next
            .or_else(|| {
                ctx.spans
                    .iter()
                    .filter(|(_, a, b)| *a <= line && line <= *b)
                    .min_by_key(|(_, a, b)| b - a)
            })
            .map(|(addr, _, _)| addr.clone());
        let scope = inner.map_or(Scope::File, Scope::Resource);
        ctx.suppressions.push(Suppression {
            rule,
            reason,
            line,
            scope,
        });
    }
}

/// Marks suppressed findings and reports invalid suppressions.
pub fn apply(ctx: &mut Ctx) {
    let sups = std::mem::take(&mut ctx.suppressions);
    for s in &sups {
        let addr = match &s.scope {
            Scope::File => String::new(),
            Scope::Resource(r) | Scope::Path(r, _) => r.clone(),
        };
        let saved = std::mem::replace(&mut ctx.resource, addr);
        if crate::rules::rule(&s.rule).is_none() {
            ctx.push(
                "SUPPRESS-002",
                None,
                s.line,
                "",
                format!("suppression names unknown rule `{}`", s.rule),
                &s.rule,
            );
        } else if s.reason.is_none() {
            ctx.push(
                "SUPPRESS-001",
                None,
                s.line,
                "",
                format!(
                    "suppression of `{}` has no reason, so it is not applied",
                    s.rule
                ),
                &s.rule,
            );
        }
        ctx.resource = saved;
    }
    for f in &mut ctx.findings {
        if f.rule.starts_with("SUPPRESS-") {
            continue;
        }
        for s in &sups {
            let Some(reason) = &s.reason else { continue };
            if s.rule != f.rule {
                continue;
            }
            let covers = match &s.scope {
                Scope::File => true,
                Scope::Resource(r) => *r == f.resource,
                Scope::Path(r, p) => {
                    *r == f.resource && (f.path == *p || f.path.starts_with(&format!("{p}.")))
                }
            };
            if covers {
                f.suppressed = Some(reason.clone());
                break;
            }
        }
    }
}
