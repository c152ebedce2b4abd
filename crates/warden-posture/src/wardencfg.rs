//! Checks on Warden's own `warden.toml` (WARDEN-*), parsed here into generic TOML values so the
//! scanner does not depend on the runtime config crate.

use crate::error::ParseError;
use crate::finding::Severity;
use crate::report_ctx::Ctx;
use std::path::Path;
use toml::Value;

/// True when a parsed TOML table looks like a Warden project file.
pub fn is_warden(t: &toml::Table, file_name: &str) -> bool {
    file_name == "warden.toml"
        || ["tools", "agents", "guardrails", "sandbox", "detector"]
            .iter()
            .any(|k| t.contains_key(*k))
}

/// Parses TOML text, mapping errors to a line.
pub fn parse(text: &str) -> Result<toml::Table, ParseError> {
    text.parse::<toml::Table>().map_err(|e| {
        let line = e.span().map_or(1, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        });
        ParseError::Toml {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            msg: e.message().to_string(),
        }
    })
}

struct Lines<'a> {
    lines: Vec<&'a str>,
}

impl Lines<'_> {
    fn header(&self, section: &str) -> u32 {
        let (a, b) = (format!("[{section}]"), format!("[[{section}]]"));
        let quoted = section
            .split_once('.')
            .map(|(p, n)| format!("[{p}.\"{n}\"]"));
        self.lines
            .iter()
            .position(|l| {
                let t = l.trim();
                t.starts_with(&a)
                    || t.starts_with(&b)
                    || quoted.as_ref().is_some_and(|q| t.starts_with(q.as_str()))
            })
            .map_or(1, |i| u32::try_from(i + 1).unwrap_or(u32::MAX))
    }

    fn key(&self, section: &str, key: &str) -> u32 {
        let start = self.header(section) as usize;
        let from = if section.is_empty() { 0 } else { start };
        for (i, l) in self.lines.iter().enumerate().skip(from) {
            let t = l.trim_start();
            if i >= start && t.starts_with('[') && !section.is_empty() && i + 1 != start {
                break;
            }
            if t.starts_with(key) && t[key.len()..].trim_start().starts_with('=') {
                return u32::try_from(i + 1).unwrap_or(u32::MAX);
            }
        }
        start as u32
    }
}

fn s<'a>(t: &'a toml::Table, k: &str) -> Option<&'a str> {
    t.get(k).and_then(Value::as_str)
}

