//! The broker's entry point: a [`Catalog`] of tools and policies loaded once, and
//! [`Catalog::check`], which resolves, validates, scopes and authorizes one tool call.

use crate::cedar::{action_collisions, decimal_literal, AuthzFailure, Engine, PolicyError};
use crate::manifest::{truncate, Operation, SchemaError, SchemaKind, ToolManifest, ValueType};
use crate::scope::{enforce, TenantOverride};
use crate::validate::{coerce_call, validate_args, ArgError, Args};
use cedar_policy::RestrictedExpression;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use warden_config::{Config, Effects, TenantScopeAction, ToolConfig};

/// The authenticated caller, as the policy layer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The trusted tenant (from the verified token or access key).
    pub tenant: String,
    /// The token subject (`sub`) or access key id.
    pub subject: String,
    /// Verified token claims; exposed to Cedar as principal tags.
    pub claims: BTreeMap<String, Value>,
}

impl From<&warden_core::Principal> for Caller {
    fn from(p: &warden_core::Principal) -> Self {
        Caller {
            tenant: p.tenant.as_str().to_string(),
            subject: p.subject.clone(),
            claims: p
                .claims
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// One tool call as Bedrock delivers it to an action group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallRequest {
    /// The action group (tool) name.
    pub tool: String,
    /// OpenAPI tools: the path template (`/orders/{orderId}`).
    pub api_path: Option<String>,
    /// OpenAPI tools: the HTTP method (any case).
    pub http_method: Option<String>,
    /// Function tools: the function name.
    pub function: Option<String>,
    /// `(name, value)`; every value is a string, as Bedrock sends it.
    pub parameters: Vec<(String, String)>,
    /// A JSON object, or Bedrock's `{"content":{"application/json":{"properties":[…]}}}`.
    pub request_body: Option<Value>,
}

/// A call that may run.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorized {
    pub tool: String,
    /// The operation id (function name for function tools).
    pub operation: String,
    /// The Cedar action id, `<tool>:<operation>`.
    pub action: String,
    pub effects: Effects,
    pub api_path: Option<String>,
    pub http_method: Option<String>,
    pub function: Option<String>,
    /// `(name, value)` as given, with tenant references overridden where configured.
    pub parameters: Vec<(String, String)>,
    /// The request body as a JSON object of values coerced to their declared types.
    pub request_body: Option<Value>,
    /// Tenant references that were replaced by the trusted tenant.
    pub overrides: Vec<TenantOverride>,
    /// Ids of the policies that permitted the call.
    pub determining_policies: Vec<String>,
    param_types: Vec<&'static str>,
    body_types: HashMap<String, &'static str>,
}

impl Authorized {
    /// `parameters` in the Lambda event's form: `[{"name","type","value"}]`.
    pub fn lambda_parameters(&self) -> Value {
        Value::Array(
            self.parameters
                .iter()
                .zip(&self.param_types)
                .map(|((n, v), t)| json!({"name": n, "type": t, "value": v}))
                .collect(),
        )
    }

