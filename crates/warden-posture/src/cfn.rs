//! CloudFormation front end: resolves intrinsics (`Ref`, `Fn::Sub`, `Fn::Join`, `Fn::GetAtt`,
//! `Fn::If`, …) where possible, detects reference cycles, and maps resources onto the model.
//!
//! Unresolvable references become placeholders such as `${ToolFunction.Arn}`: a specific but
//! unknown value, never `*`.

use crate::iam::PolicyKind;
use crate::model::{
    ref_id, ActionGroup, Agent, Deployment, Function, FunctionUrl, LambdaPermission, PolicyDoc,
    Role, SchemaSource, Trail,
};
use crate::node::{Kind, Node};
use crate::report_ctx::Ctx;
use crate::suppress::{ignores_from, Scope, Suppression};
use std::collections::{HashMap, HashSet};

/// True when `root` looks like a CloudFormation template.
pub fn is_template(root: &Node) -> bool {
    if root.get("AWSTemplateFormatVersion").is_some() {
        return true;
    }
    root.get("Resources").is_some_and(|r| {
        r.entries().iter().any(|(_, v)| {
            v.get("Type")
                .and_then(Node::as_str)
                .is_some_and(|t| t.starts_with("AWS::"))
        })
    })
}

const KNOWN_FNS: &[&str] = &[
    "Ref",
    "Fn::Sub",
    "Fn::Join",
    "Fn::GetAtt",
    "Fn::If",
    "Fn::Select",
    "Fn::Split",
    "Fn::ImportValue",
    "Fn::FindInMap",
    "Fn::Base64",
    "Fn::GetAZs",
    "Fn::Cidr",
    "Fn::Length",
    "Fn::ToJsonString",
    "Fn::Transform",
    "Fn::Equals",
    "Fn::And",
    "Fn::Or",
    "Fn::Not",
    "Condition",
    "Fn::ForEach",
];

struct Resolver<'a> {
    params: HashMap<String, Option<Node>>,
    resources: HashSet<String>,
    mappings: Option<&'a Node>,
    conditions: Option<&'a Node>,
    errors: Vec<(u32, String)>,
    refs: HashSet<String>,
}

fn intrinsic(n: &Node) -> Option<(&str, &Node)> {
    match &n.kind {
        Kind::Map(e)
            if e.len() == 1
                && (e[0].0 == "Ref" || e[0].0.starts_with("Fn::") || e[0].0 == "Condition") =>
        {
            Some((e[0].0.as_str(), &e[0].1))
        }
        _ => None,
    }
}

