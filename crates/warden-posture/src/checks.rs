//! Deployment-level rules: runs the policy rules on every document, then Lambda, permission,
//! agent, schema, CloudTrail and cross-resource (tampering) rules on the deployment graph.

use crate::catalogue::catalogue;
use crate::finding::Severity;
use crate::iam::{self, deny_set, Policy, PolicyKind, Statement};
use crate::model::{Agent, Deployment, SchemaSource};
use crate::node::Node;
use crate::report_ctx::Ctx;
use crate::schema;
use std::collections::{HashMap, HashSet};

/// A parsed policy with where it lives.
struct Parsed {
    resource: String,
    path: String,
    policy: Policy,
    roles: Vec<String>,
}

/// AWS managed policies that are too broad for a single workload role, with an equivalent grant.
const BROAD_MANAGED: &[(&str, &str)] = &[
    (
        "AdministratorAccess",
        r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#,
    ),
    (
        "PowerUserAccess",
        r#"{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"}"#,
    ),
    (
        "IAMFullAccess",
        r#"{"Effect":"Allow","Action":"iam:*","Resource":"*"}"#,
    ),
    (
        "AmazonBedrockFullAccess",
        r#"{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}"#,
    ),
    (
        "AWSLambda_FullAccess",
        r#"{"Effect":"Allow","Action":"lambda:*","Resource":"*"}"#,
    ),
    (
        "AWSLambdaFullAccess",
        r#"{"Effect":"Allow","Action":"lambda:*","Resource":"*"}"#,
    ),
    (
        "AmazonS3FullAccess",
        r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#,
    ),
    (
        "AmazonDynamoDBFullAccess",
        r#"{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"}"#,
    ),
    (
        "SecretsManagerReadWrite",
        r#"{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}"#,
    ),
    (
        "AmazonSSMFullAccess",
        r#"{"Effect":"Allow","Action":"ssm:*","Resource":"*"}"#,
    ),
    (
        "AmazonEC2FullAccess",
        r#"{"Effect":"Allow","Action":"ec2:*","Resource":"*"}"#,
    ),
];

