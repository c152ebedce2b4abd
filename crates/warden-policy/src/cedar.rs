//! Cedar authorization: a schema generated from the tool manifests, `policies/*.cedar` loaded
//! and validated strictly against it, and one deny-by-default decision per tool call.
//!
//! Entity model (namespace `Warden`):
//! - principal `Warden::User::"<subject>"`, attributes `tenant: String`, `subject: String`,
//!   tags `String` (the verified token claims: strings as they are, other values as JSON
//!   text), parent `Warden::Tenant::"<tenant>"`;
//! - resource `Warden::Tool::"<tool>"`;
//! - action `Warden::Action::"<tool>:<operation>"`, member of the groups
//!   `Warden::Action::"<tool>"` and `Warden::Action::"@read"` / `"@write"` (its effects);
//! - context `{ tenant, tool, operation, effects: String, args: { <input>: String },
//!   typed: { <input>: Long | Bool | decimal } }`. `args` has one String per declared
//!   parameter or top-level body property (required when the input is required; arrays,
//!   objects, numbers and booleans as JSON text). `typed` has the same inputs for declared
//!   `integer` (Long), `boolean` (Bool) and `number` (decimal) types: integer and boolean
//!   entries are required when the input is, `number` entries are always optional because
//!   only values with at most four decimal places fit Cedar's `decimal`.

use crate::manifest::{effects_str, Operation, ToolManifest, ValueType};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy,
    PolicyId, PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use miette::Diagnostic;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The Cedar namespace of every Warden entity type and action.
pub const NAMESPACE: &str = "Warden";
/// Largest policy file read.
const MAX_POLICY_BYTES: u64 = 4 * 1024 * 1024;

/// One problem in a policy file (or the generated schema, when `file` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: PathBuf,
    /// 1-based line and column of the offending text, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The policy's id (its `@id` annotation, or `<file name>:<index>`), when known.
    pub policy: Option<String>,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ":{l}:{c}")?;
        }
        if let Some(p) = &self.policy {
            write!(f, ": policy `{p}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn diagnostic_message(d: &dyn Diagnostic, display: String) -> String {
    let mut msg = display;
    if let Some(labels) = d.labels() {
        for l in labels {
            if let Some(label) = l.label() {
                if !label.is_empty() && !msg.contains(label) {
                    msg.push_str(&format!(" ({label})"));
                }
            }
        }
    }
    if let Some(help) = d.help() {
        msg.push_str(&format!("; help: {help}"));
    }
    msg
}

fn first_offset(d: &dyn Diagnostic) -> Option<usize> {
    d.labels().and_then(|mut l| l.next()).map(|l| l.offset())
}

/// The name given to a policy: its `@id` annotation, else `<file name>:<index>`.
fn policy_name(policy: &Policy, file: &Path, index: usize) -> String {
    match policy.annotation("id") {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => format!(
            "{}:{index}",
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
    }
}

/// Generates the Cedar schema (JSON form) for a set of tools.
pub(crate) fn schema_json<'a>(tools: impl IntoIterator<Item = &'a ToolManifest>) -> Value {
    let s = |t: &str| json!({"type": t});
    let mut actions = Map::new();
    actions.insert("@read".into(), json!({}));
    actions.insert("@write".into(), json!({}));
    for tool in tools {
        actions.insert(tool.name.clone(), json!({}));
        for op in &tool.operations {
            let mut args = Map::new();
            let mut typed = Map::new();
            for (name, ty, required, single_type) in op_inputs(op) {
                args.insert(
                    name.to_string(),
                    json!({"type": "String", "required": required}),
                );
                let required = required && single_type;
                let t = match ty {
                    ValueType::Integer => Some((json!({"type": "Long"}), required)),
                    ValueType::Boolean => Some((json!({"type": "Boolean"}), required)),
                    ValueType::Number => {
                        Some((json!({"type": "Extension", "name": "decimal"}), false))
                    }
                    _ => None,
                };
                if let Some((mut t, req)) = t {
                    t["required"] = json!(req);
                    typed.insert(name.to_string(), t);
                }
            }
            let context = json!({
                "type": "Record",
                "attributes": {
                    "tenant": s("String"),
                    "tool": s("String"),
                    "operation": s("String"),
                    "effects": s("String"),
                    "args": {"type": "Record", "attributes": args},
                    "typed": {"type": "Record", "attributes": typed},
                }
            });
            actions.insert(
                op.action.clone(),
                json!({
                    "memberOf": [{"id": tool.name}, {"id": format!("@{}", effects_str(op.effects))}],
                    "appliesTo": {
                        "principalTypes": ["User"],
                        "resourceTypes": ["Tool"],
                        "context": context,
                    }
                }),
            );
        }
    }
    json!({
        NAMESPACE: {
            "entityTypes": {
                "Tenant": {},
                "User": {
                    "memberOfTypes": ["Tenant"],
                    "shape": {"type": "Record", "attributes": {
                        "tenant": s("String"),
                        "subject": s("String"),
                    }},
                    "tags": s("String"),
                },
                "Tool": {},
            },
            "actions": actions,
        }
    })
}

/// `(name, type, required, declared with a single type)` for every input of an operation.
fn op_inputs(op: &Operation) -> Vec<(&str, ValueType, bool, bool)> {
    let single = |s: &Value| s.get("type").is_some_and(Value::is_string);
    let mut out: Vec<(&str, ValueType, bool, bool)> = op
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.value_type, p.required, single(&p.schema)))
        .collect();
    if let Some(b) = &op.body {
        out.extend(
            b.properties
                .iter()
                // A body property is always there only when the body itself is required.
                .map(|p| {
                    let required = b.required && p.required;
                    (p.name.as_str(), p.value_type, required, single(&p.schema))
                }),
        );
    }
    out
}

