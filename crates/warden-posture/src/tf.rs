//! Terraform front ends: plan JSON (`terraform show -json`) and HCL (`.tf`) files, both mapped
//! onto the same attribute shapes (blocks as lists of objects) and then onto the model.
//!
//! References the plan leaves unknown are taken from `configuration` expressions and become
//! placeholders such as `${aws_iam_role.agent.arn}`; HCL traversals become the same placeholders.

use crate::cfn::action_group;
use crate::error::ParseError;
use crate::iam::PolicyKind;
use crate::model::{
    ref_id, ActionGroup, Agent, Deployment, Function, FunctionUrl, LambdaPermission, PolicyDoc,
    Role, SchemaSource, Trail,
};
use crate::node::{Kind, Node};
use crate::report_ctx::Ctx;
use std::collections::HashMap;

/// True when `root` is a Terraform plan / state JSON document.
pub fn is_plan(root: &Node) -> bool {
    root.get("format_version").is_some()
        && (root.get("planned_values").is_some()
            || root.get("resource_changes").is_some()
            || root.get("values").is_some())
}

/// One resource instance in a uniform shape.
struct TfRes {
    addr: String,
    ty: String,
    values: Node,
    refs: HashMap<String, Vec<String>>,
    line: u32,
}

fn strip_index(addr: &str) -> String {
    let mut out = String::with_capacity(addr.len());
    let mut depth = 0;
    for c in addr.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn collect_module(m: &Node, out: &mut Vec<(String, String, String, Node, u32)>, depth: usize) {
    if depth > 32 {
        return;
    }
    for r in m.get("resources").map(Node::items).unwrap_or(&[]) {
        let addr = r
            .get("address")
            .and_then(Node::as_str)
            .unwrap_or("?")
            .to_string();
        let mode = r
            .get("mode")
            .and_then(Node::as_str)
            .unwrap_or("managed")
            .to_string();
        let ty = r
            .get("type")
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_string();
        let values = r
            .get("values")
            .cloned()
            .unwrap_or_else(|| Node::new(Kind::Map(Vec::new()), r.line, 1));
        out.push((addr, mode, ty, values, r.line));
    }
    for c in m.get("child_modules").map(Node::items).unwrap_or(&[]) {
        collect_module(c, out, depth + 1);
    }
}

fn config_refs(
    m: &Node,
    prefix: &str,
    out: &mut HashMap<String, HashMap<String, Vec<String>>>,
    depth: usize,
) {
    if depth > 32 {
        return;
    }
    for r in m.get("resources").map(Node::items).unwrap_or(&[]) {
        let addr = format!(
            "{prefix}{}",
            r.get("address").and_then(Node::as_str).unwrap_or("?")
        );
        let mut refs = HashMap::new();
        for (attr, e) in r.get("expressions").map(Node::entries).unwrap_or(&[]) {
            let list: Vec<String> = e
                .get("references")
                .map(|x| x.str_list().into_iter().map(str::to_string).collect())
                .unwrap_or_default();
            if !list.is_empty() {
                refs.insert(attr.clone(), list);
            }
        }
        out.insert(addr, refs);
    }
    for (name, call) in m.get("module_calls").map(Node::entries).unwrap_or(&[]) {
        if let Some(child) = call.get("module") {
            config_refs(child, &format!("{prefix}module.{name}."), out, depth + 1);
        }
    }
}

/// Loads a plan JSON document.
pub fn load_plan(root: &Node, ctx: &mut Ctx) -> Deployment {
    let mut raw = Vec::new();
    if let Some(m) = root
        .path(&["planned_values", "root_module"])
        .or_else(|| root.path(&["values", "root_module"]))
    {
        collect_module(m, &mut raw, 0);
    }
    if let Some(m) = root.path(&["prior_state", "values", "root_module"]) {
        let mut prior = Vec::new();
        collect_module(m, &mut prior, 0);
        raw.extend(prior.into_iter().filter(|(_, mode, ..)| mode == "data"));
    }
    let mut refs = HashMap::new();
    if let Some(c) = root.path(&["configuration", "root_module"]) {
        config_refs(c, "", &mut refs, 0);
    }
    let res: Vec<TfRes> = raw
        .into_iter()
        .map(|(addr, _, ty, values, line)| {
            let key = strip_index(&addr);
            ctx.spans.push((key.clone(), line, values.end_line()));
            TfRes {
                refs: refs.get(&key).cloned().unwrap_or_default(),
                addr: key,
                ty,
                values,
                line,
            }
        })
        .collect();
    build(res, ctx)
}

fn attr(r: &TfRes, name: &str) -> Option<Node> {
    if let Some(v) = r.values.get(name).filter(|v| v.kind != Kind::Null) {
        return Some(v.clone());
    }
    let first = r.refs.get(name)?.first()?;
    Some(Node::str(format!("${{{first}}}"), r.line))
}

fn attr_str(r: &TfRes, name: &str) -> Option<String> {
    attr(r, name).and_then(|n| n.as_str().map(str::to_string))
}

fn block<'a>(v: &'a Node, name: &str) -> Option<&'a Node> {
    let b = v.get(name)?;
    match &b.kind {
        Kind::Seq(items) => items.first(),
        Kind::Map(_) => Some(b),
        _ => None,
    }
}