/// Runs every rule over one file's deployment.
pub fn check(dep: &Deployment, ctx: &mut Ctx) {
    // 1. Policies.
    let mut parsed: Vec<Parsed> = Vec::new();
    for p in &dep.policies {
        ctx.resource = p.resource.clone();
        if let Some(pol) = iam::parse_policy(&p.doc, p.kind, ctx, &p.path) {
            iam::check_policy(&pol, p.kind, ctx, &p.path);
            if p.kind == PolicyKind::Identity {
                parsed.push(Parsed {
                    resource: p.resource.clone(),
                    path: p.path.clone(),
                    policy: pol,
                    roles: p.roles.clone(),
                });
            }
        }
    }
    // 2. Managed policies on roles.
    for r in &dep.roles {
        ctx.resource = r.id.clone();
        for (arn, line) in &r.managed {
            let name = arn.rsplit('/').next().unwrap_or(arn);
            if !arn.contains(":aws:policy/") && !arn.starts_with("arn:aws:iam::aws:") {
                continue;
            }
            if let Some((n, stmt)) = BROAD_MANAGED.iter().find(|(n, _)| *n == name) {
                ctx.push(
                    "IAM-019",
                    None,
                    *line,
                    "ManagedPolicyArns",
                    format!("role `{}` has the AWS managed policy `{n}`", r.id),
                    n,
                );
                let doc = format!(r#"{{"Version":"2012-10-17","Statement":[{stmt}]}}"#);
                if let Ok(mut node) = crate::node::parse_json(&doc) {
                    node.set_lines(*line);
                    let mut scratch = Ctx::default();
                    if let Some(pol) =
                        iam::parse_policy(&node, PolicyKind::Identity, &mut scratch, "")
                    {
                        parsed.push(Parsed {
                            resource: r.id.clone(),
                            path: format!("ManagedPolicyArns[{n}]"),
                            policy: pol,
                            roles: vec![r.id.clone()],
                        });
                    }
                }
            }
        }
    }
    // Role id → statements (with their policy location).
    let mut by_role: HashMap<&str, Vec<(&Parsed, &Statement)>> = HashMap::new();
    for p in &parsed {
        for r in &p.roles {
            by_role
                .entry(r.as_str())
                .or_default()
                .extend(p.policy.statements.iter().map(|s| (p, s)));
        }
    }

    // 3. Lambda functions.
    let tool_fns: HashMap<&str, &Agent> = dep
        .agents
        .iter()
        .flat_map(|a| {
            a.action_groups
                .iter()
                .filter_map(move |g| g.executor.as_deref().map(|e| (e, a)))
        })
        .collect();
    for f in &dep.functions {
        ctx.resource = f.id.clone();
        let tool = tool_fns.get(f.id.as_str());
        if !f.in_vpc {
            let (sev, what) = match tool {
                Some(a) => (
                    Severity::Medium,
                    format!(
                        "tool Lambda `{}` of agent `{}`",
                        f.id,
                        a.name.as_deref().unwrap_or(&a.id)
                    ),
                ),
                None => (Severity::Low, format!("Lambda function `{}`", f.id)),
            };
            ctx.push(
                "LAMBDA-001",
                Some(sev),
                f.line,
                "VpcConfig",
                format!("{what} runs outside a VPC"),
                "",
            );
        }
        if let Some(rt) = &f.runtime {
            if deprecated_runtime(rt) {
                ctx.push(
                    "LAMBDA-003",
                    None,
                    f.line,
                    "Runtime",
                    format!("runtime `{rt}` is deprecated"),
                    rt,
                );
            }
        }
        for (name, val) in &f.env {
            if let Some(why) = secret_env(name, val) {
                ctx.push(
                    "LAMBDA-002",
                    None,
                    val.line,
                    &format!("Environment.Variables.{name}"),
                    format!("environment variable `{name}` {why}"),
                    name,
                );
            }
        }
        if let (Some(a), Some(role)) = (tool, &f.role) {
            if let Some(stmts) = by_role.get(role.as_str()) {
                if let Some(why) = overprivileged(stmts) {
                    ctx.push(
                        "AGENT-009",
                        None,
                        f.line,
                        "Role",
                        format!(
                            "tool Lambda `{}` of agent `{}` runs with role `{role}`, which {why}",
                            f.id,
                            a.name.as_deref().unwrap_or(&a.id)
                        ),
                        role,
                    );
                }
            }
        }
    }
    // 4. Lambda permissions and URLs.
    for p in &dep.permissions {
        ctx.resource = p.id.clone();
        if p.principal == "*" {
            ctx.push(
                "LAMBDA-005",
                None,
                p.line,
                "Principal",
                format!(
                    "permission `{}` lets principal `*` call `{}`",
                    p.id, p.action
                ),
                "",
            );
            continue;
        }
        if !p.principal.ends_with(".amazonaws.com") {
            continue;
        }
        let bedrock = p.principal.starts_with("bedrock");
        match &p.source_arn {
            None if p.source_account.is_none() || bedrock => {
                let sev = if bedrock {
                    Severity::High
                } else {
                    Severity::Medium
                };
                ctx.push("LAMBDA-004", Some(sev), p.line, "SourceArn",
                    format!("permission for `{}` has no `SourceArn`, so any {} resource in any account can invoke the function", p.principal, p.principal.trim_end_matches(".amazonaws.com")), "");
            }
            Some(arn) if arn.contains('*') => {
                ctx.push(
                    "LAMBDA-004",
                    Some(Severity::Medium),
                    p.line,
                    "SourceArn",
                    format!(
                        "permission for `{}` uses the wildcard SourceArn `{arn}`",
                        p.principal
                    ),
                    "",
                );
            }
            _ => {}
        }
    }
    for u in &dep.urls {
        ctx.resource = u.id.clone();
        if u.auth
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("NONE"))
        {
            ctx.push(
                "LAMBDA-005",
                None,
                u.line,
                "AuthType",
                format!("function URL `{}` has `AuthType: NONE`", u.id),
                "url",
            );
        }
    }
    // 5. Trails.
    for t in &dep.trails {
        ctx.resource = t.id.clone();
        if t.validation != Some(true) {
            ctx.push(
                "TRAIL-001",
                None,
                t.line,
                "EnableLogFileValidation",
                format!("trail `{}` does not validate log files", t.id),
                "",
            );
        }
        if t.multi_region != Some(true) {
            ctx.push(
                "TRAIL-002",
                None,
                t.line,
                "IsMultiRegionTrail",
                format!("trail `{}` is not multi-region", t.id),
                "",
            );
        }
        if !t.kms {
            ctx.push(
                "TRAIL-003",
                None,
                t.line,
                "KMSKeyId",
                format!("trail `{}` has no KMS key", t.id),
                "",
            );
        }
    }
    // 6. Agents and their schemas.
    for a in &dep.agents {
        ctx.resource = a.id.clone();
        if !a.guardrail {
            ctx.push(
                "AGENT-001",
                None,
                a.line,
                "GuardrailConfiguration",
                format!(
                    "agent `{}` has no guardrail",
                    a.name.as_deref().unwrap_or(&a.id)
                ),
                "",
            );
        }
        if !a.cmk {
            ctx.push(
                "AGENT-006",
                None,
                a.line,
                "CustomerEncryptionKeyArn",
                format!(
                    "agent `{}` has no customer-managed KMS key",
                    a.name.as_deref().unwrap_or(&a.id)
                ),
                "",
            );
        }
        for g in &a.action_groups {
            ctx.resource = g.resource.clone().unwrap_or_else(|| a.id.clone());
            let gp = |s: &str| {
                if g.path.is_empty() {
                    s.to_string()
                } else {
                    format!("{}.{s}", g.path)
                }
            };
            match &g.schema {
                SchemaSource::S3(loc) => ctx.push(
                    "AGENT-007",
                    None,
                    g.line,
                    &g.path,
                    format!(
                        "schema of action group `{}` is in S3 (`{loc}`) and was not inspected",
                        g.name
                    ),
                    &g.name,
                ),
                SchemaSource::Payload(text, line) => {
                    check_payload(text, *line, ctx, &gp("ApiSchema.Payload"))
                }
                SchemaSource::Doc(doc) => schema::check_openapi(doc, ctx, &gp("ApiSchema")),
                SchemaSource::Functions(list) => {
                    schema::check_functions(list, ctx, &gp("FunctionSchema.Functions"))
                }
                SchemaSource::None => {}
            }
        }
    }
    for (addr, doc) in &dep.schemas {
        ctx.resource = addr.clone();
        schema::check_openapi(doc, ctx, "");
    }
    // 7. Agent roles and tampering.
    for a in &dep.agents {
        let label = a.name.clone().unwrap_or_else(|| a.id.clone());
        if let Some(stmts) = a.role.as_deref().and_then(|r| by_role.get(r)) {
            agent_role_checks(a, &label, stmts, ctx);
        }
        tamper_checks(a, &label, dep, &by_role, ctx);
    }
}