/// Action ids that collide: a tool group named like another tool's operation action.
pub(crate) fn action_collisions(tools: &[&ToolManifest]) -> Vec<String> {
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for t in tools {
        let mut ids = vec![(t.name.clone(), format!("the group of tool `{}`", t.name))];
        ids.extend(t.operations.iter().map(|op| {
            (
                op.action.clone(),
                format!("operation `{}` of tool `{}`", op.id, t.name),
            )
        }));
        for (id, what) in ids {
            match seen.get(&id) {
                Some(prev) => out.push(format!(
                    "Cedar action id `{id}` is used by both {prev} and {what}"
                )),
                None => {
                    seen.insert(id, what);
                }
            }
        }
    }
    out
}

/// Compiled policies and schema, ready to answer requests.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) schema: Schema,
    pub(crate) schema_json: Value,
    pub(crate) policies: PolicySet,
    pub(crate) policy_ids: Vec<String>,
    authorizer: Authorizer,
    user_type: EntityTypeName,
    tenant_type: EntityTypeName,
    tool_type: EntityTypeName,
    action_type: EntityTypeName,
}

/// One parsed policy file.
struct ParsedFile {
    path: PathBuf,
    text: String,
    /// `(id, policy, byte offset of its text in the file)`.
    policies: Vec<(String, Policy, usize)>,
}

/// Reads and parses every `*.cedar` file in `dir` (sorted by name).
fn parse_dir(dir: &Path, errors: &mut Vec<PolicyError>) -> Vec<ParsedFile> {
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(PolicyError {
                file: dir.to_path_buf(),
                line: None,
                column: None,
                policy: None,
                message: format!("cannot read policy directory: {e}"),
            });
            return files;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "cedar") && p.is_file())
        .collect();
    paths.sort();
    for path in paths {
        let text = match std::fs::metadata(&path) {
            Ok(m) if m.len() > MAX_POLICY_BYTES => Err(format!(
                "file is {} bytes; policy files are limited to {MAX_POLICY_BYTES}",
                m.len()
            )),
            _ => std::fs::read_to_string(&path).map_err(|e| format!("cannot read: {e}")),
        };
        match text {
            Ok(text) => {
                if let Some(f) = parse_text(&path, text, errors) {
                    files.push(f);
                }
            }
            Err(message) => errors.push(PolicyError {
                file: path,
                line: None,
                column: None,
                policy: None,
                message,
            }),
        }
    }
    files
}

fn parse_text(path: &Path, text: String, errors: &mut Vec<PolicyError>) -> Option<ParsedFile> {
    let set = match PolicySet::from_str(&text) {
        Ok(s) => s,
        Err(errs) => {
            for e in errs.iter() {
                let (line, column) = match first_offset(e) {
                    Some(o) => {
                        let (l, c) = line_col(&text, o);
                        (Some(l), Some(c))
                    }
                    None => (None, None),
                };
                errors.push(PolicyError {
                    file: path.to_path_buf(),
                    line,
                    column,
                    policy: None,
                    message: diagnostic_message(e, e.to_string()),
                });
            }
            return None;
        }
    };
    let mut ok = true;
    for t in set.templates() {
        let (line, column) = text
            .find(&t.to_cedar())
            .map(|o| line_col(&text, o))
            .map_or((None, None), |(l, c)| (Some(l), Some(c)));
        errors.push(PolicyError {
            file: path.to_path_buf(),
            line,
            column,
            policy: None,
            message: "policy templates (`?principal`, `?resource`) are not supported".into(),
        });
        ok = false;
    }
    let mut policies: Vec<(usize, Policy)> = set
        .policies()
        .map(|p| {
            let index = p
                .id()
                .to_string()
                .strip_prefix("policy")
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(usize::MAX);
            (index, p.clone())
        })
        .collect();
    policies.sort_by_key(|(i, _)| *i);
    // Policies keep their source text; find each in order to know where it starts.
    let mut cursor = 0;
    let policies = policies
        .into_iter()
        .map(|(i, p)| {
            let name = policy_name(&p, path, i);
            let start = p
                .to_cedar()
                .and_then(|src| text.get(cursor..)?.find(&src).map(|o| cursor + o))
                .unwrap_or(cursor);
            cursor = start;
            (name.clone(), p.new_id(PolicyId::new(name)), start)
        })
        .collect();
    ok.then_some(ParsedFile {
        path: path.to_path_buf(),
        text,
        policies,
    })
}

