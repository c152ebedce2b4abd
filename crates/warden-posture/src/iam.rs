//! IAM policy model (Action/NotAction, Resource/NotResource, Principal, Condition) and the
//! policy-level rules (IAM-*, TRUST-*).
//!
//! Semantics follow the IAM evaluation logic: explicit unconditional Deny removes actions before
//! any Allow is judged, NotAction/NotResource are expanded as complements against the catalogue,
//! and conditions are treated as annotations that lower severity by one level rather than as
//! automatic suppression (research notes §0.2).

use crate::catalogue::{catalogue, AccessLevel, ActionSet, Expansion};
use crate::finding::Severity;
use crate::node::{Kind, Node};
use crate::report_ctx::Ctx;
use crate::suppress::{ignores_from, Suppression};
use std::sync::OnceLock;

/// Which kind of policy a document is (decides which elements are required and which rules run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a user, group or role.
    Identity,
    /// Attached to a resource (bucket policy, key policy…).
    Resource,
    /// A role's assume-role (trust) policy.
    Trust,
}

/// One principal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `"*"` or `{"AWS": "*"}`.
    Any,
    /// An account id, account root, role/user ARN or unique id.
    Aws(String),
    /// A service principal (`bedrock.amazonaws.com`).
    Service(String),
    /// A federated provider (OIDC/SAML/Cognito).
    Federated(String),
    /// A canonical user id.
    Canonical(String),
}

/// Set operator prefix of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// `ForAllValues:`.
    ForAll,
    /// `ForAnyValue:`.
    ForAny,
}

/// One condition entry (operator + key + values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Operator as written.
    pub operator: String,
    /// Base operator without set prefix and IfExists suffix.
    pub base: String,
    /// `…IfExists`.
    pub if_exists: bool,
    /// Set operator.
    pub set: Option<SetOp>,
    /// Condition key as written.
    pub key: String,
    /// Values as text.
    pub values: Vec<String>,
    /// Line.
    pub line: u32,
}

/// One parsed statement.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Position in the Statement array.
    pub index: usize,
    /// Line of the statement.
    pub line: u32,
    /// Sid.
    pub sid: Option<String>,
    /// Effect is Allow (false = Deny or invalid).
    pub allow: bool,
    /// NotAction used.
    pub not_action: bool,
    /// Action patterns as written, with their lines.
    pub action_patterns: Vec<(String, u32)>,
    /// Actions the statement applies to (complemented for NotAction).
    pub actions: ActionSet,
    /// NotResource used.
    pub not_resource: bool,
    /// Resource patterns as written.
    pub resources: Vec<String>,
    /// Principals (empty when absent).
    pub principals: Vec<Principal>,
    /// NotPrincipal used.
    pub not_principal: bool,
    /// Conditions.
    pub conditions: Vec<Condition>,
}

/// A parsed policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Version as text.
    pub version: Option<String>,
    /// Statements.
    pub statements: Vec<Statement>,
}

const SENSITIVE_SERVICES: &[&str] = &[
    "iam",
    "sts",
    "kms",
    "secretsmanager",
    "ssm",
    "s3",
    "lambda",
    "bedrock",
    "bedrock-agentcore",
    "ec2",
    "dynamodb",
    "rds",
    "rds-data",
    "organizations",
    "cloudtrail",
    "logs",
    "sagemaker",
    "ecr",
    "ecs",
    "eks",
    "cloudformation",
    "glue",
    "codebuild",
    "cognito-idp",
    "sso",
    "account",
];

/// Actions whose responses contain credentials (after policy_sentry's credentials-exposure list, MIT).
const CREDENTIAL_ACTIONS: &[&str] = &[
    "chime:CreateApiKey",
    "codepipeline:PollForJobs",
    "cognito-identity:GetOpenIdToken",
    "cognito-identity:GetOpenIdTokenForDeveloperIdentity",
    "cognito-identity:GetCredentialsForIdentity",
    "connect:GetFederationToken",
    "ecr:GetAuthorizationToken",
    "gamelift:RequestUploadCredentials",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:CreateServiceSpecificCredential",
    "iam:ResetServiceSpecificCredential",
    "iam:UpdateAccessKey",
    "lightsail:GetInstanceAccessDetails",
    "lightsail:GetRelationalDatabaseMasterUserPassword",
    "rds-db:connect",
    "redshift:GetClusterCredentials",
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:GetFederationToken",
    "sts:GetSessionToken",
];

const EXFIL_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectVersion",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "secretsmanager:GetSecretValue",
    "secretsmanager:BatchGetSecretValue",
    "kms:Decrypt",
    "dynamodb:Scan",
    "dynamodb:Query",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "rds-data:ExecuteStatement",
    "logs:GetLogEvents",
];

/// Actions that change an agent, its tools or its guardrail.
pub const TAMPER_ACTIONS: &[&str] = &[
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:PublishLayerVersion",
    "bedrock:UpdateAgent",
    "bedrock:UpdateAgentActionGroup",
    "bedrock:CreateAgentActionGroup",
    "bedrock:DeleteAgentActionGroup",
    "bedrock:UpdateAgentKnowledgeBase",
    "bedrock:AssociateAgentKnowledgeBase",
    "bedrock:UpdateAgentAlias",
    "bedrock:PrepareAgent",
    "bedrock:UpdateGuardrail",
    "bedrock:DeleteGuardrail",
    "bedrock:UpdatePrompt",
];