fn effective<'a>(
    stmts: &'a [(&'a Parsed, &'a Statement)],
) -> (
    crate::catalogue::ActionSet,
    impl Fn(&str, bool) -> Option<(&'a Parsed, &'a Statement)> + 'a,
) {
    let deny = deny_set(stmts.iter().map(|(_, s)| *s));
    let d2 = deny.clone();
    let find = move |action: &str, broad_only: bool| {
        let i = catalogue().lookup(action)?;
        if d2.contains(i) {
            return None;
        }
        stmts
            .iter()
            .copied()
            .find(|(_, s)| s.allow && s.actions.contains(i) && (!broad_only || s.resource_broad()))
    };
    (deny, find)
}

fn push_at(
    ctx: &mut Ctx,
    p: &Parsed,
    s: &Statement,
    rule: &'static str,
    sev: Option<Severity>,
    msg: String,
    key: &str,
) {
    let saved = std::mem::replace(&mut ctx.resource, p.resource.clone());
    let sev = sev
        .or_else(|| crate::rules::rule(rule).map(|r| r.severity))
        .map(|x| if s.conditioned() { x.lowered() } else { x });
    ctx.push(
        rule,
        sev,
        s.line,
        &iam::stmt_path(&p.path, s.index),
        msg,
        key,
    );
    ctx.resource = saved;
}