/// A policy attribute: a JSON string, an already-structured object, or a reference to a rendered
/// `aws_iam_policy_document`.
fn policy_node(v: &Node, line: u32, docs: &HashMap<String, Node>, ctx: &mut Ctx) -> Option<Node> {
    match &v.kind {
        Kind::Map(_) => Some(v.clone()),
        Kind::Str(s) if s.trim_start().starts_with('{') => match crate::node::parse_json(s) {
            Ok(mut n) => {
                n.set_lines(line);
                Some(n)
            }
            Err(e) => {
                ctx.error(
                    Some(line),
                    format!("policy of `{}` is not valid JSON: {e}", ctx.resource),
                );
                None
            }
        },
        Kind::Str(s) => ref_id(s).and_then(|id| docs.get(&id).cloned()),
        _ => None,
    }
}

fn build(res: Vec<TfRes>, ctx: &mut Ctx) -> Deployment {
    let mut dep = Deployment::default();
    // Rendered policy documents (plan: `json` attribute).
    let mut docs: HashMap<String, Node> = HashMap::new();
    for r in &res {
        if r.ty == "aws_iam_policy_document" {
            let id = if r.addr.starts_with("data.") {
                r.addr.clone()
            } else {
                format!("data.{}", r.addr)
            };
            if let Some(n) = r
                .values
                .get("json")
                .and_then(|j| policy_node(j, r.line, &HashMap::new(), ctx))
            {
                docs.insert(id, n);
            } else if let Some(n) = r.values.get("__rendered") {
                docs.insert(id, n.clone());
            }
        }
    }
    let mut policy_arn_targets: Vec<(String, String)> = Vec::new(); // (policy id, role id)
    for r in &res {
        ctx.resource = r.addr.clone();
        let v = &r.values;
        match r.ty.as_str() {
            "aws_iam_role" | "aws_iam_user" | "aws_iam_group" => {
                if let Some(t) =
                    attr(r, "assume_role_policy").and_then(|p| policy_node(&p, r.line, &docs, ctx))
                {
                    dep.policies.push(PolicyDoc {
                        resource: r.addr.clone(),
                        path: "assume_role_policy".into(),
                        kind: PolicyKind::Trust,
                        doc: t,
                        roles: vec![],
                    });
                }
                for (i, ip) in v
                    .get("inline_policy")
                    .map(Node::as_list)
                    .unwrap_or_default()
                    .into_iter()
                    .enumerate()
                {
                    if let Some(doc) = ip
                        .get("policy")
                        .and_then(|p| policy_node(p, r.line, &docs, ctx))
                    {
                        dep.policies.push(PolicyDoc {
                            resource: r.addr.clone(),
                            path: format!("inline_policy[{i}].policy"),
                            kind: PolicyKind::Identity,
                            doc,
                            roles: vec![r.addr.clone()],
                        });
                    }
                }
                let managed = v
                    .get("managed_policy_arns")
                    .map(|m| {
                        m.str_list()
                            .into_iter()
                            .map(|s| (s.to_string(), r.line))
                            .collect()
                    })
                    .unwrap_or_default();
                dep.roles.push(Role {
                    id: r.addr.clone(),
                    name: attr_str(r, "name"),
                    line: r.line,
                    managed,
                });
            }
            "aws_iam_policy"
            | "aws_iam_role_policy"
            | "aws_iam_user_policy"
            | "aws_iam_group_policy" => {
                let mut roles = Vec::new();
                for key in ["role", "user", "group"] {
                    if let Some(id) =
                        attr_str(r, key).and_then(|s| ref_id(&s).or_else(|| by_name(&res, &s)))
                    {
                        roles.push(id);
                    }
                }
                if let Some(doc) =
                    attr(r, "policy").and_then(|p| policy_node(&p, r.line, &docs, ctx))
                {
                    dep.policies.push(PolicyDoc {
                        resource: r.addr.clone(),
                        path: "policy".into(),
                        kind: PolicyKind::Identity,
                        doc,
                        roles,
                    });
                }
            }
            "aws_iam_role_policy_attachment"
            | "aws_iam_user_policy_attachment"
            | "aws_iam_group_policy_attachment"
            | "aws_iam_policy_attachment" => {
                let arn = attr_str(r, "policy_arn").unwrap_or_default();
                let mut targets: Vec<String> = Vec::new();
                for key in ["role", "user", "group"] {
                    if let Some(s) = attr_str(r, key) {
                        targets.extend(ref_id(&s).or_else(|| by_name(&res, &s)));
                    }
                }
                for key in ["roles", "users", "groups"] {
                    if let Some(list) = attr(r, key) {
                        targets.extend(
                            list.str_list()
                                .into_iter()
                                .filter_map(|s| ref_id(s).or_else(|| by_name(&res, s))),
                        );
                    }
                    for reference in r.refs.get(key).cloned().unwrap_or_default() {
                        targets.extend(ref_id(&format!("${{{reference}}}")));
                    }
                }
                match ref_id(&arn) {
                    Some(pid) => targets
                        .into_iter()
                        .for_each(|t| policy_arn_targets.push((pid.clone(), t))),
                    None => {
                        for t in targets {
                            if let Some(role) = dep.roles.iter_mut().find(|x| x.id == t) {
                                role.managed.push((arn.clone(), r.line));
                            } else {
                                policy_arn_targets.push((format!("managed:{arn}"), t));
                            }
                        }
                    }
                }
            }
            "aws_s3_bucket_policy"
            | "aws_sns_topic_policy"
            | "aws_sqs_queue_policy"
            | "aws_kms_key"
            | "aws_secretsmanager_secret_policy"
            | "aws_lambda_layer_version_permission" => {
                if let Some(doc) =
                    attr(r, "policy").and_then(|p| policy_node(&p, r.line, &docs, ctx))
                {
                    dep.policies.push(PolicyDoc {
                        resource: r.addr.clone(),
                        path: "policy".into(),
                        kind: PolicyKind::Resource,
                        doc,
                        roles: vec![],
                    });
                }
            }
            "aws_lambda_function" => {
                let env = block(v, "environment")
                    .and_then(|e| e.get("variables"))
                    .map(|x| x.entries().to_vec())
                    .unwrap_or_default();
                let in_vpc = block(v, "vpc_config")
                    .is_some_and(|b| b.get("subnet_ids").is_some_and(|s| !s.as_list().is_empty()))
                    || r.refs.keys().any(|k| k.starts_with("vpc_config"));
                dep.functions.push(Function {
                    id: r.addr.clone(),
                    name: attr_str(r, "function_name"),
                    role: attr_str(r, "role")
                        .and_then(|s| ref_id(&s).or_else(|| by_role_arn(&res, &s))),
                    runtime: attr_str(r, "runtime"),
                    env,
                    in_vpc,
                    line: r.line,
                });
            }
            "aws_lambda_permission" => dep.permissions.push(LambdaPermission {
                id: r.addr.clone(),
                principal: attr_str(r, "principal").unwrap_or_default(),
                action: attr_str(r, "action").unwrap_or_default(),
                source_arn: attr_str(r, "source_arn"),
                source_account: attr_str(r, "source_account"),
                function: attr_str(r, "function_name").and_then(|s| ref_id(&s)),
                line: r.line,
            }),
            "aws_lambda_function_url" => dep.urls.push(FunctionUrl {
                id: r.addr.clone(),
                auth: attr_str(r, "authorization_type"),
                line: r.line,
            }),
            "aws_cloudtrail" => dep.trails.push(Trail {
                id: r.addr.clone(),
                validation: v.get("enable_log_file_validation").and_then(Node::as_bool),
                multi_region: v.get("is_multi_region_trail").and_then(Node::as_bool),
                kms: attr(r, "kms_key_id").is_some(),
                line: r.line,
            }),
            "aws_bedrockagent_agent" => dep.agents.push(Agent {
                id: r.addr.clone(),
                name: attr_str(r, "agent_name"),
                role: attr_str(r, "agent_resource_role_arn")
                    .and_then(|s| ref_id(&s).or_else(|| by_role_arn(&res, &s))),
                guardrail: block(v, "guardrail_configuration").is_some_and(|g| {
                    g.get("guardrail_identifier")
                        .is_some_and(|x| x.kind != Kind::Null)
                }) || r
                    .refs
                    .keys()
                    .any(|k| k.starts_with("guardrail_configuration")),
                cmk: attr(r, "customer_encryption_key_arn").is_some(),
                action_groups: Vec::new(),
                line: r.line,
            }),
            _ => {}
        }
    }
    // Action groups attach to agents.
    for r in res
        .iter()
        .filter(|r| r.ty == "aws_bedrockagent_agent_action_group")
    {
        let v = &r.values;
        let agent = attr_str(r, "agent_id").and_then(|s| ref_id(&s));
        let executor = block(v, "action_group_executor")
            .and_then(|e| e.get("lambda"))
            .and_then(Node::as_str)
            .map(str::to_string)
            .or_else(|| {
                r.refs
                    .get("action_group_executor.lambda")
                    .and_then(|l| l.first())
                    .map(|f| format!("${{{f}}}"))
            })
            .map(|e| ref_id(&e).unwrap_or(e));
        let schema = if let Some(api) = block(v, "api_schema") {
            if let Some(p) = api.get("payload").filter(|p| p.kind != Kind::Null) {
                match &p.kind {
                    Kind::Str(t) => SchemaSource::Payload(t.clone(), r.line),
                    _ => SchemaSource::Doc(p.clone()),
                }
            } else if block(api, "s3").is_some() {
                SchemaSource::S3("s3".into())
            } else {
                SchemaSource::None
            }
        } else if let Some(fs) = block(v, "function_schema")
            .and_then(|f| block(f, "member_functions"))
            .and_then(|m| m.get("functions"))
        {
            SchemaSource::Functions(tf_functions(fs))
        } else {
            SchemaSource::None
        };
        let g = ActionGroup {
            name: attr_str(r, "action_group_name").unwrap_or_else(|| r.addr.clone()),
            path: String::new(),
            resource: Some(r.addr.clone()),
            executor,
            schema,
            line: r.line,
        };
        match agent.and_then(|a| dep.agents.iter_mut().find(|x| x.id == a)) {
            Some(a) => a.action_groups.push(g),
            None => dep.agents.push(Agent {
                id: r.addr.clone(),
                name: None,
                role: None,
                guardrail: true,
                cmk: true,
                action_groups: vec![g],
                line: r.line,
            }),
        }
    }
    // Customer policies attached through attachment resources.
    for (pid, role) in policy_arn_targets {
        if let Some(managed) = pid.strip_prefix("managed:") {
            let _ = managed;
            continue;
        }
        for p in dep.policies.iter_mut().filter(|p| p.resource == pid) {
            p.roles.push(role.clone());
        }
    }
    dep
}