impl Resolver<'_> {
    fn pseudo(name: &str) -> Option<&'static str> {
        Some(match name {
            "AWS::AccountId" => "${AWS::AccountId}",
            "AWS::Region" => "${AWS::Region}",
            "AWS::Partition" => "aws",
            "AWS::URLSuffix" => "amazonaws.com",
            "AWS::StackName" => "${AWS::StackName}",
            "AWS::StackId" => "${AWS::StackId}",
            "AWS::NotificationARNs" => "${AWS::NotificationARNs}",
            _ => return None,
        })
    }

    fn var(&mut self, name: &str, line: u32, sub_vars: &HashMap<String, String>) -> String {
        if let Some(v) = sub_vars.get(name) {
            return v.clone();
        }
        if let Some(p) = Resolver::pseudo(name) {
            return p.to_string();
        }
        let base = name.split('.').next().unwrap_or(name);
        if let Some(def) = self.params.get(base) {
            return match def.as_ref().and_then(Node::as_str) {
                Some(s) => s.to_string(),
                None => format!("${{{name}}}"),
            };
        }
        if self.resources.contains(base) {
            self.refs.insert(base.to_string());
            return format!("${{{name}}}");
        }
        if name.contains(':') {
            // An IAM policy variable such as ${aws:username}: left for IAM.
            return format!("${{{name}}}");
        }
        self.errors.push((
            line,
            format!("reference to unknown parameter or resource `{name}`"),
        ));
        format!("${{{name}}}")
    }

    fn sub(&mut self, template: &str, line: u32, vars: &HashMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(p) = rest.find("${") {
            out.push_str(&rest[..p]);
            let after = &rest[p + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[p..]);
                return out;
            };
            let name = &after[..end];
            if let Some(lit) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(lit);
                out.push('}');
            } else {
                let v = self.var(name.trim(), line, vars);
                out.push_str(&v);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn cond_value(&mut self, name: &str, depth: usize) -> Option<bool> {
        let c = self.conditions?.get(name)?;
        self.eval_cond(c, depth + 1)
    }

    fn eval_cond(&mut self, c: &Node, depth: usize) -> Option<bool> {
        if depth > 32 {
            return None;
        }
        let (f, arg) = intrinsic(c)?;
        match f {
            "Fn::Equals" => {
                let items = arg.items();
                if items.len() != 2 {
                    return None;
                }
                let a = self.resolve(&items[0], depth + 1);
                let b = self.resolve(&items[1], depth + 1);
                let (a, b) = (a.as_str()?, b.as_str()?);
                if a.contains("${") || b.contains("${") {
                    return None;
                }
                Some(a == b)
            }
            "Fn::Not" => self.eval_cond(arg.items().first()?, depth + 1).map(|b| !b),
            "Fn::And" => arg
                .items()
                .iter()
                .map(|x| self.eval_cond(x, depth + 1))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.iter().all(|b| *b)),
            "Fn::Or" => arg
                .items()
                .iter()
                .map(|x| self.eval_cond(x, depth + 1))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.iter().any(|b| *b)),
            "Condition" => self.cond_value(arg.as_str()?, depth + 1),
            _ => None,
        }
    }

    /// Resolves intrinsics in `n`. `AWS::NoValue` becomes `Kind::Null` and is dropped from maps/lists.
    fn resolve(&mut self, n: &Node, depth: usize) -> Node {
        let line = n.line;
        if depth > crate::node::MAX_DEPTH {
            self.errors
                .push((line, "intrinsic functions nest too deeply".into()));
            return Node::str("${?}", line);
        }
        if let Some((f, arg)) = intrinsic(n) {
            let s = |v: String| Node::new(Kind::Str(v), line, n.col);
            return match f {
                "Ref" => match arg.as_str() {
                    Some("AWS::NoValue") => Node::new(Kind::Null, line, n.col),
                    Some(name) => {
                        if let Some(Some(def)) = self.params.get(name) {
                            let d = def.clone();
                            return self.resolve(&d, depth + 1);
                        }
                        s(self.var(name, line, &HashMap::new()))
                    }
                    None => {
                        self.errors.push((line, "`Ref` needs a logical id".into()));
                        s("${?}".into())
                    }
                },
                "Fn::GetAtt" => {
                    let (res, attr) = match &arg.kind {
                        Kind::Str(v) => match v.split_once('.') {
                            Some((a, b)) => (a.to_string(), b.to_string()),
                            None => (v.clone(), String::new()),
                        },
                        Kind::Seq(items) if items.len() == 2 => {
                            let attr = self.resolve(&items[1], depth + 1);
                            (
                                items[0].as_str().unwrap_or("?").to_string(),
                                attr.as_str().unwrap_or("?").to_string(),
                            )
                        }
                        _ => {
                            self.errors
                                .push((line, "`Fn::GetAtt` needs `[LogicalId, Attribute]`".into()));
                            return s("${?}".into());
                        }
                    };
                    if self.resources.contains(&res) {
                        self.refs.insert(res.clone());
                    } else {
                        self.errors.push((
                            line,
                            format!("`Fn::GetAtt` refers to unknown resource `{res}`"),
                        ));
                    }
                    s(format!("${{{res}.{attr}}}"))
                }
                "Fn::Sub" => match &arg.kind {
                    Kind::Str(t) => s(self.sub(t, line, &HashMap::new())),
                    Kind::Seq(items) if items.len() == 2 => {
                        let mut vars = HashMap::new();
                        for (k, v) in items[1].entries() {
                            let r = self.resolve(v, depth + 1);
                            vars.insert(k.clone(), r.as_str().unwrap_or("${?}").to_string());
                        }
                        let t = items[0].as_str().unwrap_or("").to_string();
                        s(self.sub(&t, line, &vars))
                    }
                    _ => {
                        self.errors.push((
                            line,
                            "`Fn::Sub` needs a string or `[string, {vars}]`".into(),
                        ));
                        s("${?}".into())
                    }
                },
                "Fn::Join" => {
                    let items = arg.items();
                    if items.len() != 2 {
                        self.errors
                            .push((line, "`Fn::Join` needs `[delimiter, [values]]`".into()));
                        return s("${?}".into());
                    }
                    let delim = items[0].as_str().unwrap_or("").to_string();
                    let list = self.resolve(&items[1], depth + 1);
                    let parts: Vec<String> = list
                        .as_list()
                        .into_iter()
                        .map(|x| {
                            x.as_str()
                                .map_or_else(|| "${?}".to_string(), str::to_string)
                        })
                        .collect();
                    s(parts.join(&delim))
                }
                "Fn::Select" => {
                    let items = arg.items();
                    if items.len() != 2 {
                        self.errors
                            .push((line, "`Fn::Select` needs `[index, list]`".into()));
                        return s("${?}".into());
                    }
                    let idx = self.resolve(&items[0], depth + 1);
                    let list = self.resolve(&items[1], depth + 1);
                    match idx
                        .as_str()
                        .and_then(|i| i.parse::<usize>().ok())
                        .and_then(|i| list.items().get(i).cloned())
                    {
                        Some(v) => v,
                        None => s("${?}".into()),
                    }
                }
                "Fn::Split" => {
                    let items = arg.items();
                    if items.len() != 2 {
                        self.errors
                            .push((line, "`Fn::Split` needs `[delimiter, string]`".into()));
                        return s("${?}".into());
                    }
                    let d = items[0].as_str().unwrap_or(",").to_string();
                    let v = self.resolve(&items[1], depth + 1);
                    match v.as_str() {
                        Some(text) if !d.is_empty() => Node::new(
                            Kind::Seq(text.split(d.as_str()).map(|p| Node::str(p, line)).collect()),
                            line,
                            n.col,
                        ),
                        _ => s("${?}".into()),
                    }
                }
                "Fn::If" => {
                    let items = arg.items();
                    if items.len() != 3 {
                        self.errors
                            .push((line, "`Fn::If` needs `[condition, then, else]`".into()));
                        return s("${?}".into());
                    }
                    let cond = items[0].as_str().and_then(|c| self.cond_value(c, depth));
                    // Unknown condition: analyse the `then` branch unless it is AWS::NoValue.
                    let pick = match cond {
                        Some(false) => &items[2],
                        _ => {
                            let then = self.resolve(&items[1], depth + 1);
                            if then.kind == Kind::Null && cond.is_none() {
                                &items[2]
                            } else {
                                return then;
                            }
                        }
                    };
                    self.resolve(pick, depth + 1)
                }
                "Fn::FindInMap" => {
                    let items: Vec<Node> = arg
                        .items()
                        .iter()
                        .map(|x| self.resolve(x, depth + 1))
                        .collect();
                    let keys: Option<Vec<&str>> = items.iter().map(Node::as_str).collect();
                    match (self.mappings, keys) {
                        (Some(m), Some(k)) if k.len() == 3 => match m.path(&k) {
                            Some(v) => {
                                let v = v.clone();
                                self.resolve(&v, depth + 1)
                            }
                            None => s("${FindInMap}".into()),
                        },
                        _ => s("${FindInMap}".into()),
                    }
                }
                "Fn::ImportValue" => {
                    let v = self.resolve(arg, depth + 1);
                    s(format!("${{Import:{}}}", v.as_str().unwrap_or("?")))
                }
                "Fn::Base64" => self.resolve(arg, depth + 1),
                "Fn::ToJsonString" => {
                    let v = self.resolve(arg, depth + 1);
                    s(v.to_json().to_string())
                }
                "Fn::GetAZs" | "Fn::Cidr" | "Fn::Length" | "Fn::Transform" | "Fn::ForEach" => {
                    s(format!("${{{f}}}"))
                }
                "Fn::Equals" | "Fn::And" | "Fn::Or" | "Fn::Not" | "Condition" => {
                    let b = self.eval_cond(n, depth);
                    match b {
                        Some(b) => Node::new(Kind::Bool(b), line, n.col),
                        None => s("${Condition}".into()),
                    }
                }
                other => {
                    debug_assert!(!KNOWN_FNS.contains(&other));
                    self.errors
                        .push((line, format!("unknown intrinsic function `{other}`")));
                    s("${?}".into())
                }
            };
        }
        match &n.kind {
            Kind::Seq(items) => Node::new(
                Kind::Seq(
                    items
                        .iter()
                        .map(|x| self.resolve(x, depth + 1))
                        .filter(|x| x.kind != Kind::Null)
                        .collect(),
                ),
                line,
                n.col,
            ),
            Kind::Map(entries) => Node::new(
                Kind::Map(
                    entries
                        .iter()
                        .map(|(k, v)| (k.clone(), self.resolve(v, depth + 1)))
                        .filter(|(_, v)| v.kind != Kind::Null)
                        .collect(),
                ),
                line,
                n.col,
            ),
            _ => n.clone(),
        }
    }
}