/// Runs the WARDEN-* rules. `path` is used to resolve `token_file` relative to the config.
pub fn check(text: &str, t: &toml::Table, path: &Path, ctx: &mut Ctx) {
    let l = Lines {
        lines: text.lines().collect(),
    };
    // Spans for comment suppressions: one per table header.
    let headers: Vec<(u32, String)> = l
        .lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let t = line.trim();
            let inner = t
                .strip_prefix("[[")
                .and_then(|x| x.split("]]").next())
                .or_else(|| t.strip_prefix('[').and_then(|x| x.split(']').next()))?;
            Some((
                u32::try_from(i + 1).unwrap_or(u32::MAX),
                inner.replace('"', ""),
            ))
        })
        .collect();
    for (i, (line, name)) in headers.iter().enumerate() {
        let end = headers.get(i + 1).map_or(u32::MAX, |n| n.0 - 1);
        ctx.spans.push((name.clone(), *line, end));
    }
    let empty = toml::Table::new();
    let guardrails = t
        .get("guardrails")
        .and_then(Value::as_table)
        .unwrap_or(&empty);

    for (name, tool) in t.get("tools").and_then(Value::as_table).unwrap_or(&empty) {
        let sec = format!("tools.{name}");
        ctx.resource = sec.clone();
        let Some(tool) = tool.as_table() else {
            continue;
        };
        if s(tool, "execution") == Some("return_control") {
            continue;
        }
        match tool.get("egress").and_then(Value::as_array) {
            None => ctx.push(
                "WARDEN-001",
                None,
                l.header(&sec),
                "egress",
                format!("tool `{name}` has no `egress` allowlist"),
                "",
            ),
            Some(list) if list.is_empty() => ctx.push(
                "WARDEN-001",
                None,
                l.key(&sec, "egress"),
                "egress",
                format!(
                    "tool `{name}` has an empty `egress` allowlist but no explicit deny-all intent"
                ),
                "",
            ),
            Some(list) => {
                let wild: Vec<String> = list
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|h| h.starts_with('*') || h.starts_with("0.0.0.0") || *h == "::/0")
                    .map(|h| format!("`{h}`"))
                    .collect();
                if !wild.is_empty() {
                    ctx.push(
                        "WARDEN-001",
                        None,
                        l.key(&sec, "egress"),
                        "egress",
                        format!("tool `{name}` allows egress to {}", wild.join(", ")),
                        "",
                    );
                }
            }
        }
    }
    for (name, agent) in t.get("agents").and_then(Value::as_table).unwrap_or(&empty) {
        let sec = format!("agents.{name}");
        ctx.resource = sec.clone();
        let Some(agent) = agent.as_table() else {
            continue;
        };
        match s(agent, "guardrail") {
            None => ctx.push(
                "WARDEN-002",
                None,
                l.header(&sec),
                "guardrail",
                format!("agent `{name}` has no guardrail"),
                "",
            ),
            Some(g) if !guardrails.contains_key(g) => ctx.push(
                "WARDEN-002",
                None,
                l.key(&sec, "guardrail"),
                "guardrail",
                format!(
                    "agent `{name}` names guardrail `{g}`, which is not defined under [guardrails]"
                ),
                "",
            ),
            Some(_) => {}
        }
    }
    for (name, g) in guardrails {
        let sec = format!("guardrails.{name}");
        ctx.resource = sec.clone();
        let level = g
            .as_table()
            .and_then(|g| s(g, "prompt_attack"))
            .unwrap_or("none");
        if matches!(level, "none" | "low") {
            ctx.push(
                "WARDEN-006",
                None,
                l.header(&sec),
                "prompt_attack",
                format!("guardrail `{name}` has prompt_attack `{level}`"),
                "",
            );
        }
    }
    if let Some(sb) = t.get("sandbox").and_then(Value::as_table) {
        ctx.resource = "sandbox".into();
        if s(sb, "mode") == Some("cooperative") {
            ctx.push(
                "WARDEN-003",
                None,
                l.key("sandbox", "mode"),
                "mode",
                "sandbox runs in `cooperative` mode".into(),
                "",
            );
        }
    }
    if let Some(d) = t.get("detector").and_then(Value::as_table) {
        ctx.resource = "detector".into();
        if s(d, "mode") == Some("report") {
            ctx.push(
                "WARDEN-004",
                None,
                l.key("detector", "mode"),
                "mode",
                "detector runs in `report` mode and never blocks".into(),
                "",
            );
        }
    }
    ctx.resource = "admin".into();
    match t.get("admin").and_then(Value::as_table) {
        None => ctx.push(
            "WARDEN-005",
            None,
            1,
            "",
            "no `[admin]` credential is configured".into(),
            "",
        ),
        Some(a) => {
            if a.contains_key("token") {
                ctx.push(
                    "WARDEN-005",
                    None,
                    l.key("admin", "token"),
                    "token",
                    "admin token is written inline".into(),
                    "inline",
                );
            } else if let Some(f) = s(a, "token_file") {
                let p = path.parent().unwrap_or(Path::new(".")).join(f);
                if let Ok(tok) = std::fs::read_to_string(&p) {
                    let n = tok.trim().chars().count();
                    if n < 32 {
                        ctx.push(
                            "WARDEN-005",
                            Some(Severity::High),
                            l.key("admin", "token_file"),
                            "token_file",
                            format!("admin token in `{f}` is only {n} characters"),
                            "short",
                        );
                    }
                }
            } else if s(a, "token_env").is_none() {
                ctx.push(
                    "WARDEN-005",
                    None,
                    l.header("admin"),
                    "",
                    "`[admin]` has neither `token_file` nor `token_env`".into(),
                    "",
                );
            }
        }
    }
    if let Some(srv) = t.get("server").and_then(Value::as_table) {
        ctx.resource = "server".into();
        if let Some(a) = s(srv, "admin_listen") {
            if a.starts_with("0.0.0.0") || a.starts_with("[::]") || a.starts_with("::") {
                ctx.push(
                    "WARDEN-007",
                    None,
                    l.key("server", "admin_listen"),
                    "admin_listen",
                    format!("admin listener binds `{a}`"),
                    "",
                );
            }
        }
    }
    if let Some(auth) = t.get("auth").and_then(Value::as_table) {
        ctx.resource = "auth".into();
        for list in ["keys", "aws_keys"] {
            for (i, k) in auth
                .get(list)
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                if k.as_table().is_some_and(|k| k.contains_key("secret")) {
                    ctx.push(
                        "WARDEN-008",
                        None,
                        l.key(&format!("auth.{list}"), "secret"),
                        &format!("auth.{list}[{i}].secret"),
                        format!("`auth.{list}[{i}]` has an inline `secret`"),
                        &i.to_string(),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_weak_config() {
        let text = "version = 1\n[server]\nadmin_listen = \"0.0.0.0:8081\"\n[admin]\ntoken = \"abc\"\n[tools.orders]\nschema = \"x\"\n[tools.web]\negress = [\"*\"]\n[agents.support]\nguardrail = \"nope\"\n[sandbox]\nmode = \"cooperative\"\n[detector]\nmode = \"report\"\n";
        let t = parse(text).unwrap();
        let mut ctx = Ctx::new("warden.toml", &[]);
        check(text, &t, Path::new("warden.toml"), &mut ctx);
        let mut ids: Vec<&str> = ctx.findings.iter().map(|f| f.rule.as_str()).collect();
        ids.sort();
        assert_eq!(
            ids,
            [
                "WARDEN-001",
                "WARDEN-001",
                "WARDEN-002",
                "WARDEN-003",
                "WARDEN-004",
                "WARDEN-005",
                "WARDEN-007"
            ]
        );
        let web = ctx
            .findings
            .iter()
            .find(|f| f.resource == "tools.web")
            .unwrap();
        assert_eq!(web.line, 9);
    }
}