/// Terraform function-schema blocks → the Bedrock API shape used by the schema rules.
fn tf_functions(fs: &Node) -> Node {
    let items = fs
        .as_list()
        .into_iter()
        .map(|f| {
            let mut entries = vec![(
                "name".to_string(),
                f.get("name")
                    .cloned()
                    .unwrap_or_else(|| Node::str("?", f.line)),
            )];
            if let Some(d) = f.get("description") {
                entries.push(("description".into(), d.clone()));
            }
            if let Some(c) = f.get("require_confirmation") {
                entries.push(("requireConfirmation".into(), c.clone()));
            }
            let params = f
                .get("parameters")
                .map(Node::as_list)
                .unwrap_or_default()
                .into_iter()
                .map(|p| {
                    let name = p
                        .get("map_block_key")
                        .and_then(Node::as_str)
                        .unwrap_or("?")
                        .to_string();
                    (name, p.clone())
                })
                .collect();
            entries.push(("parameters".into(), Node::new(Kind::Map(params), f.line, 1)));
            Node::new(Kind::Map(entries), f.line, f.col)
        })
        .collect();
    Node::new(Kind::Seq(items), fs.line, fs.col)
}

fn by_name(res: &[TfRes], name: &str) -> Option<String> {
    res.iter()
        .find(|r| {
            matches!(
                r.ty.as_str(),
                "aws_iam_role" | "aws_iam_user" | "aws_iam_group"
            ) && r.values.get("name").and_then(Node::as_str) == Some(name)
        })
        .map(|r| r.addr.clone())
}