/// Finds one reference cycle among resources (via Ref/GetAtt/Sub/DependsOn), if any.
fn find_cycle(deps: &HashMap<String, Vec<String>>) -> Option<Vec<String>> {
    let mut state: HashMap<&str, u8> = HashMap::new();
    let mut keys: Vec<&String> = deps.keys().collect();
    keys.sort();
    for start in keys {
        if state.get(start.as_str()).copied().unwrap_or(0) != 0 {
            continue;
        }
        // Iterative DFS with an explicit path.
        let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        state.insert(start.as_str(), 1);
        while let Some((node, i)) = stack.last().copied() {
            let next = deps.get(node).and_then(|v| v.get(i));
            if let Some(last) = stack.last_mut() {
                last.1 += 1;
            }
            match next {
                Some(nx) => match state.get(nx.as_str()).copied().unwrap_or(0) {
                    0 => {
                        state.insert(nx.as_str(), 1);
                        stack.push((nx.as_str(), 0));
                    }
                    1 => {
                        let pos = stack
                            .iter()
                            .position(|(n, _)| *n == nx.as_str())
                            .unwrap_or(0);
                        let mut cyc: Vec<String> =
                            stack[pos..].iter().map(|(n, _)| n.to_string()).collect();
                        cyc.push(nx.clone());
                        return Some(cyc);
                    }
                    _ => {}
                },
                None => {
                    state.insert(node, 2);
                    stack.pop();
                }
            }
        }
    }
    None
}