/// Self-contained privilege-escalation methods (Rhino / BishopFox / pathfinding.cloud names).
pub const PRIVESC_METHODS: &[(&str, &[&str])] = &[
    ("CreateNewPolicyVersion", &["iam:CreatePolicyVersion"]),
    (
        "SetExistingDefaultPolicyVersion",
        &["iam:SetDefaultPolicyVersion"],
    ),
    ("AttachUserPolicy", &["iam:AttachUserPolicy"]),
    ("AttachGroupPolicy", &["iam:AttachGroupPolicy"]),
    ("AttachRolePolicy", &["iam:AttachRolePolicy"]),
    ("PutUserPolicy", &["iam:PutUserPolicy"]),
    ("PutGroupPolicy", &["iam:PutGroupPolicy"]),
    ("PutRolePolicy", &["iam:PutRolePolicy"]),
    ("CreateAccessKey", &["iam:CreateAccessKey"]),
    ("CreateLoginProfile", &["iam:CreateLoginProfile"]),
    ("UpdateLoginProfile", &["iam:UpdateLoginProfile"]),
    ("AddUserToGroup", &["iam:AddUserToGroup"]),
    (
        "UpdateRolePolicyToAssumeIt",
        &["iam:UpdateAssumeRolePolicy", "sts:AssumeRole"],
    ),
    (
        "PassExistingRoleToNewEc2Instance",
        &["iam:PassRole", "ec2:RunInstances"],
    ),
    (
        "PassExistingRoleToNewLambdaThenInvoke",
        &[
            "iam:PassRole",
            "lambda:CreateFunction",
            "lambda:InvokeFunction",
        ],
    ),
    (
        "PassExistingRoleToNewLambdaThenTriggerWithNewDynamo",
        &[
            "iam:PassRole",
            "lambda:CreateFunction",
            "lambda:CreateEventSourceMapping",
        ],
    ),
    (
        "PassExistingRoleToCloudFormation",
        &["iam:PassRole", "cloudformation:CreateStack"],
    ),
    (
        "PassExistingRoleToNewGlueDevEndpoint",
        &["iam:PassRole", "glue:CreateDevEndpoint"],
    ),
    ("UpdateExistingGlueDevEndpoint", &["glue:UpdateDevEndpoint"]),
    (
        "PassExistingRoleToNewDataPipeline",
        &[
            "iam:PassRole",
            "datapipeline:CreatePipeline",
            "datapipeline:PutPipelineDefinition",
        ],
    ),
    (
        "PassExistingRoleToNewSageMakerNotebook",
        &[
            "iam:PassRole",
            "sagemaker:CreateNotebookInstance",
            "sagemaker:CreatePresignedNotebookInstanceUrl",
        ],
    ),
    (
        "PassExistingRoleToNewCodeBuildProject",
        &[
            "iam:PassRole",
            "codebuild:CreateProject",
            "codebuild:StartBuild",
        ],
    ),
    (
        "PassExistingRoleToNewEcsTask",
        &["iam:PassRole", "ecs:RegisterTaskDefinition", "ecs:RunTask"],
    ),
    (
        "PassExistingRoleToNewBedrockCodeInterpreter",
        &[
            "iam:PassRole",
            "bedrock-agentcore:CreateCodeInterpreter",
            "bedrock-agentcore:StartCodeInterpreterSession",
            "bedrock-agentcore:InvokeCodeInterpreter",
        ],
    ),
    (
        "PassExistingRoleToNewBedrockAgent",
        &[
            "iam:PassRole",
            "bedrock:CreateAgent",
            "bedrock:CreateAgentActionGroup",
            "bedrock:InvokeAgent",
        ],
    ),
];

/// Pre-computed action sets used by the rules.
#[derive(Debug)]
pub struct Sets {
    /// Write-level actions that support resource-level permissions.
    pub write_res: ActionSet,
    /// Of those, in sensitive services.
    pub write_res_sensitive: ActionSet,
    /// Permissions-management actions.
    pub perm_mgmt: ActionSet,
    /// Credential-returning actions.
    pub creds: ActionSet,
    /// Data-read actions.
    pub exfil: ActionSet,
    /// Agent/tool tampering actions.
    pub tamper: ActionSet,
}

/// The shared action sets.
pub fn sets() -> &'static Sets {
    static S: OnceLock<Sets> = OnceLock::new();
    S.get_or_init(|| {
        let c = catalogue();
        Sets {
            write_res: c.select(|a, _| a.level == AccessLevel::Write && a.resource_level),
            write_res_sensitive: c.select(|a, p| {
                a.level == AccessLevel::Write && a.resource_level && SENSITIVE_SERVICES.contains(&p)
            }),
            // iam:PassRole has its own rule (IAM-011).
            perm_mgmt: c.select(|a, p| {
                a.level == AccessLevel::Permissions && !(p == "iam" && a.name == "PassRole")
            }),
            creds: c.set_of(CREDENTIAL_ACTIONS),
            exfil: c.set_of(EXFIL_ACTIONS),
            tamper: c.set_of(TAMPER_ACTIONS),
        }
    })
}