impl Engine {
    /// Builds the schema for `tools` and loads, validates and indexes the policies in
    /// `policies_dir`. Problems are appended to `errors`; `None` when there were any.
    pub(crate) fn load(
        tools: &[&ToolManifest],
        policies_dir: &Path,
        validate: bool,
        errors: &mut Vec<PolicyError>,
    ) -> Option<Engine> {
        let before = errors.len();
        let files = parse_dir(policies_dir, errors);
        Self::build(tools, files, validate, errors).filter(|_| errors.len() == before)
    }

    /// Like [`Engine::load`], from in-memory `(file name, text)` pairs.
    pub(crate) fn from_sources(
        tools: &[&ToolManifest],
        sources: &[(PathBuf, String)],
        errors: &mut Vec<PolicyError>,
    ) -> Option<Engine> {
        let before = errors.len();
        let files = sources
            .iter()
            .filter_map(|(p, t)| parse_text(p, t.clone(), errors))
            .collect();
        Self::build(tools, files, true, errors).filter(|_| errors.len() == before)
    }

    fn build(
        tools: &[&ToolManifest],
        files: Vec<ParsedFile>,
        validate: bool,
        errors: &mut Vec<PolicyError>,
    ) -> Option<Engine> {
        let schema_json = schema_json(tools.iter().copied());
        let schema = match Schema::from_json_value(schema_json.clone()) {
            Ok(s) => s,
            Err(e) => {
                errors.push(PolicyError {
                    file: PathBuf::new(),
                    line: None,
                    column: None,
                    policy: None,
                    message: format!("generated Cedar schema is invalid: {e}"),
                });
                return None;
            }
        };
        let mut set = PolicySet::new();
        let mut origin: HashMap<String, (usize, usize)> = HashMap::new();
        let mut policy_ids = Vec::new();
        for (fi, f) in files.iter().enumerate() {
            for (name, p, start) in &f.policies {
                let start = *start;
                if let Some((pf, _)) = origin.get(name) {
                    let (line, column) = line_col(&f.text, start);
                    errors.push(PolicyError {
                        file: f.path.clone(),
                        line: Some(line),
                        column: Some(column),
                        policy: Some(name.clone()),
                        message: format!(
                            "duplicate policy id `{name}` (also in {})",
                            files[*pf].path.display()
                        ),
                    });
                    continue;
                }
                if let Err(e) = set.add(p.clone()) {
                    errors.push(PolicyError {
                        file: f.path.clone(),
                        line: None,
                        column: None,
                        policy: Some(name.clone()),
                        message: e.to_string(),
                    });
                    continue;
                }
                origin.insert(name.clone(), (fi, start));
                policy_ids.push(name.clone());
            }
        }
        if validate {
            let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
            let mut report = |id: &PolicyId, d: &dyn Diagnostic, display: String, what: &str| {
                let Some(&(fi, start)) = origin.get(&id.to_string()) else {
                    return;
                };
                let f = &files[fi];
                let (line, column) = line_col(&f.text, first_offset(d).unwrap_or(start));
                errors.push(PolicyError {
                    file: f.path.clone(),
                    line: Some(line),
                    column: Some(column),
                    policy: Some(id.to_string()),
                    message: format!("{what}{}", diagnostic_message(d, display)),
                });
            };
            for e in result.validation_errors() {
                report(e.policy_id(), e, e.to_string(), "");
            }
            // Warnings are errors too (strict), except as echoes of a policy's own errors.
            let failed: std::collections::HashSet<String> = result
                .validation_errors()
                .map(|e| e.policy_id().to_string())
                .collect();
            for w in result.validation_warnings() {
                if !failed.contains(&w.policy_id().to_string()) {
                    report(
                        w.policy_id(),
                        w,
                        w.to_string(),
                        "validation warning treated as an error: ",
                    );
                }
            }
        }
        let ty = |n: &str| EntityTypeName::from_str(&format!("{NAMESPACE}::{n}")).ok();
        Some(Engine {
            schema,
            schema_json,
            policies: set,
            policy_ids,
            authorizer: Authorizer::new(),
            user_type: ty("User")?,
            tenant_type: ty("Tenant")?,
            tool_type: ty("Tool")?,
            action_type: ty("Action")?,
        })
    }