fn str_of(n: Option<&Node>) -> Option<String> {
    n.and_then(Node::as_str).map(str::to_string)
}

fn id_of(n: Option<&Node>) -> Option<String> {
    n.and_then(Node::as_str).and_then(ref_id)
}

/// Converts a template into the deployment model; errors go to `ctx`.
pub fn load(root: &Node, ctx: &mut Ctx) -> Deployment {
    let mut dep = Deployment::default();
    let Some(resources) = root.get("Resources") else {
        ctx.error(Some(root.line), "template has no `Resources`".into());
        return dep;
    };
    let params = root
        .get("Parameters")
        .map(|p| {
            p.entries()
                .iter()
                .map(|(k, v)| (k.clone(), v.get("Default").cloned()))
                .collect()
        })
        .unwrap_or_default();
    let mut r = Resolver {
        params,
        resources: resources.entries().iter().map(|(k, _)| k.clone()).collect(),
        mappings: root.get("Mappings"),
        conditions: root.get("Conditions"),
        errors: Vec::new(),
        refs: HashSet::new(),
    };
    for (rule, reason, line) in ignores_from(root.path(&["Metadata", "warden:ignore"])) {
        ctx.suppressions.push(Suppression {
            rule,
            reason,
            line,
            scope: Scope::File,
        });
    }
    let mut deps: HashMap<String, Vec<String>> = HashMap::new();
    let mut resolved: Vec<(String, String, Node, u32)> = Vec::new();
    for (id, res) in resources.entries() {
        ctx.spans
            .push((id.clone(), res.line.saturating_sub(1), res.end_line()));
        for (rule, reason, line) in ignores_from(res.path(&["Metadata", "warden:ignore"])) {
            ctx.suppressions.push(Suppression {
                rule,
                reason,
                line,
                scope: Scope::Resource(id.clone()),
            });
        }
        let ty = res
            .get("Type")
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_string();
        if ty.is_empty() {
            ctx.error(Some(res.line), format!("resource `{id}` has no `Type`"));
        }
        r.refs.clear();
        let props = res.get("Properties").map_or_else(
            || Node::new(Kind::Map(Vec::new()), res.line, 1),
            |p| r.resolve(p, 0),
        );
        let mut d: Vec<String> = r.refs.iter().cloned().collect();
        if let Some(dn) = res.get("DependsOn") {
            d.extend(dn.str_list().into_iter().map(str::to_string));
        }
        d.sort();
        d.dedup();
        deps.insert(id.clone(), d);
        resolved.push((id.clone(), ty, props, res.line));
    }
    for (line, msg) in r.errors.drain(..) {
        ctx.error(Some(line), msg);
    }
    if let Some(cycle) = find_cycle(&deps) {
        let line = resources.get(&cycle[0]).map_or(resources.line, |n| n.line);
        ctx.error(
            Some(line),
            format!(
                "circular dependency between resources: {}",
                cycle
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(" -> ")
            ),
        );
    }
    for (id, ty, p, line) in resolved {
        map_resource(&id, &ty, &p, line, &mut dep);
    }
    // Attach policies to roles by reference.
    dep
}