    /// `requestBody` in the Lambda event's form (string values), when the call has a body.
    pub fn lambda_request_body(&self) -> Option<Value> {
        let body = self.request_body.as_ref()?.as_object()?;
        let props: Vec<Value> = body
            .iter()
            .map(|(k, v)| {
                let t = self.body_types.get(k).copied().unwrap_or("string");
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                json!({"name": k, "type": t, "value": text})
            })
            .collect();
        Some(json!({"content": {"application/json": {"properties": props}}}))
    }
}

/// Why a call may not run. [`Refusal::code`] is stable; `Display` is for people.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("unknown tool `{tool}`")]
    UnknownTool { tool: String },
    #[error("tool `{tool}` has no operation {requested}")]
    UnknownOperation { tool: String, requested: String },
    #[error("invalid arguments for `{action}`: {}", join(errors))]
    InvalidArguments {
        action: String,
        errors: Vec<ArgError>,
    },
    #[error("`{action}` names another tenant: {}", join(mismatches))]
    TenantMismatch {
        action: String,
        mismatches: Vec<TenantOverride>,
    },
    #[error("`{action}` is not permitted by policy{}", denied_by(determining))]
    PolicyDenied {
        action: String,
        /// The forbidding policies; empty when no policy permitted the call.
        determining: Vec<String>,
    },
    #[error("policy evaluation failed for `{action}` (denied): {}", errors.join("; "))]
    PolicyError { action: String, errors: Vec<String> },
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn denied_by(ids: &[String]) -> String {
    if ids.is_empty() {
        " (no policy permits it)".to_string()
    } else {
        format!(" (forbidden by {})", ids.join(", "))
    }
}

impl Refusal {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownTool { .. } => "unknown_tool",
            Refusal::UnknownOperation { .. } => "unknown_operation",
            Refusal::InvalidArguments { .. } => "invalid_arguments",
            Refusal::TenantMismatch { .. } => "tenant_mismatch",
            Refusal::PolicyDenied { .. } => "policy_denied",
            Refusal::PolicyError { .. } => "policy_error",
        }
    }
}

/// One problem found while loading tools and policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    Schema(SchemaError),
    Policy(PolicyError),
    /// A problem across tools (e.g. two Cedar action ids that collide).
    Catalog(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Schema(e) => e.fmt(f),
            LoadError::Policy(e) => e.fmt(f),
            LoadError::Catalog(m) => f.write_str(m),
        }
    }
}

/// Every problem found while loading, at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadErrors {
    pub errors: Vec<LoadError>,
}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        writeln!(
            f,
            "{n} problem{} in tool schemas and policies:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct ToolEntry {
    manifest: ToolManifest,
    routes: HashMap<(String, String), usize>,
    functions: HashMap<String, usize>,
}

/// Tools and policies, loaded and validated; immutable and cheap to share.
#[derive(Debug)]
pub struct Catalog {
    tools: BTreeMap<String, ToolEntry>,
    engine: Engine,
}

impl Catalog {
    /// Loads every tool's schema file and every `*.cedar` file in `policies_dir`, validates
    /// the policies strictly against the generated Cedar schema, and reports every problem.
    pub fn load(
        tools: &BTreeMap<String, ToolConfig>,
        policies_dir: &Path,
    ) -> Result<Catalog, LoadErrors> {
        let mut errors = Vec::new();
        let mut manifests = Vec::new();
        for tool in tools.values() {
            match ToolManifest::load(tool) {
                Ok(m) => manifests.push(m),
                Err(es) => errors.extend(es.into_iter().map(LoadError::Schema)),
            }
        }
        Self::assemble(manifests, errors, |refs, validate, errs| {
            Engine::load(refs, policies_dir, validate, errs)
        })
    }

    /// [`Catalog::load`] for a whole config: policies from `<config dir>/policies`.
    pub fn from_config(config: &Config) -> Result<Catalog, LoadErrors> {
        Self::load(&config.tools, &config.base_dir.join("policies"))
    }

    /// Builds a catalog from manifests already loaded and policy texts given as
    /// `(file name, text)` pairs (the names appear in errors and default policy ids).
    pub fn from_parts(
        manifests: Vec<ToolManifest>,
        policies: &[(PathBuf, String)],
    ) -> Result<Catalog, LoadErrors> {
        Self::assemble(manifests, Vec::new(), |refs, _, errs| {
            Engine::from_sources(refs, policies, errs)
        })
    }