fn by_role_arn(res: &[TfRes], arn: &str) -> Option<String> {
    let name = arn.rsplit('/').next()?;
    res.iter()
        .find(|r| {
            r.ty == "aws_iam_role"
                && (r.values.get("arn").and_then(Node::as_str) == Some(arn)
                    || r.values.get("name").and_then(Node::as_str) == Some(name))
        })
        .map(|r| r.addr.clone())
}

// ---------------------------------------------------------------------------------------------
// HCL

fn expr_to_node(e: &hcl::Expression, line: u32, depth: usize) -> Node {
    use hcl::Expression as E;
    if depth > crate::node::MAX_DEPTH {
        return Node::str("${?}", line);
    }
    let kind = match e {
        E::Null => Kind::Null,
        E::Bool(b) => Kind::Bool(*b),
        E::Number(n) => Kind::Num(n.to_string()),
        E::String(s) => Kind::Str(s.clone()),
        E::Array(a) => Kind::Seq(a.iter().map(|x| expr_to_node(x, line, depth + 1)).collect()),
        E::Object(o) => Kind::Map(
            o.iter()
                .map(|(k, v)| {
                    let key = match k {
                        hcl::ObjectKey::Identifier(i) => i.as_str().to_string(),
                        hcl::ObjectKey::Expression(E::String(s)) => s.clone(),
                        hcl::ObjectKey::Expression(x) => x.to_string(),
                        _ => "?".to_string(),
                    };
                    (key, expr_to_node(v, line, depth + 1))
                })
                .collect(),
        ),
        E::TemplateExpr(t) => match t.as_ref() {
            hcl::TemplateExpr::QuotedString(s) => Kind::Str(s.clone()),
            hcl::TemplateExpr::Heredoc(h) => Kind::Str(h.template.clone()),
        },
        E::Parenthesis(inner) => return expr_to_node(inner, line, depth + 1),
        E::FuncCall(f) => {
            let name = f.name.name.as_str();
            match (name, f.args.first()) {
                ("jsonencode", Some(arg)) => return expr_to_node(arg, line, depth + 1),
                ("tolist" | "toset", Some(arg)) => return expr_to_node(arg, line, depth + 1),
                _ => Kind::Str(format!("${{{e}}}")),
            }
        }
        E::Traversal(_) | E::Variable(_) => Kind::Str(format!("${{{e}}}")),
        _ => Kind::Str("${?}".into()),
    };
    Node::new(kind, line, 1)
}