fn policy(
    dep: &mut Deployment,
    id: &str,
    path: &str,
    kind: PolicyKind,
    doc: &Node,
    roles: Vec<String>,
) {
    dep.policies.push(PolicyDoc {
        resource: id.to_string(),
        path: path.to_string(),
        kind,
        doc: doc.clone(),
        roles,
    });
}

fn map_resource(id: &str, ty: &str, p: &Node, line: u32, dep: &mut Deployment) {
    match ty {
        "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group" => {
            if let Some(t) = p.get("AssumeRolePolicyDocument") {
                policy(
                    dep,
                    id,
                    "Properties.AssumeRolePolicyDocument",
                    PolicyKind::Trust,
                    t,
                    Vec::new(),
                );
            }
            for (i, pol) in p
                .get("Policies")
                .map(Node::items)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                if let Some(doc) = pol.get("PolicyDocument") {
                    policy(
                        dep,
                        id,
                        &format!("Properties.Policies[{i}].PolicyDocument"),
                        PolicyKind::Identity,
                        doc,
                        vec![id.to_string()],
                    );
                }
            }
            let managed = p
                .get("ManagedPolicyArns")
                .map(|m| {
                    m.as_list()
                        .into_iter()
                        .filter_map(|x| x.as_str().map(|s| (s.to_string(), x.line)))
                        .collect()
                })
                .unwrap_or_default();
            dep.roles.push(Role {
                id: id.to_string(),
                name: str_of(
                    p.get("RoleName")
                        .or_else(|| p.get("UserName"))
                        .or_else(|| p.get("GroupName")),
                ),
                line,
                managed,
            });
        }
        "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::IAM::RolePolicy" => {
            let mut roles: Vec<String> = Vec::new();
            for key in ["Roles", "Users", "Groups"] {
                if let Some(list) = p.get(key) {
                    roles.extend(list.str_list().into_iter().filter_map(ref_id));
                }
            }
            if let Some(r) = id_of(p.get("RoleName")) {
                roles.push(r);
            }
            if let Some(doc) = p.get("PolicyDocument") {
                policy(
                    dep,
                    id,
                    "Properties.PolicyDocument",
                    PolicyKind::Identity,
                    doc,
                    roles,
                );
            }
        }
        "AWS::S3::BucketPolicy"
        | "AWS::SNS::TopicPolicy"
        | "AWS::SQS::QueuePolicy"
        | "AWS::KMS::Key"
        | "AWS::SecretsManager::ResourcePolicy" => {
            let key = if ty == "AWS::KMS::Key" {
                "KeyPolicy"
            } else if ty == "AWS::SecretsManager::ResourcePolicy" {
                "ResourcePolicy"
            } else {
                "PolicyDocument"
            };
            if let Some(doc) = p.get(key).filter(|d| d.is_map()) {
                policy(
                    dep,
                    id,
                    &format!("Properties.{key}"),
                    PolicyKind::Resource,
                    doc,
                    Vec::new(),
                );
            }
        }
        "AWS::Lambda::Function" | "AWS::Serverless::Function" => {
            let env = p
                .path(&["Environment", "Variables"])
                .map(|v| v.entries().to_vec())
                .unwrap_or_default();
            let in_vpc = p
                .get("VpcConfig")
                .is_some_and(|v| v.get("SubnetIds").is_some_and(|s| !s.as_list().is_empty()));
            dep.functions.push(Function {
                id: id.to_string(),
                name: str_of(p.get("FunctionName")),
                role: id_of(p.get("Role")),
                runtime: str_of(p.get("Runtime")),
                env,
                in_vpc,
                line,
            });
        }
        "AWS::Lambda::Permission" => dep.permissions.push(LambdaPermission {
            id: id.to_string(),
            principal: str_of(p.get("Principal")).unwrap_or_default(),
            action: str_of(p.get("Action")).unwrap_or_default(),
            source_arn: str_of(p.get("SourceArn")),
            source_account: str_of(p.get("SourceAccount")),
            function: id_of(p.get("FunctionName")),
            line,
        }),
        "AWS::Lambda::Url" => dep.urls.push(FunctionUrl {
            id: id.to_string(),
            auth: str_of(p.get("AuthType")),
            line,
        }),
        "AWS::CloudTrail::Trail" => dep.trails.push(Trail {
            id: id.to_string(),
            validation: p.get("EnableLogFileValidation").and_then(Node::as_bool),
            multi_region: p.get("IsMultiRegionTrail").and_then(Node::as_bool),
            kms: p.get("KMSKeyId").is_some(),
            line,
        }),
        "AWS::Bedrock::Agent" => {
            let mut groups = Vec::new();
            for (i, g) in p
                .get("ActionGroups")
                .map(Node::items)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                groups.push(action_group(
                    g,
                    &format!("Properties.ActionGroups[{i}]"),
                    false,
                ));
            }
            dep.agents.push(Agent {
                id: id.to_string(),
                name: str_of(p.get("AgentName")),
                role: id_of(p.get("AgentResourceRoleArn")),
                guardrail: p
                    .path(&["GuardrailConfiguration", "GuardrailIdentifier"])
                    .is_some(),
                cmk: p.get("CustomerEncryptionKeyArn").is_some(),
                action_groups: groups,
                line,
            });
        }
        _ => {}
    }
}