/// True when a resource pattern covers every resource of its type (`*`, `arn:aws:s3:::*`, `…:function:*`).
pub fn is_broad_resource(r: &str) -> bool {
    let r = r.trim();
    if r == "*" || r == "arn:*" {
        return true;
    }
    if !r.starts_with("arn:") {
        return false;
    }
    let parts: Vec<&str> = r.splitn(6, ':').collect();
    if parts.len() < 6 {
        return r.ends_with('*');
    }
    if parts[2].contains('*') {
        return true;
    }
    let res = parts[5];
    let rest = match res.find(['/', ':']) {
        Some(p)
            if parts[2] != "s3"
                && res[..p]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            &res[p + 1..]
        }
        _ => res,
    };
    !rest.is_empty() && rest.chars().all(|c| matches!(c, '*' | '/' | ':' | '?'))
}

/// A condition key that genuinely narrows who or what can use a grant.
fn restricting_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    !(k == "aws:securetransport" || k == "aws:requestedregion" || k == "aws:currenttime")
}

impl Statement {
    /// The statement's resource scope is "everything" (broad pattern or NotResource).
    pub fn resource_broad(&self) -> bool {
        self.not_resource || self.resources.iter().any(|r| is_broad_resource(r))
    }

    /// The statement has at least one condition that narrows it.
    pub fn conditioned(&self) -> bool {
        self.conditions.iter().any(|c| restricting_key(&c.key))
    }

    /// Has a condition on `key` (case-insensitive).
    pub fn has_key(&self, key: &str) -> bool {
        self.conditions
            .iter()
            .any(|c| c.key.eq_ignore_ascii_case(key))
    }

    /// Whether the statement's Resource element may cover `target` (an ARN, or an unresolved
    /// reference like `${ToolFunction.Arn}`), given the target's logical id and name.
    pub fn may_cover(&self, target_ref: &str, target_name: Option<&str>) -> bool {
        let hit = self.resources.iter().any(|r| {
            if is_broad_resource(r) || r == "*" {
                return true;
            }
            if r.contains(&format!("${{{target_ref}")) {
                return true;
            }
            if let Some(name) = target_name {
                let tail = r.rsplit([':', '/']).next().unwrap_or("");
                if !tail.contains("${") && crate::catalogue::glob_match(tail, name) {
                    return true;
                }
            }
            false
        });
        if self.not_resource {
            !hit || self.resources.is_empty()
        } else {
            hit
        }
    }
}

/// Statement-level diagnostics collected while parsing.
struct Parser<'a> {
    ctx: &'a mut Ctx,
    base_path: String,
}

fn text_list(n: &Node) -> Vec<(String, u32)> {
    n.as_list()
        .into_iter()
        .filter_map(|x| x.as_str().map(|s| (s.to_string(), x.line)))
        .collect()
}

fn parse_principal(n: &Node) -> Result<Vec<Principal>, String> {
    match &n.kind {
        Kind::Str(s) if s == "*" => Ok(vec![Principal::Any]),
        Kind::Str(s) => Err(format!(
            "principal `{s}` must be `*` or an object such as {{\"AWS\": …}}"
        )),
        Kind::Map(entries) => {
            let mut out = Vec::new();
            for (k, v) in entries {
                for (val, _) in text_list(v) {
                    out.push(match k.as_str() {
                        "AWS" if val == "*" => Principal::Any,
                        "AWS" => Principal::Aws(val),
                        "Service" => Principal::Service(val),
                        "Federated" => Principal::Federated(val),
                        "CanonicalUser" => Principal::Canonical(val),
                        other => return Err(format!("unknown principal type `{other}`")),
                    });
                }
            }
            Ok(out)
        }
        _ => Err("principal must be `*` or an object".into()),
    }
}

const OPERATORS: &[&str] = &[
    "stringequals",
    "stringnotequals",
    "stringequalsignorecase",
    "stringnotequalsignorecase",
    "stringlike",
    "stringnotlike",
    "numericequals",
    "numericnotequals",
    "numericlessthan",
    "numericlessthanequals",
    "numericgreaterthan",
    "numericgreaterthanequals",
    "dateequals",
    "datenotequals",
    "datelessthan",
    "datelessthanequals",
    "dategreaterthan",
    "dategreaterthanequals",
    "bool",
    "binaryequals",
    "ipaddress",
    "notipaddress",
    "arnequals",
    "arnlike",
    "arnnotequals",
    "arnnotlike",
    "null",
];

/// Global condition keys that are multi-valued.
const MULTI_GLOBAL_KEYS: &[&str] = &[
    "aws:tagkeys",
    "aws:principalservicenameslist",
    "aws:calledvia",
    "aws:principalorgpaths",
    "aws:sourceorgpaths",
    "aws:resourceorgpaths",
];

fn split_operator(op: &str) -> (Option<SetOp>, String, bool) {
    let (set, rest) = if let Some(r) = op.strip_prefix("ForAllValues:") {
        (Some(SetOp::ForAll), r)
    } else if let Some(r) = op.strip_prefix("ForAnyValue:") {
        (Some(SetOp::ForAny), r)
    } else {
        (None, op)
    };
    let lower = rest.to_ascii_lowercase();
    match lower.strip_suffix("ifexists") {
        Some(b) => (set, b.to_string(), true),
        None => (set, lower, false),
    }
}