    fn assemble(
        manifests: Vec<ToolManifest>,
        mut errors: Vec<LoadError>,
        engine: impl FnOnce(&[&ToolManifest], bool, &mut Vec<PolicyError>) -> Option<Engine>,
    ) -> Result<Catalog, LoadErrors> {
        let refs: Vec<&ToolManifest> = manifests.iter().collect();
        errors.extend(action_collisions(&refs).into_iter().map(LoadError::Catalog));
        // Policies are always parsed; they are validated only against a complete schema, so
        // a broken tool does not also produce spurious policy errors.
        let mut policy_errors = Vec::new();
        let engine = engine(&refs, errors.is_empty(), &mut policy_errors);
        errors.extend(policy_errors.into_iter().map(LoadError::Policy));
        if !errors.is_empty() {
            return Err(LoadErrors { errors });
        }
        let Some(engine) = engine else {
            return Err(LoadErrors {
                errors: vec![LoadError::Catalog(
                    "policy engine could not be built".into(),
                )],
            });
        };
        let tools = manifests
            .into_iter()
            .map(|m| {
                let mut routes = HashMap::new();
                let mut functions = HashMap::new();
                for (i, op) in m.operations.iter().enumerate() {
                    if let (Some(method), Some(path)) = (&op.method, &op.path) {
                        routes.insert((method.clone(), path.clone()), i);
                    }
                    if let Some(f) = &op.function {
                        functions.insert(f.clone(), i);
                    }
                }
                (
                    m.name.clone(),
                    ToolEntry {
                        manifest: m,
                        routes,
                        functions,
                    },
                )
            })
            .collect();
        Ok(Catalog { tools, engine })
    }

    /// Every tool, by name.
    pub fn tools(&self) -> impl Iterator<Item = &ToolManifest> {
        self.tools.values().map(|t| &t.manifest)
    }

    /// The tool named `name`.
    pub fn tool(&self, name: &str) -> Option<&ToolManifest> {
        self.tools.get(name).map(|t| &t.manifest)
    }

    /// The generated Cedar schema (JSON schema format).
    pub fn cedar_schema(&self) -> &Value {
        &self.engine.schema_json
    }

    /// Ids of every loaded policy, in file order.
    pub fn policy_ids(&self) -> &[String] {
        &self.engine.policy_ids
    }

    /// Finds the tool and operation a call addresses.
    pub fn resolve(&self, call: &CallRequest) -> Result<(&ToolManifest, &Operation), Refusal> {
        let Some(entry) = self.tools.get(&call.tool) else {
            return Err(Refusal::UnknownTool {
                tool: truncate(&call.tool, 64),
            });
        };
        let m = &entry.manifest;
        let unknown = |requested: String| Refusal::UnknownOperation {
            tool: m.name.clone(),
            requested,
        };
        let index = match m.kind {
            SchemaKind::OpenApi => {
                let (Some(method), Some(path)) = (&call.http_method, &call.api_path) else {
                    return Err(unknown(match &call.function {
                        Some(f) => format!(
                            "`{}` (it takes apiPath and httpMethod, not function)",
                            truncate(f, 64)
                        ),
                        None => "(apiPath and httpMethod are required)".into(),
                    }));
                };
                let method = method.to_ascii_uppercase();
                entry
                    .routes
                    .get(&(method.clone(), path.clone()))
                    .ok_or_else(|| {
                        unknown(format!("{} {}", truncate(&method, 16), truncate(path, 128)))
                    })?
            }
            SchemaKind::Functions => {
                let Some(f) = &call.function else {
                    return Err(unknown("(function is required)".into()));
                };
                entry
                    .functions
                    .get(f)
                    .ok_or_else(|| unknown(format!("`{}`", truncate(f, 64))))?
            }
        };
        Ok((m, &m.operations[*index]))
    }