    pub(crate) fn action_uid(&self, action: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(self.action_type.clone(), EntityId::new(action))
    }

    /// Evaluates one request. `Ok(determining ids)` when permitted.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn authorize(
        &self,
        tenant: &str,
        subject: &str,
        claims: &BTreeMap<String, Value>,
        tool: &str,
        op: &Operation,
        args: Vec<(String, RestrictedExpression)>,
        typed: Vec<(String, RestrictedExpression)>,
    ) -> Result<Vec<String>, AuthzFailure> {
        let tenant_uid =
            EntityUid::from_type_name_and_id(self.tenant_type.clone(), EntityId::new(tenant));
        let user_uid =
            EntityUid::from_type_name_and_id(self.user_type.clone(), EntityId::new(subject));
        let tool_uid =
            EntityUid::from_type_name_and_id(self.tool_type.clone(), EntityId::new(tool));
        let str_expr = |s: &str| RestrictedExpression::new_string(s.to_string());
        let tags = claims.iter().map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), RestrictedExpression::new_string(text))
        });
        let user = Entity::new_with_tags(
            user_uid.clone(),
            [
                ("tenant".to_string(), str_expr(tenant)),
                ("subject".to_string(), str_expr(subject)),
            ],
            [tenant_uid.clone()],
            tags,
        )
        .map_err(|e| AuthzFailure::Error(vec![format!("principal entity: {e}")]))?;
        let tenant_entity = Entity::new_no_attrs(tenant_uid, Default::default());
        let entities = Entities::from_entities([user, tenant_entity], Some(&self.schema))
            .map_err(|e| AuthzFailure::Error(vec![format!("entities: {e}")]))?;
        let record = |fields: Vec<(String, RestrictedExpression)>| {
            RestrictedExpression::new_record(fields)
                .map_err(|e| AuthzFailure::Error(vec![format!("context: {e}")]))
        };
        let context = Context::from_pairs([
            ("tenant".to_string(), str_expr(tenant)),
            ("tool".to_string(), str_expr(tool)),
            ("operation".to_string(), str_expr(&op.id)),
            ("effects".to_string(), str_expr(effects_str(op.effects))),
            ("args".to_string(), record(args)?),
            ("typed".to_string(), record(typed)?),
        ])
        .map_err(|e| AuthzFailure::Error(vec![format!("context: {e}")]))?;
        let request = Request::new(
            user_uid,
            self.action_uid(&op.action),
            tool_uid,
            context,
            Some(&self.schema),
        )
        .map_err(|e| AuthzFailure::Error(vec![format!("request: {e}")]))?;
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| e.to_string())
            .collect();
        let reasons: Vec<String> = response
            .diagnostics()
            .reason()
            .map(|id| id.to_string())
            .collect();
        if !errors.is_empty() {
            return Err(AuthzFailure::Error(errors));
        }
        match response.decision() {
            Decision::Allow => Ok(reasons),
            Decision::Deny => Err(AuthzFailure::Denied(reasons)),
        }
    }
}

/// Why authorization did not permit a request.
#[derive(Debug)]
pub(crate) enum AuthzFailure {
    /// Denied: the forbidding policies (empty when nothing permitted: deny by default).
    Denied(Vec<String>),
    /// A policy failed to evaluate, or the request could not be built.
    Error(Vec<String>),
}

/// The Cedar `decimal` literal for a JSON number, when it has at most four decimal places
/// and fits the range.
pub(crate) fn decimal_literal(n: &serde_json::Number) -> Option<String> {
    const LIMIT: i64 = 922_337_203_685_477;
    if let Some(i) = n.as_i64() {
        return (i.abs() <= LIMIT).then(|| format!("{i}.0"));
    }
    let text = n.to_string();
    if text.contains(['e', 'E']) {
        return None;
    }
    let (int, frac) = text.split_once('.').unwrap_or((&text, "0"));
    let int_val: i64 = int.parse().ok()?;
    (int_val.abs() < LIMIT && !frac.is_empty() && frac.len() <= 4).then(|| format!("{int}.{frac}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_to_lines() {
        let t = "ab\ncd\nef";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 4), (2, 2));
        assert_eq!(line_col(t, 100), (3, 3));
    }

    #[test]
    fn decimals() {
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).unwrap();
        assert_eq!(decimal_literal(&n("3")).as_deref(), Some("3.0"));
        assert_eq!(decimal_literal(&n("-49.99")).as_deref(), Some("-49.99"));
        assert_eq!(decimal_literal(&n("0.00001")), None);
        assert_eq!(decimal_literal(&n("1e300")), None);
    }
}