fn agent_role_checks(a: &Agent, label: &str, stmts: &[(&Parsed, &Statement)], ctx: &mut Ctx) {
    let (_, find) = effective(stmts);
    let role = a.role.as_deref().unwrap_or("?");
    if let Some((p, s)) = find("bedrock:InvokeAgent", true) {
        push_at(ctx, p, s, "AGENT-002", None, format!("role `{role}` of agent `{label}` can invoke every agent (`bedrock:InvokeAgent` on `*`)"), &a.id);
    }
    for act in [
        "bedrock:UpdateAgent",
        "bedrock:UpdateAgentActionGroup",
        "bedrock:CreateAgentActionGroup",
        "bedrock:PrepareAgent",
        "bedrock:AssociateAgentKnowledgeBase",
        "bedrock:UpdateGuardrail",
        "bedrock:DeleteGuardrail",
        "bedrock:UpdatePrompt",
    ] {
        let hit = find(act, false)
            .filter(|(_, s)| s.resource_broad() || s.may_cover(&a.id, a.name.as_deref()));
        if let Some((p, s)) = hit {
            push_at(
                ctx,
                p,
                s,
                "AGENT-003",
                None,
                format!("role `{role}` of agent `{label}` can modify agents (`{act}`)"),
                &a.id,
            );
            break;
        }
    }
    for act in ["bedrock:Retrieve", "bedrock:RetrieveAndGenerate"] {
        if let Some((p, s)) = find(act, true) {
            push_at(
                ctx,
                p,
                s,
                "AGENT-004",
                None,
                format!("role `{role}` of agent `{label}` can `{act}` from every knowledge base"),
                &a.id,
            );
            break;
        }
    }
    if let Some((p, s)) = find("bedrock:InvokeModel", true) {
        push_at(
            ctx,
            p,
            s,
            "AGENT-005",
            None,
            format!("role `{role}` of agent `{label}` can invoke every model"),
            &a.id,
        );
    }
}

fn overprivileged(stmts: &[(&Parsed, &Statement)]) -> Option<String> {
    let (_, find) = effective(stmts);
    let c = catalogue();
    let all = stmts.iter().any(|(_, s)| {
        s.allow && s.resource_broad() && !s.conditioned() && s.actions.len() == c.actions.len()
    });
    if all {
        return Some("allows every action".into());
    }
    for a in [
        "iam:PassRole",
        "iam:AttachRolePolicy",
        "iam:PutRolePolicy",
        "iam:CreatePolicyVersion",
        "iam:CreateAccessKey",
        "iam:UpdateAssumeRolePolicy",
    ] {
        if find(a, true).is_some_and(|(_, s)| !s.has_key("iam:PassedToService")) {
            return Some(format!("allows `{a}` on every resource"));
        }
    }
    None
}

fn tamper_checks(
    a: &Agent,
    label: &str,
    dep: &Deployment,
    by_role: &HashMap<&str, Vec<(&Parsed, &Statement)>>,
    ctx: &mut Ctx,
) {
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let tools: Vec<&crate::model::Function> = a
        .action_groups
        .iter()
        .filter_map(|g| g.executor.as_deref())
        .filter_map(|e| dep.functions.iter().find(|f| f.id == e))
        .collect();
    let mut roles: Vec<&str> = by_role.keys().copied().collect();
    roles.sort_unstable();
    for role in roles {
        let stmts = &by_role[role];
        let (_, find) = effective(stmts);
        for f in &tools {
            for act in [
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
            ] {
                let hit = find(act, false).filter(|(_, s)| s.may_cover(&f.id, f.name.as_deref()));
                if let Some((p, s)) = hit {
                    if seen.insert((role.to_string(), f.id.clone())) {
                        let own = f.role.as_deref() == Some(role);
                        let who = if own {
                            format!("tool `{}` itself (role `{role}`)", f.id)
                        } else {
                            format!("role `{role}`")
                        };
                        push_at(
                            ctx,
                            p,
                            s,
                            "AGENT-008",
                            None,
                            format!(
                                "{who} can change tool Lambda `{}` of agent `{label}` (`{act}`)",
                                f.id
                            ),
                            &format!("{role}->{}", f.id),
                        );
                    }
                }
            }
        }
        if a.role.as_deref() == Some(role) {
            continue; // covered by AGENT-003
        }
        for act in [
            "bedrock:UpdateAgentActionGroup",
            "bedrock:CreateAgentActionGroup",
            "bedrock:UpdateAgent",
        ] {
            let hit = find(act, false).filter(|(_, s)| s.may_cover(&a.id, a.name.as_deref()));
            if let Some((p, s)) = hit {
                if seen.insert((role.to_string(), a.id.clone())) {
                    push_at(ctx, p, s, "AGENT-008", None,
                        format!("role `{role}` can change the action groups of agent `{label}` (`{act}`)"), &format!("{role}->{}", a.id));
                }
                break;
            }
        }
    }
}

