//! Action-group schema rules (SCHEMA-*): unconstrained string parameters, SQL/shell/URL/message
//! sinks and mutating operations without user confirmation, for OpenAPI 3 documents and Bedrock
//! function schemas.

use crate::finding::Severity;
use crate::node::Node;
use crate::report_ctx::Ctx;

/// A parameter or body property, flattened.
struct Param<'a> {
    name: String,
    node: &'a Node,
}

fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn resolve_ref<'a>(root: &'a Node, n: &'a Node, depth: usize) -> &'a Node {
    if depth > 16 {
        return n;
    }
    match n.get("$ref").and_then(Node::as_str) {
        Some(r) => {
            let Some(path) = r.strip_prefix("#/") else {
                return n;
            };
            let keys: Vec<&str> = path.split('/').collect();
            match root.path(&keys) {
                Some(t) => resolve_ref(root, t, depth + 1),
                None => n,
            }
        }
        None => n,
    }
}

fn is_string(schema: &Node) -> bool {
    match schema.get("type").and_then(Node::as_str) {
        Some(t) => t == "string",
        None => {
            schema.get("properties").is_none()
                && schema.get("items").is_none()
                && schema.get("enum").is_none()
        }
    }
}

fn constrained(schema: &Node) -> bool {
    ["pattern", "enum", "maxLength", "const", "format"]
        .iter()
        .any(|k| schema.get(k).is_some())
}

fn collect_props<'a>(
    root: &'a Node,
    schema: &'a Node,
    prefix: &str,
    out: &mut Vec<Param<'a>>,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    let schema = resolve_ref(root, schema, 0);
    if let Some(items) = schema.get("items") {
        collect_props(root, items, prefix, out, depth + 1);
    }
    for (name, p) in schema.get("properties").map(Node::entries).unwrap_or(&[]) {
        let p = resolve_ref(root, p, 0);
        let full = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if p.get("properties").is_some() || p.get("items").is_some() {
            collect_props(root, p, &full, out, depth + 1);
        } else {
            out.push(Param {
                name: full,
                node: p,
            });
        }
    }
}

const MUTATING_WORDS: &[&str] = &[
    "create", "update", "delete", "remove", "cancel", "refund", "send", "transfer", "pay", "reset",
    "modify", "set", "write", "post", "put", "add", "issue", "approve", "close", "change",
    "submit", "execute", "run", "grant",
];

struct Sinks {
    sql: bool,
    shell: bool,
    url: Vec<String>,
    message: Vec<String>,
}