impl Parser<'_> {
    fn finding(
        &mut self,
        rule: &'static str,
        sev: Option<Severity>,
        line: u32,
        path: &str,
        msg: String,
    ) {
        self.ctx.push(rule, sev, line, path, msg, "");
    }

    fn statement(
        &mut self,
        n: &Node,
        index: usize,
        kind: PolicyKind,
        path: &str,
    ) -> Option<Statement> {
        if !n.is_map() {
            self.finding(
                "IAM-016",
                None,
                n.line,
                path,
                "statement is not an object".into(),
            );
            return None;
        }
        for (k, v) in n.entries() {
            let known = matches!(
                k.as_str(),
                "Sid"
                    | "Effect"
                    | "Principal"
                    | "NotPrincipal"
                    | "Action"
                    | "NotAction"
                    | "Resource"
                    | "NotResource"
                    | "Condition"
                    | "warden:ignore"
            );
            if !known {
                self.finding(
                    "IAM-016",
                    None,
                    v.line,
                    path,
                    format!("unknown statement element `{k}`"),
                );
            }
        }
        for (rule, reason, line) in ignores_from(n.get("warden:ignore")) {
            self.ctx.suppressions.push(Suppression::path(
                rule,
                reason,
                line,
                self.ctx.resource.clone(),
                path.to_string(),
            ));
        }
        let allow = match n.get("Effect").and_then(Node::as_str) {
            Some("Allow") => true,
            Some("Deny") => false,
            Some(other) => {
                self.finding(
                    "IAM-016",
                    None,
                    n.line,
                    path,
                    format!("Effect `{other}` is neither `Allow` nor `Deny`"),
                );
                return None;
            }
            None => {
                self.finding(
                    "IAM-016",
                    None,
                    n.line,
                    path,
                    "statement has no `Effect`".into(),
                );
                return None;
            }
        };
        let (not_action, action_node) = match (n.get("Action"), n.get("NotAction")) {
            (Some(a), None) => (false, a),
            (None, Some(a)) => (true, a),
            (Some(_), Some(_)) => {
                self.finding(
                    "IAM-016",
                    None,
                    n.line,
                    path,
                    "statement has both `Action` and `NotAction`".into(),
                );
                return None;
            }
            (None, None) => {
                self.finding(
                    "IAM-016",
                    None,
                    n.line,
                    path,
                    "statement has neither `Action` nor `NotAction`".into(),
                );
                return None;
            }
        };
        let action_patterns = text_list(action_node);
        let cat = catalogue();
        let mut actions = ActionSet::empty();
        for (p, line) in &action_patterns {
            if p.contains("${") {
                continue; // unresolved template value: a specific but unknown action
            }
            match cat.expand(p) {
                Expansion::Actions(s) => actions.union_with(&s),
                Expansion::UnknownPrefix(pref) => self.finding(
                    "IAM-013",
                    None,
                    *line,
                    path,
                    format!("action `{p}` uses unknown service prefix `{pref}`"),
                ),
                Expansion::UnknownAction => self.finding(
                    "IAM-013",
                    None,
                    *line,
                    path,
                    format!("action `{p}` matches no known action"),
                ),
                Expansion::Malformed => self.finding(
                    "IAM-016",
                    None,
                    *line,
                    path,
                    format!("action `{p}` is not of the form `service:Action`"),
                ),
            }
        }
        if not_action {
            actions = actions.complement();
        }
        let (not_resource, resources) = match (n.get("Resource"), n.get("NotResource")) {
            (Some(r), None) => (false, text_list(r).into_iter().map(|x| x.0).collect()),
            (None, Some(r)) => (true, text_list(r).into_iter().map(|x| x.0).collect()),
            (Some(_), Some(_)) => {
                self.finding(
                    "IAM-016",
                    None,
                    n.line,
                    path,
                    "statement has both `Resource` and `NotResource`".into(),
                );
                (false, Vec::new())
            }
            (None, None) => {
                if kind == PolicyKind::Identity {
                    self.finding(
                        "IAM-016",
                        None,
                        n.line,
                        path,
                        "identity-policy statement has no `Resource`".into(),
                    );
                }
                (false, Vec::new())
            }
        };
        let (not_principal, pnode) = match (n.get("Principal"), n.get("NotPrincipal")) {
            (Some(p), None) => (false, Some(p)),
            (None, Some(p)) => (true, Some(p)),
            (Some(_), Some(_)) => {
                self.finding(
                    "IAM-016",
                    None,
                    n.line,
                    path,
                    "statement has both `Principal` and `NotPrincipal`".into(),
                );
                (false, None)
            }
            (None, None) => (false, None),
        };
        let mut principals = Vec::new();
        match (kind, pnode) {
            (PolicyKind::Identity, Some(p)) => self.finding(
                "IAM-016",
                None,
                p.line,
                path,
                "identity policies must not contain `Principal`".into(),
            ),
            (PolicyKind::Resource | PolicyKind::Trust, None) => self.finding(
                "IAM-016",
                None,
                n.line,
                path,
                "resource and trust policy statements need a `Principal`".into(),
            ),
            (_, Some(p)) => match parse_principal(p) {
                Ok(ps) => principals = ps,
                Err(m) => self.finding("IAM-016", None, p.line, path, m),
            },
            _ => {}
        }
        let mut conditions = Vec::new();
        if let Some(c) = n.get("Condition") {
            if !c.is_map() {
                self.finding(
                    "IAM-016",
                    None,
                    c.line,
                    path,
                    "`Condition` must be an object".into(),
                );
            }
            for (op, body) in c.entries() {
                let (set, base, if_exists) = split_operator(op);
                if !OPERATORS.contains(&base.as_str()) || (if_exists && base == "null") {
                    self.finding(
                        "IAM-015",
                        Some(Severity::Medium),
                        body.line,
                        path,
                        format!("unknown condition operator `{op}`"),
                    );
                }
                if !body.is_map() {
                    self.finding(
                        "IAM-016",
                        None,
                        body.line,
                        path,
                        format!("condition operator `{op}` must map keys to values"),
                    );
                }
                for (key, vals) in body.entries() {
                    conditions.push(Condition {
                        operator: op.clone(),
                        base: base.clone(),
                        if_exists,
                        set,
                        key: key.clone(),
                        values: text_list(vals).into_iter().map(|x| x.0).collect(),
                        line: vals.line,
                    });
                }
            }
        }
        Some(Statement {
            index,
            line: n.line,
            sid: n.get("Sid").and_then(Node::as_str).map(str::to_string),
            allow,
            not_action,
            action_patterns,
            actions,
            not_resource,
            resources,
            principals,
            not_principal,
            conditions,
        })
    }
}