fn check_payload(text: &str, line: u32, ctx: &mut Ctx, path: &str) {
    let trimmed = text.trim_start();
    let parsed = if trimmed.starts_with('{') {
        crate::node::parse_json(text).map(|mut n| {
            if text.contains('\n') {
                n.shift_lines(line.saturating_sub(1))
            } else {
                n.set_lines(line)
            }
            n
        })
    } else {
        crate::yaml::parse_yaml(text).map(|mut n| {
            // The marker of a YAML block scalar is on its first content line.
            n.shift_lines(line.saturating_sub(1));
            n
        })
    };
    match parsed {
        Ok(doc) if doc.get("openapi").is_some() || doc.get("paths").is_some() => {
            schema::check_openapi(&doc, ctx, path)
        }
        Ok(_) => ctx.push(
            "SCHEMA-007",
            None,
            line,
            path,
            "action-group payload is not an OpenAPI document".into(),
            "",
        ),
        Err(e) => ctx.push(
            "SCHEMA-007",
            None,
            line,
            path,
            format!("action-group payload cannot be parsed: {e}"),
            "",
        ),
    }
}

/// Runtimes AWS has deprecated (as of 2026-11; see the Lambda runtimes table).
const DEPRECATED_RUNTIMES: &[&str] = &[
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9",
    "nodejs",
    "nodejs4.3",
    "nodejs4.3-edge",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "nodejs18.x",
    "java8",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet5.0",
    "dotnet6",
    "dotnet7",
    "ruby2.5",
    "ruby2.7",
    "ruby3.2",
    "go1.x",
    "provided",
];

fn deprecated_runtime(rt: &str) -> bool {
    DEPRECATED_RUNTIMES.contains(&rt.to_ascii_lowercase().as_str())
}

/// Why an environment variable looks like a literal secret (never returns the value).
pub fn secret_env(name: &str, val: &Node) -> Option<String> {
    let v = val.as_str()?.trim();
    if v.is_empty() || v.contains("${") || v.starts_with("{{resolve:") {
        return None;
    }
    let looks_like = [("AKIA", 20), ("ASIA", 20)].iter().any(|(p, len)| {
        v.starts_with(p)
            && v.len() == *len
            && v.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    }) || v.contains("-----BEGIN") && v.contains("PRIVATE KEY")
        || [
            "xoxb-",
            "xoxp-",
            "xoxa-",
            "ghp_",
            "gho_",
            "github_pat_",
            "sk_live_",
            "sk-ant-",
            "AIza",
            "glpat-",
        ]
        .iter()
        .any(|p| v.starts_with(p))
        || v.contains("hooks.slack.com/services/");
    if looks_like {
        return Some("holds a value that looks like a credential".into());
    }
    let n = name.to_ascii_uppercase();
    let secretish = [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "ACCESS_KEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
        "AUTH_KEY",
        "CLIENT_SECRET",
        "DB_PASS",
    ]
    .iter()
    .any(|w| n.contains(w));
    let reference_name = [
        "_ARN",
        "_NAME",
        "_ID",
        "_PARAM",
        "_PARAMETER",
        "_PATH",
        "_REF",
        "_SSM",
        "_URL",
        "_TTL",
        "_HEADER",
    ]
    .iter()
    .any(|s| n.ends_with(s));
    let reference_value = v.starts_with("arn:")
        || v.starts_with('/')
        || v.starts_with("ssm:")
        || v.starts_with("secretsmanager:");
    if secretish && !reference_name && !reference_value && v.len() >= 6 {
        return Some("holds a literal secret".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_env_detection() {
        let s = |v: &str| Node::str(v, 1);
        assert!(secret_env("DB_PASSWORD", &s("hunter2hunter2")).is_some());
        assert!(secret_env("X", &s("AKIAIOSFODNN7EXAMPLE")).is_some());
        assert!(secret_env(
            "DB_PASSWORD_ARN",
            &s("arn:aws:secretsmanager:us-east-1:1:secret:x")
        )
        .is_none());
        assert!(secret_env("API_TOKEN", &s("{{resolve:secretsmanager:tok}}")).is_none());
        assert!(secret_env("API_TOKEN", &s("/prod/token")).is_none());
        assert!(secret_env("TABLE", &s("orders")).is_none());
    }
}