fn body_to_node(b: &hcl::Body, line: u32, depth: usize) -> Node {
    let mut entries: Vec<(String, Node)> = Vec::new();
    for s in b.iter() {
        match s {
            hcl::Structure::Attribute(a) => entries.push((
                a.key.as_str().to_string(),
                expr_to_node(&a.expr, line, depth + 1),
            )),
            hcl::Structure::Block(bl) => {
                let key = bl.identifier.as_str().to_string();
                let node = body_to_node(&bl.body, line, depth + 1);
                match entries.iter_mut().find(|(k, _)| *k == key) {
                    Some((
                        _,
                        Node {
                            kind: Kind::Seq(v), ..
                        },
                    )) => v.push(node),
                    _ => entries.push((key, Node::new(Kind::Seq(vec![node]), line, 1))),
                }
            }
        }
    }
    Node::new(Kind::Map(entries), line, 1)
}

fn label(l: &hcl::BlockLabel) -> String {
    match l {
        hcl::BlockLabel::Identifier(i) => i.as_str().to_string(),
        hcl::BlockLabel::String(s) => s.clone(),
    }
}

/// Renders an `aws_iam_policy_document` data block as a policy JSON tree.
fn render_policy_document(v: &Node, line: u32) -> Node {
    let s = |x: &str| Node::str(x, line);
    let map = |e: Vec<(String, Node)>| Node::new(Kind::Map(e), line, 1);
    let mut stmts = Vec::new();
    for st in v.get("statement").map(Node::as_list).unwrap_or_default() {
        let mut e = Vec::new();
        if let Some(sid) = st.get("sid") {
            e.push(("Sid".to_string(), sid.clone()));
        }
        e.push((
            "Effect".to_string(),
            st.get("effect").cloned().unwrap_or_else(|| s("Allow")),
        ));
        for (tf, iam) in [
            ("actions", "Action"),
            ("not_actions", "NotAction"),
            ("resources", "Resource"),
            ("not_resources", "NotResource"),
        ] {
            if let Some(x) = st.get(tf) {
                e.push((iam.to_string(), x.clone()));
            }
        }
        for (tf, iam) in [
            ("principals", "Principal"),
            ("not_principals", "NotPrincipal"),
        ] {
            let ps = st.get(tf).map(Node::as_list).unwrap_or_default();
            if ps.is_empty() {
                continue;
            }
            let mut pm: Vec<(String, Node)> = Vec::new();
            let mut any = false;
            for p in ps {
                let ty = p
                    .get("type")
                    .and_then(Node::as_str)
                    .unwrap_or("AWS")
                    .to_string();
                let ids = p.get("identifiers").cloned().unwrap_or_else(|| s("*"));
                if ty == "*" {
                    any = true;
                } else {
                    pm.push((ty, ids));
                }
            }
            e.push((iam.to_string(), if any { s("*") } else { map(pm) }));
        }
        let mut cond: Vec<(String, Node)> = Vec::new();
        for c in st.get("condition").map(Node::as_list).unwrap_or_default() {
            let test = c
                .get("test")
                .and_then(Node::as_str)
                .unwrap_or("?")
                .to_string();
            let var = c
                .get("variable")
                .and_then(Node::as_str)
                .unwrap_or("?")
                .to_string();
            let vals = c.get("values").cloned().unwrap_or_else(|| s(""));
            match cond.iter_mut().find(|(k, _)| *k == test) {
                Some((
                    _,
                    Node {
                        kind: Kind::Map(m), ..
                    },
                )) => m.push((var, vals)),
                _ => cond.push((test, map(vec![(var, vals)]))),
            }
        }
        if !cond.is_empty() {
            e.push(("Condition".to_string(), map(cond)));
        }
        stmts.push(map(e));
    }
    map(vec![
        (
            "Version".to_string(),
            v.get("version").cloned().unwrap_or_else(|| s("2012-10-17")),
        ),
        (
            "Statement".to_string(),
            Node::new(Kind::Seq(stmts), line, 1),
        ),
    ])
}