/// Parses a policy document, reporting grammar problems (IAM-013/014/015/016/017) into `ctx`.
pub fn parse_policy(n: &Node, kind: PolicyKind, ctx: &mut Ctx, base_path: &str) -> Option<Policy> {
    let mut p = Parser {
        ctx,
        base_path: base_path.to_string(),
    };
    let bp = p.base_path.clone();
    if !n.is_map() {
        p.finding(
            "IAM-016",
            None,
            n.line,
            &bp,
            "policy document is not an object".into(),
        );
        return None;
    }
    for (rule, reason, line) in ignores_from(n.get("warden:ignore")) {
        let res = p.ctx.resource.clone();
        p.ctx
            .suppressions
            .push(Suppression::path(rule, reason, line, res, bp.clone()));
    }
    let version = n.get("Version").and_then(Node::as_str).map(str::to_string);
    let Some(stmt_node) = n.get("Statement") else {
        p.finding(
            "IAM-016",
            None,
            n.line,
            &bp,
            "policy has no `Statement`".into(),
        );
        return None;
    };
    let mut statements = Vec::new();
    for (i, s) in stmt_node.as_list().into_iter().enumerate() {
        let path = if bp.is_empty() {
            format!("Statement[{i}]")
        } else {
            format!("{bp}.Statement[{i}]")
        };
        if let Some(st) = p.statement(s, i, kind, &path) {
            statements.push(st);
        }
    }
    let uses_vars = statements.iter().any(|s| {
        s.resources
            .iter()
            .any(|r| r.contains("${aws:") || r.contains("${token") || r.contains("${saml"))
            || s.conditions
                .iter()
                .any(|c| c.values.iter().any(|v| v.contains("${aws:")))
    });
    let vline = n.get("Version").map_or(n.line, |v| v.line);
    match version.as_deref() {
        Some("2012-10-17") => {}
        Some("2008-10-17") => {
            let (sev, msg) = if uses_vars {
                (
                    Severity::Medium,
                    "Version `2008-10-17` treats the policy variables in this policy as literal text".to_string(),
                )
            } else {
                (
                    Severity::Low,
                    "policy uses the old Version `2008-10-17`".to_string(),
                )
            };
            p.finding("IAM-014", Some(sev), vline, &bp, msg);
        }
        Some(other) => p.finding(
            "IAM-016",
            None,
            vline,
            &bp,
            format!("invalid policy Version `{other}`"),
        ),
        None => {
            let sev = if uses_vars {
                Severity::Medium
            } else {
                Severity::Low
            };
            p.finding(
                "IAM-014",
                Some(sev),
                n.line,
                &bp,
                "policy has no `Version`, so it is evaluated as `2008-10-17`".into(),
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for s in &statements {
        if let Some(sid) = &s.sid {
            if !seen.insert(sid.clone()) {
                let path = stmt_path(&bp, s.index);
                p.finding(
                    "IAM-017",
                    None,
                    s.line,
                    &path,
                    format!("Sid `{sid}` is used more than once"),
                );
            }
        }
    }
    Some(Policy {
        version,
        statements,
    })
}

/// Path of statement `i` under `base`.
pub fn stmt_path(base: &str, i: usize) -> String {
    if base.is_empty() {
        format!("Statement[{i}]")
    } else {
        format!("{base}.Statement[{i}]")
    }
}

/// Actions removed by unconditional Deny statements on every resource.
pub fn deny_set<'a>(stmts: impl Iterator<Item = &'a Statement>) -> ActionSet {
    let mut d = ActionSet::empty();
    for s in stmts {
        if !s.allow
            && s.conditions.is_empty()
            && !s.not_resource
            && s.resources.iter().any(|r| r == "*")
        {
            d.union_with(&s.actions);
        }
    }
    d
}

fn examples(set: &ActionSet, n: usize) -> String {
    let c = catalogue();
    let mut v: Vec<String> = set
        .iter()
        .take(n)
        .map(|i| format!("`{}`", c.full_name(i)))
        .collect();
    if set.len() > n {
        v.push(format!("and {} more", set.len() - n));
    }
    v.join(", ")
}

fn cond_note(s: &Statement) -> &'static str {
    if s.conditioned() {
        " (conditioned; severity lowered)"
    } else {
        ""
    }
}

fn adj(base: Severity, s: &Statement) -> Severity {
    if s.conditioned() {
        base.lowered()
    } else {
        base
    }
}

fn default_sev(rule: &str) -> Severity {
    crate::rules::rule(rule).map_or(Severity::Medium, |r| r.severity)
}

/// Runs the semantic rules on a parsed policy.
pub fn check_policy(p: &Policy, kind: PolicyKind, ctx: &mut Ctx, base_path: &str) {
    let deny = deny_set(p.statements.iter());
    let sets = sets();
    let mut admin = false;
    for s in p.statements.iter().filter(|s| s.allow) {
        let path = stmt_path(base_path, s.index);
        if s.not_principal {
            ctx.push(
                "IAM-010",
                Some(adj(default_sev("IAM-010"), s)),
                s.line,
                &path,
                format!(
                    "Allow with `NotPrincipal` grants everyone except the listed principals{}",
                    cond_note(s)
                ),
                "",
            );
        }
        if s.not_action {
            ctx.push(
                "IAM-008",
                Some(adj(default_sev("IAM-008"), s)),
                s.line,
                &path,
                format!(
                    "Allow with `NotAction` {} grants every other action{}",
                    s.action_patterns
                        .iter()
                        .map(|a| format!("`{}`", a.0))
                        .collect::<Vec<_>>()
                        .join(", "),
                    cond_note(s)
                ),
                "",
            );
        }
        if s.not_resource {
            ctx.push(
                "IAM-009",
                Some(adj(default_sev("IAM-009"), s)),
                s.line,
                &path,
                format!(
                    "Allow with `NotResource` grants the actions on every other resource{}",
                    cond_note(s)
                ),
                "",
            );
        }
        if kind == PolicyKind::Resource
            && s.principals.contains(&Principal::Any)
            && !s.conditioned()
        {
            ctx.push(
                "IAM-018",
                None,
                s.line,
                &path,
                "resource policy allows principal `*` without conditions".into(),
                "",
            );
        }
        if kind != PolicyKind::Identity {
            continue;
        }
        let mut eff = s.actions.clone();
        eff.subtract(&deny);
        let broad = s.resource_broad();
        let literal_star = !s.not_action
            && s.action_patterns
                .iter()
                .any(|(a, _)| a == "*" || a == "*:*");
        if literal_star && broad {
            admin = true;
            ctx.push(
                "IAM-001",
                Some(adj(Severity::Critical, s)),
                s.line,
                &path,
                format!(
                    "statement allows `Action: *` on `{}`{}",
                    s.resources.first().map_or("*", String::as_str),
                    cond_note(s)
                ),
                "",
            );
            continue;
        }
        if !s.not_action {
            for (a, line) in &s.action_patterns {
                if let Some(svc) = a.strip_suffix(":*") {
                    let svc_l = svc.to_ascii_lowercase();
                    if SENSITIVE_SERVICES.contains(&svc_l.as_str()) {
                        let mut sev = adj(Severity::High, s);
                        if !broad {
                            sev = sev.lowered();
                        }
                        ctx.push(
                            "IAM-002",
                            Some(sev),
                            *line,
                            &path,
                            format!(
                                "statement allows every `{svc}` action (`{a}`) on `{}`{}",
                                s.resources.first().map_or("*", String::as_str),
                                cond_note(s)
                            ),
                            a,
                        );
                    }
                }
            }
        }
        if !broad {
            continue;
        }
        let mut w = eff.clone();
        w.intersect_with(&sets.write_res);
        if !w.is_empty() {
            let mut sensitive = w.clone();
            sensitive.intersect_with(&sets.write_res_sensitive);
            let (sev, shown) = if sensitive.is_empty() {
                (Severity::Low, &w)
            } else {
                (Severity::Medium, &sensitive)
            };
            ctx.push("IAM-003", Some(adj(sev, s)), s.line, &path,
                format!("{} write actions that support resource-level permissions are allowed on every resource, e.g. {}{}",
                    w.len(), examples(shown, 4), cond_note(s)), "");
        }
        for (rule, set, what) in [
            ("IAM-004", &sets.perm_mgmt, "permissions-management"),
            ("IAM-005", &sets.creds, "credential-returning"),
            ("IAM-006", &sets.exfil, "data-read"),
            ("IAM-012", &sets.tamper, "agent/tool-changing"),
        ] {
            let mut x = eff.clone();
            x.intersect_with(set);
            if !x.is_empty() {
                ctx.push(
                    rule,
                    Some(adj(default_sev(rule), s)),
                    s.line,
                    &path,
                    format!(
                        "{what} actions allowed on every resource: {}{}",
                        examples(&x, 5),
                        cond_note(s)
                    ),
                    "",
                );
            }
        }
        if let Some(pr) = catalogue().lookup("iam:PassRole") {
            if eff.contains(pr) && !s.has_key("iam:PassedToService") {
                ctx.push(
                    "IAM-011",
                    Some(adj(default_sev("IAM-011"), s)),
                    s.line,
                    &path,
                    format!(
                        "`iam:PassRole` on every role without an `iam:PassedToService` condition{}",
                        cond_note(s)
                    ),
                    "",
                );
            }
        }
    }
    if kind == PolicyKind::Identity && !admin {
        check_privesc(
            p.statements.iter().collect::<Vec<_>>().as_slice(),
            &deny,
            ctx,
            base_path,
        );
    }
    for s in &p.statements {
        check_conditions(s, ctx, &stmt_path(base_path, s.index));
    }
    if kind == PolicyKind::Trust {
        check_trust(p, ctx, base_path);
    }
}

/// Finds privilege-escalation methods whose actions are all allowed on broad resources.
fn check_privesc(stmts: &[&Statement], deny: &ActionSet, ctx: &mut Ctx, base_path: &str) {
    static IDX: OnceLock<Vec<Option<Vec<u32>>>> = OnceLock::new();
    let idx = IDX.get_or_init(|| {
        PRIVESC_METHODS
            .iter()
            .map(|(_, acts)| {
                acts.iter()
                    .map(|a| catalogue().lookup(a))
                    .collect::<Option<Vec<u32>>>()
            })
            .collect()
    });
    // Cheap pre-check: nothing to do unless some Allow statement has a broad resource.
    if !stmts.iter().any(|s| s.allow && s.resource_broad()) {
        return;
    }
    let grant = |idx: u32| -> Option<&Statement> {
        if deny.contains(idx) {
            return None;
        }
        stmts
            .iter()
            .copied()
            .filter(|s| s.allow && s.resource_broad() && s.actions.contains(idx))
            .min_by_key(|s| s.conditioned())
    };
    for ((method, actions), ids) in PRIVESC_METHODS.iter().zip(idx) {
        let Some(ids) = ids else { continue };
        let mut granted = Vec::new();
        for &i in ids {
            match grant(i) {
                Some(s) => granted.push(s),
                None => break,
            }
        }
        if granted.len() != actions.len() {
            continue;
        }
        let conditioned = granted.iter().any(|s| s.conditioned());
        let first = granted[0];
        let sev = if conditioned {
            Severity::High.lowered()
        } else {
            Severity::High
        };
        ctx.push(
            "IAM-007",
            Some(sev),
            first.line,
            &stmt_path(base_path, first.index),
            format!(
                "privilege escalation `{method}`: {} allowed on every resource{}",
                actions
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(" + "),
                if conditioned {
                    " (conditioned; severity lowered)"
                } else {
                    ""
                }
            ),
            method,
        );
    }
}

fn check_conditions(s: &Statement, ctx: &mut Ctx, path: &str) {
    let cat = catalogue();
    for c in &s.conditions {
        let Some(set) = c.set else { continue };
        let key = c.key.to_ascii_lowercase();
        let multi = if key.starts_with("aws:") {
            Some(MULTI_GLOBAL_KEYS.contains(&key.as_str()))
        } else {
            cat.key_multivalued(&key)
        };
        if multi == Some(false) {
            ctx.push(
                "IAM-015",
                Some(Severity::Low),
                c.line,
                path,
                format!("`{}` used with single-valued key `{}`", c.operator, c.key),
                &c.key,
            );
        } else if set == SetOp::ForAll && s.allow {
            let guarded = s.conditions.iter().any(|o| {
                o.base == "null"
                    && o.key.eq_ignore_ascii_case(&c.key)
                    && o.values.iter().any(|v| v == "false")
            });
            if !guarded {
                ctx.push("IAM-015", Some(Severity::Low), c.line, path,
                    format!("`ForAllValues` on `{}` in an Allow is true when the key is absent; add `Null: {{\"{}\": \"false\"}}`", c.key, c.key), &c.key);
            }
        }
    }
}

fn is_account_root(v: &str) -> Option<String> {
    if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(v.to_string());
    }
    let rest = v.strip_prefix("arn:")?;
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    if parts.len() == 5 && parts[1] == "iam" && parts[4] == "root" {
        return Some(parts[3].to_string());
    }
    None
}