fn sinks(op_words: &[String], params: &[Param<'_>], texts: &str) -> Sinks {
    let has = |w: &[&str]| op_words.iter().any(|x| w.contains(&x.as_str()));
    let texts = texts.to_ascii_lowercase();
    let mut s = Sinks {
        sql: op_words.iter().any(|w| w.contains("sql")),
        shell: has(&[
            "shell",
            "bash",
            "exec",
            "eval",
            "powershell",
            "cmd",
            "command",
            "script",
        ]),
        url: Vec::new(),
        message: Vec::new(),
    };
    let messaging_op = has(&[
        "email",
        "mail",
        "sms",
        "slack",
        "notify",
        "notification",
        "message",
        "webhook",
        "send",
    ]);
    let fetch_op = has(&[
        "fetch", "download", "crawl", "scrape", "browse", "http", "url", "webpage",
    ]);
    for p in params {
        let w = words(p.name.rsplit('.').next().unwrap_or(&p.name));
        let pw = |l: &[&str]| w.iter().any(|x| l.contains(&x.as_str()));
        let free =
            is_string(p.node) && p.node.get("enum").is_none() && p.node.get("pattern").is_none();
        if pw(&["sql"])
            || (pw(&["query", "statement"]) && (texts.contains("sql") || texts.contains("select ")))
        {
            s.sql = true;
        }
        if pw(&["command", "cmd", "shell", "script", "code", "expression"]) && free {
            s.shell = true;
        }
        let url_param = pw(&[
            "url", "uri", "href", "link", "endpoint", "webhook", "callback",
        ]) || (fetch_op && pw(&["host", "domain", "site", "address"]));
        if url_param && free {
            s.url.push(p.name.clone());
        }
        if messaging_op
            && pw(&[
                "to",
                "recipient",
                "recipients",
                "email",
                "phone",
                "channel",
                "cc",
                "bcc",
                "destination",
                "address",
            ])
            && free
        {
            s.message.push(p.name.clone());
        }
    }
    s
}

fn report_sinks(ctx: &mut Ctx, s: &Sinks, op: &str, line: u32, path: &str) {
    if s.sql {
        ctx.push(
            "SCHEMA-002",
            None,
            line,
            path,
            format!("operation `{op}` takes raw SQL"),
            op,
        );
    }
    if s.shell {
        ctx.push(
            "SCHEMA-003",
            None,
            line,
            path,
            format!("operation `{op}` runs commands or code"),
            op,
        );
    }
    if !s.url.is_empty() {
        ctx.push(
            "SCHEMA-004",
            None,
            line,
            path,
            format!(
                "operation `{op}` fetches caller-chosen URLs via {}",
                fmt_list(&s.url)
            ),
            op,
        );
    }
    if !s.message.is_empty() {
        ctx.push(
            "SCHEMA-005",
            None,
            line,
            path,
            format!(
                "operation `{op}` sends messages to caller-chosen recipients via {}",
                fmt_list(&s.message)
            ),
            op,
        );
    }
}

fn fmt_list(v: &[String]) -> String {
    v.iter()
        .map(|x| format!("`{x}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks an OpenAPI 3 document. `base` is the path of the schema inside its resource.
pub fn check_openapi(doc: &Node, ctx: &mut Ctx, base: &str) {
    let Some(paths) = doc.get("paths") else {
        ctx.push(
            "SCHEMA-007",
            None,
            doc.line,
            base,
            "OpenAPI document has no `paths`".into(),
            "",
        );
        return;
    };
    for (path, item) in paths.entries() {
        let shared_params = item.get("parameters");
        for (method, op) in item.entries() {
            let m = method.to_ascii_lowercase();
            if !["get", "put", "post", "delete", "patch", "head", "options"].contains(&m.as_str()) {
                continue;
            }
            let op_name = op.get("operationId").and_then(Node::as_str).map_or_else(
                || format!("{} {path}", m.to_ascii_uppercase()),
                str::to_string,
            );
            let p = if base.is_empty() {
                format!("paths.{path}.{m}")
            } else {
                format!("{base}.paths.{path}.{m}")
            };
            let mut params = Vec::new();
            for list in [shared_params, op.get("parameters")].into_iter().flatten() {
                for pn in list.items() {
                    let pn = resolve_ref(doc, pn, 0);
                    let name = pn
                        .get("name")
                        .and_then(Node::as_str)
                        .unwrap_or("?")
                        .to_string();
                    let schema = pn.get("schema").map_or(pn, |s| resolve_ref(doc, s, 0));
                    params.push(Param { name, node: schema });
                }
            }
            if let Some(content) = op.path(&["requestBody", "content"]) {
                for (_, media) in content.entries() {
                    if let Some(schema) = media.get("schema") {
                        collect_props(doc, schema, "", &mut params, 0);
                    }
                }
            }
            let loose: Vec<String> = params
                .iter()
                .filter(|p| is_string(p.node) && !constrained(p.node))
                .map(|p| p.name.clone())
                .collect();
            if !loose.is_empty() {
                ctx.push("SCHEMA-001", None, op.line, &p,
                    format!("operation `{op_name}` has string parameters without pattern, enum, maxLength or format: {}", fmt_list(&loose)), &op_name);
            }
            let mut op_words = words(&op_name);
            op_words.extend(words(path));
            let texts = format!(
                "{} {} {}",
                op.get("description").and_then(Node::as_str).unwrap_or(""),
                op.get("summary").and_then(Node::as_str).unwrap_or(""),
                params
                    .iter()
                    .filter_map(|p| p.node.get("description").and_then(Node::as_str))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            report_sinks(
                ctx,
                &sinks(&op_words, &params, &texts),
                &op_name,
                op.line,
                &p,
            );
            let mutating = matches!(m.as_str(), "post" | "put" | "patch" | "delete");
            let confirmed = op
                .get("x-requireConfirmation")
                .and_then(Node::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case("ENABLED"));
            if mutating && !confirmed {
                ctx.push("SCHEMA-006", None, op.line, &p,
                    format!("mutating operation `{op_name}` ({}) runs without `x-requireConfirmation: ENABLED`", m.to_ascii_uppercase()), &op_name);
            }
        }
    }
}

/// Checks a Bedrock function schema (`Functions` / `functions` list).
pub fn check_functions(list: &Node, ctx: &mut Ctx, base: &str) {
    for (i, f) in list.items().iter().enumerate() {
        let name = f
            .get_ci("name")
            .and_then(Node::as_str)
            .unwrap_or("?")
            .to_string();
        let p = format!("{base}[{i}]");
        let mut params = Vec::new();
        for (pname, pnode) in f.get_ci("parameters").map(Node::entries).unwrap_or(&[]) {
            let ty = pnode
                .get_ci("type")
                .and_then(Node::as_str)
                .unwrap_or("string");
            if ty == "string" {
                params.push(Param {
                    name: pname.clone(),
                    node: pnode,
                });
            }
        }
        if !params.is_empty() {
            ctx.push("SCHEMA-001", Some(Severity::Low), f.line, &p,
                format!("function `{name}` has free-form string parameters ({}); function schemas cannot constrain them, so validate in the handler or use an OpenAPI schema",
                    fmt_list(&params.iter().map(|x| x.name.clone()).collect::<Vec<_>>())), &name);
        }
        let fw = words(&name);
        let desc = f.get_ci("description").and_then(Node::as_str).unwrap_or("");
        report_sinks(ctx, &sinks(&fw, &params, desc), &name, f.line, &p);
        let confirmed = f
            .get_ci("requireConfirmation")
            .and_then(Node::as_str)
            .is_some_and(|v| v.eq_ignore_ascii_case("ENABLED"));
        if !confirmed && fw.iter().any(|w| MUTATING_WORDS.contains(&w.as_str())) {
            ctx.push(
                "SCHEMA-006",
                None,
                f.line,
                &p,
                format!(
                    "function `{name}` looks mutating but has no `RequireConfirmation: ENABLED`"
                ),
                &name,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_words() {
        assert_eq!(
            words("sendEmailToCustomer"),
            ["send", "email", "to", "customer"]
        );
        assert_eq!(words("/orders/{order_id}"), ["orders", "order", "id"]);
        assert_eq!(words("runSQLQuery"), ["run", "sqlquery"]);
    }
}