/// Loads a `.tf` file.
pub fn load_hcl(text: &str, ctx: &mut Ctx) -> Result<Deployment, ParseError> {
    let body = hcl::parse(text).map_err(|e| ParseError::Hcl {
        msg: e
            .to_string()
            .lines()
            .next()
            .unwrap_or("parse error")
            .to_string(),
    })?;
    let lines: Vec<&str> = text.lines().collect();
    let find_line = |kw: &str, ty: &str, name: &str| -> u32 {
        let q1 = format!("\"{ty}\"");
        let q2 = format!("\"{name}\"");
        lines
            .iter()
            .position(|l| {
                let t = l.trim_start();
                t.starts_with(kw) && t.contains(&q1) && t.contains(&q2)
            })
            .map_or(1, |i| u32::try_from(i + 1).unwrap_or(u32::MAX))
    };
    let mut res = Vec::new();
    for s in body.iter() {
        let hcl::Structure::Block(b) = s else {
            continue;
        };
        let kw = b.identifier.as_str();
        if (kw != "resource" && kw != "data") || b.labels.len() != 2 {
            continue;
        }
        let ty = label(&b.labels[0]);
        let name = label(&b.labels[1]);
        let line = find_line(kw, &ty, &name);
        let addr = if kw == "data" {
            format!("data.{ty}.{name}")
        } else {
            format!("{ty}.{name}")
        };
        let mut values = body_to_node(&b.body, line, 0);
        if ty == "aws_iam_policy_document" {
            let rendered = render_policy_document(&values, line);
            if let Kind::Map(e) = &mut values.kind {
                e.push(("__rendered".into(), rendered));
            }
        }
        res.push(TfRes {
            addr,
            ty,
            values,
            refs: HashMap::new(),
            line,
        });
    }
    // Spans: from each block to the line before the next one.
    let mut starts: Vec<(u32, String)> = res.iter().map(|r| (r.line, r.addr.clone())).collect();
    starts.sort();
    for (i, (l, a)) in starts.iter().enumerate() {
        let end = starts
            .get(i + 1)
            .map_or(u32::MAX, |n| n.0.saturating_sub(1));
        ctx.spans.push((a.clone(), *l, end));
    }
    Ok(build(res, ctx))
}