/// Service principals whose trust should carry aws:SourceArn / aws:SourceAccount.
fn confused_deputy_service(svc: &str) -> Option<Severity> {
    let s = svc.to_ascii_lowercase();
    let exempt = [
        "lambda.amazonaws.com",
        "ec2.amazonaws.com",
        "edgelambda.amazonaws.com",
        "ecs-tasks.amazonaws.com",
    ];
    if exempt.contains(&s.as_str()) {
        return None;
    }
    if s.starts_with("bedrock") {
        Some(Severity::High)
    } else {
        Some(Severity::Medium)
    }
}

fn check_trust(p: &Policy, ctx: &mut Ctx, base_path: &str) {
    for s in p.statements.iter().filter(|s| s.allow && !s.not_principal) {
        let path = stmt_path(base_path, s.index);
        let keys_any = |names: &[&str]| names.iter().any(|k| s.has_key(k));
        for pr in &s.principals {
            match pr {
                Principal::Any => {
                    if keys_any(&[
                        "aws:PrincipalArn",
                        "aws:PrincipalAccount",
                        "aws:PrincipalOrgID",
                        "aws:PrincipalOrgPaths",
                    ]) {
                        continue;
                    }
                    let sev = if s.conditioned() {
                        Severity::High
                    } else {
                        Severity::Critical
                    };
                    ctx.push(
                        "TRUST-001",
                        Some(sev),
                        s.line,
                        &path,
                        format!(
                            "trust policy lets any principal (`*`) assume the role{}",
                            cond_note(s)
                        ),
                        "any",
                    );
                }
                Principal::Aws(v) => {
                    if let Some(acct) = is_account_root(v) {
                        let own =
                            acct.contains("${") || ctx.own_accounts.iter().any(|a| a == &acct);
                        if !own
                            && !keys_any(&[
                                "sts:ExternalId",
                                "aws:PrincipalArn",
                                "aws:PrincipalOrgID",
                                "aws:PrincipalTag/role",
                            ])
                        {
                            ctx.push("TRUST-002", Some(adj(Severity::High, s)), s.line, &path,
                                format!("trust policy trusts the whole account `{acct}` without `sts:ExternalId` or `aws:PrincipalArn`"), v);
                        }
                    } else if v.len() >= 16
                        && ["AROA", "AIDA", "AGPA", "ANPA"]
                            .iter()
                            .any(|p| v.starts_with(p))
                        && v.bytes().all(|b| b.is_ascii_alphanumeric())
                    {
                        ctx.push("TRUST-005", None, s.line, &path,
                            format!("trust policy names unique id `{v}` (the trusted principal was deleted)"), v);
                    }
                }
                Principal::Service(svc) => {
                    if let Some(sev) = confused_deputy_service(svc) {
                        if !keys_any(&[
                            "aws:SourceArn",
                            "aws:SourceAccount",
                            "aws:SourceOrgID",
                            "aws:SourceOrgPaths",
                        ]) {
                            ctx.push("TRUST-003", Some(sev), s.line, &path,
                                format!("service principal `{svc}` can assume the role without `aws:SourceArn` or `aws:SourceAccount`"), svc);
                        }
                    }
                }
                Principal::Federated(fed) => {
                    if fed.contains(":saml-provider/") {
                        continue;
                    }
                    let provider = fed
                        .rsplit_once("oidc-provider/")
                        .map_or(fed.as_str(), |(_, p)| p);
                    let claim = |name: &str| {
                        s.conditions.iter().find(|c| {
                            let k = c.key.to_ascii_lowercase();
                            k.ends_with(&format!(":{name}")) && !c.base.contains("not")
                        })
                    };
                    match claim("sub") {
                        None if !fed.starts_with("cognito-identity") => {
                            ctx.push("TRUST-004", Some(Severity::Critical), s.line, &path,
                                format!("web-identity trust for `{provider}` has no `sub` condition: any identity of the provider can assume the role"), fed);
                        }
                        Some(c)
                            if c.values.iter().any(|v| {
                                v == "*" || v.ends_with(":*") && v.matches(':').count() <= 1
                            }) =>
                        {
                            ctx.push("TRUST-004", Some(Severity::High), c.line, &path,
                                format!("web-identity trust for `{provider}` matches `sub` with the wildcard {}",
                                    c.values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")), fed);
                        }
                        _ => {
                            if claim("aud").is_none() {
                                ctx.push("TRUST-004", Some(Severity::Medium), s.line, &path,
                                    format!("web-identity trust for `{provider}` has no `aud` condition"), fed);
                            }
                        }
                    }
                }
                Principal::Canonical(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broad_resources() {
        for r in [
            "*",
            "arn:aws:s3:::*",
            "arn:aws:lambda:*:*:function:*",
            "arn:aws:iam::123456789012:role/*",
            "arn:aws:s3:::*/*",
            "arn:*:bedrock:*:*:*",
        ] {
            assert!(is_broad_resource(r), "{r}");
        }
        for r in [
            "arn:aws:s3:::bucket/*",
            "arn:aws:lambda:us-east-1:1:function:tool",
            "${Role.Arn}",
            "arn:aws:iam::1:role/app-*",
        ] {
            assert!(!is_broad_resource(r), "{r}");
        }
    }

    #[test]
    fn every_curated_action_is_in_the_catalogue() {
        let c = catalogue();
        for a in CREDENTIAL_ACTIONS
            .iter()
            .chain(EXFIL_ACTIONS)
            .chain(TAMPER_ACTIONS)
        {
            assert!(c.lookup(a).is_some(), "{a}");
        }
        for (_, acts) in PRIVESC_METHODS {
            for a in *acts {
                assert!(c.lookup(a).is_some(), "{a}");
            }
        }
    }
}