    /// Resolves, validates, scopes and authorizes one call.
    pub fn check(&self, caller: &Caller, call: &CallRequest) -> Result<Authorized, Refusal> {
        let (tool, op) = self.resolve(call)?;
        let invalid = |errors: Vec<ArgError>| Refusal::InvalidArguments {
            action: op.action.clone(),
            errors,
        };
        let (mut args, mut errors) = coerce_call(op, &call.parameters, call.request_body.as_ref());
        errors.extend(validate_args(op, &args));
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        let replace = tool.tenant_scope == TenantScopeAction::Override;
        let overrides = enforce(op, &mut args, &caller.tenant, replace);
        if !overrides.is_empty() {
            if !replace {
                return Err(Refusal::TenantMismatch {
                    action: op.action.clone(),
                    mismatches: overrides,
                });
            }
            let errors = validate_args(op, &args);
            if !errors.is_empty() {
                return Err(invalid(
                    errors
                        .into_iter()
                        .map(|mut e| {
                            e.message = format!(
                                "{} (after the trusted tenant replaced a tenant reference)",
                                e.message
                            );
                            e
                        })
                        .collect(),
                ));
            }
        }
        let (cedar_args, typed) = cedar_inputs(op, &args);
        let determining = self
            .engine
            .authorize(
                &caller.tenant,
                &caller.subject,
                &caller.claims,
                &tool.name,
                op,
                cedar_args,
                typed,
            )
            .map_err(|f| match f {
                AuthzFailure::Denied(ids) => Refusal::PolicyDenied {
                    action: op.action.clone(),
                    determining: ids,
                },
                AuthzFailure::Error(errors) => Refusal::PolicyError {
                    action: op.action.clone(),
                    errors,
                },
            })?;
        let param_types = args
            .params
            .iter()
            .map(|(n, _, _)| {
                op.param(n)
                    .map_or("string", |p| p.value_type.bedrock_name())
            })
            .collect();
        let body_types = op
            .body
            .iter()
            .flat_map(|b| &b.properties)
            .map(|p| (p.name.clone(), p.value_type.bedrock_name()))
            .collect();
        Ok(Authorized {
            tool: tool.name.clone(),
            operation: op.id.clone(),
            action: op.action.clone(),
            effects: op.effects,
            api_path: op.path.clone(),
            http_method: op.method.clone(),
            function: op.function.clone(),
            parameters: args
                .params
                .into_iter()
                .map(|(n, raw, _)| (n, raw))
                .collect(),
            request_body: args.body.map(Value::Object),
            overrides,
            determining_policies: determining,
            param_types,
            body_types,
        })
    }
}

type Fields = Vec<(String, RestrictedExpression)>;

fn typed_value(ty: ValueType, v: &Value) -> Option<RestrictedExpression> {
    match (ty, v) {
        (ValueType::Integer, Value::Number(n)) => n.as_i64().map(RestrictedExpression::new_long),
        (ValueType::Boolean, Value::Bool(b)) => Some(RestrictedExpression::new_bool(*b)),
        (ValueType::Number, Value::Number(n)) => {
            decimal_literal(n).map(RestrictedExpression::new_decimal)
        }
        _ => None,
    }
}

/// The `args` and `typed` context records for a validated call.
fn cedar_inputs(op: &Operation, args: &Args) -> (Fields, Fields) {
    let mut strings = Vec::new();
    let mut typed = Vec::new();
    for (name, raw, value) in &args.params {
        strings.push((name.clone(), RestrictedExpression::new_string(raw.clone())));
        if let Some(p) = op.param(name) {
            if let Some(t) = typed_value(p.value_type, value) {
                typed.push((name.clone(), t));
            }
        }
    }
    if let (Some(spec), Some(body)) = (&op.body, &args.body) {
        push_body(spec.properties.as_slice(), body, &mut strings, &mut typed);
    }
    (strings, typed)
}

fn push_body(
    props: &[crate::manifest::BodyProperty],
    body: &Map<String, Value>,
    strings: &mut Fields,
    typed: &mut Fields,
) {
    for p in props {
        let Some(v) = body.get(&p.name) else { continue };
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        strings.push((p.name.clone(), RestrictedExpression::new_string(text)));
        if let Some(t) = typed_value(p.value_type, v) {
            typed.push((p.name.clone(), t));
        }
    }
}