/// Bedrock API documents: `GetAgent` (`{"agent": …}`), `GetAgentActionGroup`
/// (`{"agentActionGroup": …}`) and a combined `{"agent": …, "actionGroups": […]}`.
pub fn is_bedrock_api(root: &Node) -> bool {
    root.get("agent")
        .is_some_and(|a| a.get("agentName").is_some() || a.get("agentResourceRoleArn").is_some())
        || root.get("agentActionGroup").is_some()
}

/// Loads a Bedrock API document.
pub fn load_bedrock(root: &Node) -> Deployment {
    let mut dep = Deployment::default();
    let mut groups = Vec::new();
    let list: Vec<&Node> = root
        .get("actionGroups")
        .or_else(|| root.get("agentActionGroups"))
        .map(Node::as_list)
        .unwrap_or_default()
        .into_iter()
        .chain(root.get("agentActionGroup"))
        .collect();
    for (i, g) in list.into_iter().enumerate() {
        let mut ag = action_group(g, &format!("actionGroups[{i}]"), true);
        if ag.executor.is_some() {
            // ARN executors are not in this document; keep the name for messages only.
            ag.executor = None;
        }
        groups.push(ag);
    }
    match root.get("agent") {
        Some(a) => dep.agents.push(Agent {
            id: a
                .get("agentName")
                .and_then(Node::as_str)
                .unwrap_or("agent")
                .to_string(),
            name: a
                .get("agentName")
                .and_then(Node::as_str)
                .map(str::to_string),
            role: None,
            guardrail: a
                .path(&["guardrailConfiguration", "guardrailIdentifier"])
                .is_some(),
            cmk: a.get("customerEncryptionKeyArn").is_some(),
            action_groups: groups,
            line: a.line,
        }),
        None => dep.agents.push(Agent {
            id: "actionGroup".into(),
            name: None,
            role: None,
            guardrail: true,
            cmk: true,
            action_groups: groups,
            line: root.line,
        }),
    }
    dep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_policy_document_and_jsonencode() {
        let tf = r#"
data "aws_iam_policy_document" "p" {
  statement {
    actions   = ["s3:*"]
    resources = ["*"]
  }
}
resource "aws_iam_role" "r" {
  name = "r"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { AWS = "*" } }]
  })
}
resource "aws_iam_role_policy" "rp" {
  role   = aws_iam_role.r.id
  policy = data.aws_iam_policy_document.p.json
}
"#;
        let mut ctx = Ctx::new("main.tf", &[]);
        let dep = load_hcl(tf, &mut ctx).unwrap();
        assert_eq!(dep.policies.len(), 2, "{:?}", dep.policies);
        let rp = dep
            .policies
            .iter()
            .find(|p| p.resource == "aws_iam_role_policy.rp")
            .unwrap();
        assert_eq!(rp.roles, vec!["aws_iam_role.r".to_string()]);
    }
}