/// Maps one action group (CloudFormation PascalCase or API camelCase when `camel`).
pub fn action_group(g: &Node, path: &str, camel: bool) -> ActionGroup {
    let k = |pascal: &'static str, cam: &'static str| if camel { cam } else { pascal };
    let name = g
        .get(k("ActionGroupName", "actionGroupName"))
        .and_then(Node::as_str)
        .unwrap_or("?")
        .to_string();
    let exec = g
        .path(&[
            k("ActionGroupExecutor", "actionGroupExecutor"),
            k("Lambda", "lambda"),
        ])
        .and_then(Node::as_str);
    let executor =
        exec.map(|e| ref_id(e).unwrap_or_else(|| e.rsplit(':').next().unwrap_or(e).to_string()));
    let schema = if let Some(api) = g.get(k("ApiSchema", "apiSchema")) {
        if let Some(pl) = api.get(k("Payload", "payload")) {
            match &pl.kind {
                Kind::Str(text) => {
                    // A YAML block scalar starts on the line after its indicator.
                    SchemaSource::Payload(text.clone(), pl.line)
                }
                _ => SchemaSource::Doc(pl.clone()),
            }
        } else if let Some(s3) = api.get(k("S3", "s3")) {
            let b = s3
                .get(k("S3BucketName", "s3BucketName"))
                .and_then(Node::as_str)
                .unwrap_or("?");
            let o = s3
                .get(k("S3ObjectKey", "s3ObjectKey"))
                .and_then(Node::as_str)
                .unwrap_or("?");
            SchemaSource::S3(format!("s3://{b}/{o}"))
        } else {
            SchemaSource::None
        }
    } else if let Some(f) = g.path(&[
        k("FunctionSchema", "functionSchema"),
        k("Functions", "functions"),
    ]) {
        SchemaSource::Functions(f.clone())
    } else {
        SchemaSource::None
    };
    ActionGroup {
        name,
        path: path.to_string(),
        resource: None,
        executor,
        schema,
        line: g.line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_intrinsics() {
        let t = crate::yaml::parse_yaml(
            "Parameters:\n  Env:\n    Type: String\n    Default: prod\nResources:\n  B:\n    Type: AWS::S3::Bucket\n  P:\n    Type: AWS::IAM::Policy\n    Properties:\n      PolicyDocument:\n        Statement:\n          - Effect: Allow\n            Action: s3:GetObject\n            Resource: !Sub 'arn:${AWS::Partition}:s3:::${B}-${Env}/*'\n          - Effect: Allow\n            Action: !Join [':', [s3, PutObject]]\n            Resource: !GetAtt B.Arn\n",
        )
        .unwrap();
        let mut ctx = Ctx::new("t.yaml", &[]);
        let dep = load(&t, &mut ctx);
        assert!(ctx.errors.is_empty(), "{:?}", ctx.errors);
        let doc = &dep.policies[0].doc;
        let st = doc.get("Statement").unwrap().items();
        assert_eq!(
            st[0].get("Resource").unwrap().as_str(),
            Some("arn:aws:s3:::${B}-prod/*")
        );
        assert_eq!(st[1].get("Action").unwrap().as_str(), Some("s3:PutObject"));
        assert_eq!(st[1].get("Resource").unwrap().as_str(), Some("${B.Arn}"));
    }

    #[test]
    fn unknown_intrinsic_and_cycles_are_errors() {
        let t = crate::node::parse_json(
            r#"{"Resources":{"A":{"Type":"AWS::S3::Bucket","Properties":{"X":{"Fn::Bogus":1},"Y":{"Ref":"B"}}},"B":{"Type":"AWS::S3::Bucket","Properties":{"Y":{"Fn::GetAtt":["A","Arn"]}}}}}"#,
        )
        .unwrap();
        let mut ctx = Ctx::new("t.json", &[]);
        load(&t, &mut ctx);
        let msgs: Vec<&str> = ctx.errors.iter().map(|e| e.message.as_str()).collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("unknown intrinsic function `Fn::Bogus`")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.contains("circular dependency")),
            "{msgs:?}"
        );
    }
}
