//! Tool manifests: OpenAPI 3 documents and Bedrock function schemas turned into operations
//! with parameters, request bodies, compiled JSON-schema validators and declared effects.

use crate::doc::{parse_document, ptr};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use warden_config::{Effects, TenantScopeAction, ToolConfig, ToolSchema};

/// Largest schema file read.
const MAX_SCHEMA_BYTES: u64 = 8 * 1024 * 1024;
/// Most schema nodes one tool's schemas may expand to once `$ref`s are inlined.
const MAX_EXPANDED_NODES: usize = 200_000;
/// Deepest `$ref` chain followed.
const MAX_REF_DEPTH: usize = 64;

/// One problem in a tool schema file: the file, the JSON pointer inside it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub file: PathBuf,
    /// JSON pointer (RFC 6901) into the document; empty for the whole file.
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}#{}: {}",
            self.file.display(),
            self.pointer,
            self.message
        )
    }
}

/// Which kind of schema file a tool was declared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    OpenApi,
    Functions,
}

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamLocation {
    Path,
    Query,
    Header,
    /// A parameter of a Bedrock function schema.
    Function,
}

/// The JSON type a value is coerced to from Bedrock's string form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
    /// No single declared type (absent, or several): the string is kept as it is.
    Any,
}

impl ValueType {
    /// The name Bedrock uses for this type in `parameters[].type`.
    pub fn bedrock_name(self) -> &'static str {
        match self {
            ValueType::String | ValueType::Any => "string",
            ValueType::Number => "number",
            ValueType::Integer => "integer",
            ValueType::Boolean => "boolean",
            ValueType::Array => "array",
            ValueType::Object => "object",
        }
    }

    pub(crate) fn of_schema(schema: &Value) -> ValueType {
        match schema.get("type") {
            Some(Value::String(t)) => Self::from_name(t),
            Some(Value::Array(ts)) => {
                let non_null: Vec<&str> = ts
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "null")
                    .collect();
                if non_null.len() == 1 {
                    Self::from_name(non_null[0])
                } else {
                    ValueType::Any
                }
            }
            _ => ValueType::Any,
        }
    }

    fn from_name(t: &str) -> ValueType {
        match t {
            "string" => ValueType::String,
            "number" => ValueType::Number,
            "integer" => ValueType::Integer,
            "boolean" => ValueType::Boolean,
            "array" => ValueType::Array,
            "object" => ValueType::Object,
            _ => ValueType::Any,
        }
    }
}

/// The text form of an [`Effects`] value: `read` or `write`.
pub fn effects_str(e: Effects) -> &'static str {
    match e {
        Effects::Read => "read",
        Effects::Write => "write",
    }
}

/// A compiled JSON-schema validator (Draft 2020-12, formats asserted, linear-time regexes).
#[derive(Clone)]
pub(crate) struct CompiledSchema(pub(crate) Arc<jsonschema::Validator>);

impl fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CompiledSchema")
    }
}

pub(crate) fn compile(schema: &Value) -> Result<CompiledSchema, String> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .build(schema)
        .map(|v| CompiledSchema(Arc::new(v)))
        .map_err(|e| {
            let at = e.schema_path().as_str().to_string();
            let kind = e.kind();
            let msg = truncate(&format!("{kind:?}"), 300);
            if at.is_empty() {
                format!("invalid JSON schema: {msg}")
            } else {
                format!("invalid JSON schema at {at}: {msg}")
            }
        })
}

/// One declared input: a path/query/header parameter, a function parameter, or a top-level
/// request-body property.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub location: ParamLocation,
    pub description: Option<String>,
    pub required: bool,
    /// The parameter's JSON schema, `$ref`s inlined, normalised to Draft 2020-12.
    pub schema: Value,
    /// The type string values are coerced to.
    pub value_type: ValueType,
    /// Whether the schema marks this as a tenant reference (`"x-warden-tenant": true`).
    pub tenant_marked: bool,
    pub(crate) compiled: CompiledSchema,
}

/// An operation's `application/json` request body (an object with named properties).
#[derive(Debug, Clone)]
pub struct RequestBody {
    pub required: bool,
    pub description: Option<String>,
    /// The body's JSON schema, `$ref`s inlined.
    pub schema: Value,
    /// The top-level properties, in declaration order.
    pub properties: Vec<BodyProperty>,
    pub(crate) compiled: CompiledSchema,
}

/// One top-level property of a request body.
#[derive(Debug, Clone)]
pub struct BodyProperty {
    pub name: String,
    pub description: Option<String>,
    pub required: bool,
    pub schema: Value,
    pub value_type: ValueType,
    pub tenant_marked: bool,
}

/// One callable operation of a tool.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `operationId` (derived from method and path when absent) or the function name.
    pub id: String,
    /// The Cedar action id: `<tool>:<id>`.
    pub action: String,
    /// Upper-case HTTP method (OpenAPI only).
    pub method: Option<String>,
    /// The path template exactly as in the document (OpenAPI only).
    pub path: Option<String>,
    /// The function name (function schemas only).
    pub function: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub effects: Effects,
    /// Function schemas: `requireConfirmation` was `ENABLED`.
    pub require_confirmation: bool,
    pub params: Vec<Param>,
    pub body: Option<RequestBody>,
}

impl Operation {
    /// The parameter named `name`.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Every input (parameters, then body properties) as `(name, description, required)`.
    pub fn inputs(&self) -> Vec<(&str, Option<&str>, bool)> {
        let mut out: Vec<(&str, Option<&str>, bool)> = self
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.description.as_deref(), p.required))
            .collect();
        if let Some(body) = &self.body {
            out.extend(
                body.properties
                    .iter()
                    .map(|p| (p.name.as_str(), p.description.as_deref(), p.required)),
            );
        }
        out
    }

    /// One JSON schema (an object) describing every input: parameters and body properties
    /// side by side (their names are unique per operation), for model tool specifications.
    pub fn input_schema(&self) -> Value {
        let mut props = Map::new();
        let mut required = Vec::new();
        for p in &self.params {
            let mut s = p.schema.clone();
            if let (Some(d), Value::Object(o)) = (&p.description, &mut s) {
                o.entry("description").or_insert_with(|| json!(d));
            }
            props.insert(p.name.clone(), s);
            if p.required {
                required.push(json!(p.name));
            }
        }
        if let Some(body) = &self.body {
            for p in &body.properties {
                props.insert(p.name.clone(), p.schema.clone());
                if p.required {
                    required.push(json!(p.name));
                }
            }
        }
        json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
    }
}

/// A tool as loaded from its schema file.
#[derive(Debug, Clone)]
pub struct ToolManifest {
    pub name: String,
    pub description: Option<String>,
    pub kind: SchemaKind,
    pub file: PathBuf,
    pub tenant_scope: TenantScopeAction,
    pub operations: Vec<Operation>,
}

impl ToolManifest {
    /// Loads the schema file a tool config names.
    pub fn load(tool: &ToolConfig) -> Result<ToolManifest, Vec<SchemaError>> {
        let (kind, file) = match &tool.schema {
            ToolSchema::OpenApi(p) => (SchemaKind::OpenApi, p.as_path()),
            ToolSchema::Functions(p) => (SchemaKind::Functions, p.as_path()),
        };
        let text = read_schema_file(file).map_err(|m| {
            vec![SchemaError {
                file: file.to_path_buf(),
                pointer: String::new(),
                message: m,
            }]
        })?;
        let mut m = Self::from_text(&tool.name, kind, file, &text, tool.effects)?;
        m.description = tool.description.clone();
        m.tenant_scope = tool.tenant_scope;
        Ok(m)
    }

    /// Builds a manifest from schema text (`file` is used in error messages and to pick JSON
    /// for `.json` names). Tenant scope defaults to reject.
    pub fn from_text(
        tool: &str,
        kind: SchemaKind,
        file: &Path,
        text: &str,
        effects: Option<Effects>,
    ) -> Result<ToolManifest, Vec<SchemaError>> {
        let json_hint = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let doc = parse_document(text, json_hint).map_err(|m| {
            vec![SchemaError {
                file: file.to_path_buf(),
                pointer: String::new(),
                message: m,
            }]
        })?;
        let mut l = Loader {
            file,
            doc: &doc,
            tool,
            effects,
            errors: Vec::new(),
            nodes: 0,
            v30: true,
        };
        let operations = match kind {
            SchemaKind::OpenApi => l.openapi(),
            SchemaKind::Functions => l.functions(),
        };
        if !l.errors.is_empty() {
            return Err(l.errors);
        }
        Ok(ToolManifest {
            name: tool.to_string(),
            description: None,
            kind,
            file: file.to_path_buf(),
            tenant_scope: TenantScopeAction::Reject,
            operations,
        })
    }

    /// The operation with this id.
    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.id == id)
    }
}

fn read_schema_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_SCHEMA_BYTES {
        return Err(format!(
            "file is {} bytes; schema files are limited to {MAX_SCHEMA_BYTES}",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes)
        .map_err(|e| format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
const TYPES: [&str; 6] = ["string", "number", "integer", "boolean", "array", "object"];

struct Loader<'a> {
    file: &'a Path,
    doc: &'a Value,
    tool: &'a str,
    effects: Option<Effects>,
    errors: Vec<SchemaError>,
    nodes: usize,
    /// OpenAPI 3.0 (boolean exclusiveMinimum, `nullable`) rather than 3.1.
    v30: bool,
}

fn desc(v: &Value) -> Option<String> {
    v.get("description")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn tenant_mark(v: &Value) -> bool {
    v.get("x-warden-tenant").and_then(Value::as_bool) == Some(true)
}

/// An operation id derived from method and path: `get_orders_orderId`.
pub(crate) fn derived_operation_id(method: &str, path: &str) -> String {
    let mut out = method.to_ascii_lowercase();
    for c in path.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out.trim_end_matches('_').to_string()
}

fn valid_operation_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

impl<'a> Loader<'a> {
    fn err(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.errors.push(SchemaError {
            file: self.file.to_path_buf(),
            pointer: pointer.into(),
            message: message.into(),
        });
    }

    fn default_effects(&self, method: Option<&str>) -> Effects {
        if let Some(e) = self.effects {
            return e;
        }
        match method {
            Some("GET") | Some("HEAD") => Effects::Read,
            _ => Effects::Write,
        }
    }

    // ---- OpenAPI ---------------------------------------------------------------------------

    fn openapi(&mut self) -> Vec<Operation> {
        let doc = self.doc;
        let Some(root) = doc.as_object() else {
            self.err("", "an OpenAPI document must be a JSON/YAML object");
            return Vec::new();
        };
        match root.get("openapi").and_then(Value::as_str) {
            Some(v) if v.starts_with("3.0") => self.v30 = true,
            Some(v) if v.starts_with("3.1") => self.v30 = false,
            Some(v) => {
                self.err(
                    "/openapi",
                    format!("unsupported OpenAPI version `{v}` (3.0 or 3.1)"),
                );
                return Vec::new();
            }
            None => {
                self.err(
                    "/openapi",
                    "missing `openapi` version string (an OpenAPI 3 document is required)",
                );
                return Vec::new();
            }
        }
        let Some(paths) = root.get("paths") else {
            self.err("/paths", "missing `paths`");
            return Vec::new();
        };
        let Some(paths) = paths.as_object() else {
            self.err("/paths", "`paths` must be an object");
            return Vec::new();
        };
        let mut ops = Vec::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (path, item) in paths {
            let item_ptr = ptr("/paths", path);
            if !path.starts_with('/') {
                self.err(&item_ptr, format!("path `{path}` must start with `/`"));
                continue;
            }
            let Some(item) = item.as_object() else {
                self.err(&item_ptr, "a path item must be an object");
                continue;
            };
            if item.contains_key("$ref") {
                self.err(ptr(&item_ptr, "$ref"), "path item `$ref` is not supported");
                continue;
            }
            let shared = item.get("parameters");
            for (key, op) in item {
                let method = key.to_ascii_lowercase();
                if !METHODS.contains(&method.as_str()) {
                    continue;
                }
                let op_ptr = ptr(&item_ptr, key);
                if let Some(o) = self.operation(path, &method, op, shared, &item_ptr, &op_ptr) {
                    if let Some(first) = seen.get(&o.id) {
                        self.err(
                            ptr(&op_ptr, "operationId"),
                            format!("duplicate operation id `{}` (first at {first})", o.id),
                        );
                        continue;
                    }
                    seen.insert(o.id.clone(), op_ptr.clone());
                    ops.push(o);
                }
            }
        }
        if ops.is_empty() && self.errors.is_empty() {
            self.err("/paths", "no operations defined");
        }
        ops
    }

    fn operation(
        &mut self,
        path: &str,
        method: &str,
        op: &'a Value,
        shared: Option<&'a Value>,
        item_ptr: &str,
        op_ptr: &str,
    ) -> Option<Operation> {
        let before = self.errors.len();
        let Some(o) = op.as_object() else {
            self.err(op_ptr, "an operation must be an object");
            return None;
        };
        let id = match o.get("operationId") {
            Some(Value::String(s)) => {
                if !valid_operation_id(s) {
                    self.err(
                        ptr(op_ptr, "operationId"),
                        format!(
                            "operation id `{}` must be 1-128 characters of A-Za-z0-9_.:-",
                            truncate(s, 64)
                        ),
                    );
                }
                s.clone()
            }
            Some(_) => {
                self.err(ptr(op_ptr, "operationId"), "`operationId` must be a string");
                String::new()
            }
            None => derived_operation_id(method, path),
        };
        // Path-level parameters first, overridden by operation parameters of the same name+in.
        let mut raw: Vec<(String, &Value)> = Vec::new();
        if let Some(shared) = shared {
            self.param_list(shared, &ptr(item_ptr, "parameters"), &mut raw);
        }
        if let Some(own) = o.get("parameters") {
            self.param_list(own, &ptr(op_ptr, "parameters"), &mut raw);
        }
        let mut params: Vec<Param> = Vec::new();
        let mut keyed: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut failed: BTreeSet<String> = BTreeSet::new();
        for (p_ptr, p) in raw {
            let Some(param) = self.parameter(p, &p_ptr) else {
                if let Some(n) = p.get("name").and_then(Value::as_str) {
                    failed.insert(n.to_string());
                }
                continue;
            };
            let loc = format!("{:?}", param.location);
            if let Some(&i) = keyed.get(&(param.name.clone(), loc.clone())) {
                params[i] = param;
                continue;
            }
            if params.iter().any(|q| q.name == param.name) {
                self.err(
                    &p_ptr,
                    format!("parameter name `{}` is used twice in this operation (Bedrock passes names without their location)", param.name),
                );
                continue;
            }
            keyed.insert((param.name.clone(), loc), params.len());
            params.push(param);
        }
        // The path template and the path parameters must agree.
        let template: BTreeSet<String> = path_template_names(path);
        for name in template.difference(&failed) {
            if !params
                .iter()
                .any(|p| p.location == ParamLocation::Path && &p.name == name)
            {
                self.err(
                    ptr(op_ptr, "parameters"),
                    format!("path template `{path}` names `{{{name}}}` but no `in: path` parameter `{name}` is declared"),
                );
            }
        }
        for p in &params {
            if p.location == ParamLocation::Path && !template.contains(&p.name) {
                self.err(
                    ptr(op_ptr, "parameters"),
                    format!(
                        "path parameter `{}` does not appear in the path template `{path}`",
                        p.name
                    ),
                );
            }
        }
        let body = match o.get("requestBody") {
            Some(b) => self.request_body(b, &ptr(op_ptr, "requestBody")),
            None => None,
        };
        if let Some(b) = &body {
            for p in &b.properties {
                if params.iter().any(|q| q.name == p.name) {
                    self.err(
                        ptr(op_ptr, "requestBody"),
                        format!(
                            "request body property `{}` has the same name as a parameter",
                            p.name
                        ),
                    );
                }
            }
        }
        if self.errors.len() != before {
            return None;
        }
        let upper = method.to_ascii_uppercase();
        Some(Operation {
            action: format!("{}:{id}", self.tool),
            id,
            effects: self.default_effects(Some(&upper)),
            method: Some(upper),
            path: Some(path.to_string()),
            function: None,
            summary: o.get("summary").and_then(Value::as_str).map(str::to_string),
            description: desc(op),
            require_confirmation: false,
            params,
            body,
        })
    }

    fn param_list(&mut self, list: &'a Value, list_ptr: &str, out: &mut Vec<(String, &'a Value)>) {
        let Some(items) = list.as_array() else {
            self.err(list_ptr, "`parameters` must be an array");
            return;
        };
        for (i, p) in items.iter().enumerate() {
            out.push((ptr(list_ptr, &i.to_string()), p));
        }
    }

    fn resolve_ref(&mut self, r: &str, at: &str) -> Option<(&'a Value, String)> {
        let Some(pointer) = r.strip_prefix('#') else {
            self.err(
                ptr(at, "$ref"),
                format!(
                    "`$ref` `{}` is not a local reference (`#/...`)",
                    truncate(r, 128)
                ),
            );
            return None;
        };
        let pointer = percent_decode(pointer);
        match self.doc.pointer(&pointer) {
            Some(t) => Some((t, pointer)),
            None => {
                self.err(
                    ptr(at, "$ref"),
                    format!("`$ref` `{}` does not resolve", truncate(r, 128)),
                );
                None
            }
        }
    }

    fn parameter(&mut self, p: &'a Value, p_ptr: &str) -> Option<Param> {
        let (p, p_ptr) = match p.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let (t, tp) = self.resolve_ref(r, p_ptr)?;
                (t, tp)
            }
            None => (p, p_ptr.to_string()),
        };
        let Some(o) = p.as_object() else {
            self.err(&p_ptr, "a parameter must be an object");
            return None;
        };
        let Some(name) = o.get("name").and_then(Value::as_str) else {
            self.err(ptr(&p_ptr, "name"), "parameter has no `name`");
            return None;
        };
        if name.is_empty() {
            self.err(ptr(&p_ptr, "name"), "parameter name is empty");
            return None;
        }
        let location = match o.get("in").and_then(Value::as_str) {
            Some("path") => ParamLocation::Path,
            Some("query") => ParamLocation::Query,
            Some("header") => ParamLocation::Header,
            Some(other) => {
                self.err(
                    ptr(&p_ptr, "in"),
                    format!("parameter `{name}`: location `{other}` is not supported (path, query or header)"),
                );
                return None;
            }
            None => {
                self.err(ptr(&p_ptr, "in"), format!("parameter `{name}` has no `in`"));
                return None;
            }
        };
        let Some(schema) = o.get("schema") else {
            let hint = if o.contains_key("content") {
                " (`content` parameters are not supported)"
            } else {
                ""
            };
            self.err(
                ptr(&p_ptr, "schema"),
                format!("parameter `{name}` has no `schema`{hint}"),
            );
            return None;
        };
        let s_ptr = ptr(&p_ptr, "schema");
        let schema = self.schema(schema, &s_ptr, &mut Vec::new())?;
        let value_type = ValueType::of_schema(&schema);
        match value_type {
            ValueType::Object => {
                self.err(
                    &s_ptr,
                    format!("parameter `{name}`: type `object` is not supported for parameters"),
                );
                return None;
            }
            ValueType::Array => {
                let item_t = schema.get("items").map(ValueType::of_schema);
                if matches!(item_t, Some(ValueType::Array | ValueType::Object)) {
                    self.err(
                        ptr(&s_ptr, "items"),
                        format!(
                            "parameter `{name}`: arrays of arrays or objects are not supported"
                        ),
                    );
                    return None;
                }
            }
            _ => {}
        }
        let compiled = match compile(&schema) {
            Ok(c) => c,
            Err(m) => {
                self.err(&s_ptr, format!("parameter `{name}`: {m}"));
                return None;
            }
        };
        let required = location == ParamLocation::Path
            || o.get("required").and_then(Value::as_bool).unwrap_or(false);
        Some(Param {
            name: name.to_string(),
            location,
            description: desc(p),
            required,
            tenant_marked: tenant_mark(p) || tenant_mark(&schema),
            value_type,
            schema,
            compiled,
        })
    }

    fn request_body(&mut self, b: &'a Value, b_ptr: &str) -> Option<RequestBody> {
        let (b, b_ptr) = match b.get("$ref").and_then(Value::as_str) {
            Some(r) => self.resolve_ref(r, b_ptr)?,
            None => (b, b_ptr.to_string()),
        };
        let Some(content) = b.get("content").and_then(Value::as_object) else {
            self.err(
                ptr(&b_ptr, "content"),
                "request body has no `content` object",
            );
            return None;
        };
        let c_ptr = ptr(&ptr(&b_ptr, "content"), "application/json");
        let Some(media) = content.get("application/json") else {
            let types: Vec<&str> = content.keys().map(String::as_str).collect();
            self.err(
                ptr(&b_ptr, "content"),
                format!(
                    "request body has no `application/json` content (found: {})",
                    types.join(", ")
                ),
            );
            return None;
        };
        let Some(schema) = media.get("schema") else {
            self.err(
                ptr(&c_ptr, "schema"),
                "request body content has no `schema`",
            );
            return None;
        };
        let s_ptr = ptr(&c_ptr, "schema");
        let schema = self.schema(schema, &s_ptr, &mut Vec::new())?;
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            self.err(
                &s_ptr,
                "request body schema must be an object with `properties`",
            );
            return None;
        };
        if !matches!(
            ValueType::of_schema(&schema),
            ValueType::Object | ValueType::Any
        ) {
            self.err(
                ptr(&s_ptr, "type"),
                "request body schema must be of type `object`",
            );
            return None;
        }
        let required: BTreeSet<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let properties = props
            .iter()
            .map(|(name, s)| BodyProperty {
                name: name.clone(),
                description: desc(s),
                required: required.contains(name.as_str()),
                value_type: ValueType::of_schema(s),
                tenant_marked: tenant_mark(s),
                schema: s.clone(),
            })
            .collect();
        let compiled = match compile(&schema) {
            Ok(c) => c,
            Err(m) => {
                self.err(&s_ptr, m);
                return None;
            }
        };
        Some(RequestBody {
            required: b.get("required").and_then(Value::as_bool).unwrap_or(false),
            description: desc(b),
            schema,
            properties,
            compiled,
        })
    }

    /// Normalises a schema object: local `$ref`s inlined (cycles refused), OpenAPI 3.0
    /// `nullable` and boolean `exclusiveMinimum/Maximum` rewritten to Draft 2020-12, and
    /// every `type` checked.
    fn schema(&mut self, v: &'a Value, at: &str, stack: &mut Vec<String>) -> Option<Value> {
        self.nodes += 1;
        if self.nodes > MAX_EXPANDED_NODES {
            if self.nodes == MAX_EXPANDED_NODES + 1 {
                self.err(
                    at,
                    format!(
                        "schemas expand beyond {MAX_EXPANDED_NODES} nodes once `$ref`s are inlined"
                    ),
                );
            }
            return None;
        }
        if let Value::Bool(_) = v {
            if self.v30 {
                self.err(at, "a schema must be an object");
                return None;
            }
            return Some(v.clone());
        }
        let Some(o) = v.as_object() else {
            self.err(at, "a schema must be an object");
            return None;
        };
        if let Some(r) = o.get("$ref") {
            let Some(r) = r.as_str() else {
                self.err(ptr(at, "$ref"), "`$ref` must be a string");
                return None;
            };
            if stack.iter().any(|s| s == r) {
                self.err(
                    ptr(at, "$ref"),
                    format!("recursive `$ref` `{}` is not supported", truncate(r, 128)),
                );
                return None;
            }
            if stack.len() >= MAX_REF_DEPTH {
                self.err(
                    ptr(at, "$ref"),
                    format!("`$ref` chain deeper than {MAX_REF_DEPTH}"),
                );
                return None;
            }
            let (target, t_ptr) = self.resolve_ref(r, at)?;
            stack.push(r.to_string());
            let out = self.schema(target, &t_ptr, stack);
            stack.pop();
            return out;
        }
        let mut out = Map::new();
        let mut ok = true;
        let mut nullable = false;
        for (k, val) in o {
            let k_ptr = ptr(at, k);
            match k.as_str() {
                "properties" | "patternProperties" | "$defs" | "definitions"
                | "dependentSchemas" => {
                    let Some(m) = val.as_object() else {
                        self.err(&k_ptr, format!("`{k}` must be an object"));
                        ok = false;
                        continue;
                    };
                    let mut nm = Map::new();
                    for (pk, pv) in m {
                        match self.schema(pv, &ptr(&k_ptr, pk), stack) {
                            Some(s) => {
                                nm.insert(pk.clone(), s);
                            }
                            None => ok = false,
                        }
                    }
                    out.insert(k.clone(), Value::Object(nm));
                }
                "items" if val.is_array() && self.v30 => {
                    self.err(&k_ptr, "`items` must be a schema object");
                    ok = false;
                }
                "allOf" | "anyOf" | "oneOf" | "prefixItems" | "items" if val.is_array() => {
                    let mut na = Vec::new();
                    for (i, s) in val.as_array().into_iter().flatten().enumerate() {
                        match self.schema(s, &ptr(&k_ptr, &i.to_string()), stack) {
                            Some(s) => na.push(s),
                            None => ok = false,
                        }
                    }
                    out.insert(k.clone(), Value::Array(na));
                }
                "allOf" | "anyOf" | "oneOf" | "prefixItems" => {
                    self.err(&k_ptr, format!("`{k}` must be an array of schemas"));
                    ok = false;
                }
                "items"
                | "additionalProperties"
                | "additionalItems"
                | "not"
                | "contains"
                | "propertyNames"
                | "if"
                | "then"
                | "else"
                | "unevaluatedItems"
                | "unevaluatedProperties" => {
                    if val.is_boolean()
                        && matches!(
                            k.as_str(),
                            "additionalProperties"
                                | "unevaluatedProperties"
                                | "additionalItems"
                                | "unevaluatedItems"
                        )
                    {
                        out.insert(k.clone(), val.clone());
                        continue;
                    }
                    match self.schema(val, &k_ptr, stack) {
                        Some(s) => {
                            out.insert(k.clone(), s);
                        }
                        None => ok = false,
                    }
                }
                "type" => {
                    let names: Vec<&Value> = match val {
                        Value::Array(a) if !self.v30 => a.iter().collect(),
                        other => vec![other],
                    };
                    for n in names {
                        match n.as_str() {
                            Some(t) if TYPES.contains(&t) || (t == "null" && !self.v30) => {}
                            Some(t) => {
                                self.err(&k_ptr, format!("unsupported type `{}`", truncate(t, 64)));
                                ok = false;
                            }
                            None => {
                                self.err(&k_ptr, "`type` must be a string");
                                ok = false;
                            }
                        }
                    }
                    out.insert(k.clone(), val.clone());
                }
                "nullable" if self.v30 => nullable = val.as_bool() == Some(true),
                "exclusiveMinimum" | "exclusiveMaximum" if self.v30 && val.is_boolean() => {
                    // 3.0: a flag on minimum/maximum; rewritten below.
                }
                _ => {
                    out.insert(k.clone(), val.clone());
                }
            }
        }
        if self.v30 {
            for (flag, bound) in [
                ("exclusiveMinimum", "minimum"),
                ("exclusiveMaximum", "maximum"),
            ] {
                if o.get(flag).and_then(Value::as_bool) == Some(true) {
                    match out.remove(bound) {
                        Some(limit) => {
                            out.insert(flag.to_string(), limit);
                        }
                        None => {
                            self.err(ptr(at, flag), format!("`{flag}: true` without `{bound}`"));
                            ok = false;
                        }
                    }
                }
            }
            if nullable {
                if let Some(Value::String(t)) = out.get("type").cloned() {
                    out.insert("type".into(), json!([t, "null"]));
                }
            }
        }
        ok.then_some(Value::Object(out))
    }

    // ---- Bedrock function schemas ------------------------------------------------------------

    fn functions(&mut self) -> Vec<Operation> {
        let doc = self.doc;
        let Some(root) = doc.as_object() else {
            self.err("", "a function schema must be an object with `functions`");
            return Vec::new();
        };
        for k in root.keys() {
            if k != "functions" {
                self.err(
                    ptr("", k),
                    format!("unknown key `{}` (expected `functions`)", truncate(k, 64)),
                );
            }
        }
        let Some(list) = root.get("functions") else {
            self.err("/functions", "missing `functions`");
            return Vec::new();
        };
        let Some(list) = list.as_array() else {
            self.err("/functions", "`functions` must be an array");
            return Vec::new();
        };
        if list.is_empty() {
            self.err("/functions", "no functions defined");
        }
        let mut ops = Vec::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (i, f) in list.iter().enumerate() {
            let f_ptr = ptr("/functions", &i.to_string());
            if let Some(op) = self.function(f, &f_ptr) {
                if let Some(first) = seen.get(&op.id) {
                    self.err(
                        ptr(&f_ptr, "name"),
                        format!("duplicate function name `{}` (first at {first})", op.id),
                    );
                    continue;
                }
                seen.insert(op.id.clone(), f_ptr);
                ops.push(op);
            }
        }
        ops
    }

    fn function(&mut self, f: &'a Value, f_ptr: &str) -> Option<Operation> {
        let before = self.errors.len();
        let Some(o) = f.as_object() else {
            self.err(f_ptr, "a function must be an object");
            return None;
        };
        for k in o.keys() {
            if !matches!(
                k.as_str(),
                "name" | "description" | "parameters" | "requireConfirmation"
            ) {
                self.err(
                    ptr(f_ptr, k),
                    format!(
                        "unknown key `{}` (name, description, parameters, requireConfirmation)",
                        truncate(k, 64)
                    ),
                );
            }
        }
        let name = match o.get("name").and_then(Value::as_str) {
            Some(n) if valid_function_name(n) => n.to_string(),
            Some(n) => {
                self.err(ptr(f_ptr, "name"), format!("function name `{}` must be 1-100 characters of A-Za-z0-9_-, starting with a letter or digit", truncate(n, 64)));
                return None;
            }
            None => {
                self.err(ptr(f_ptr, "name"), "function has no `name` string");
                return None;
            }
        };
        let require_confirmation = match o.get("requireConfirmation") {
            None => false,
            Some(Value::String(s)) if s == "ENABLED" => true,
            Some(Value::String(s)) if s == "DISABLED" => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.err(
                    ptr(f_ptr, "requireConfirmation"),
                    "must be `ENABLED` or `DISABLED`",
                );
                false
            }
        };
        let mut params = Vec::new();
        match o.get("parameters") {
            None => {}
            Some(Value::Object(ps)) => {
                let ps_ptr = ptr(f_ptr, "parameters");
                for (pname, p) in ps {
                    let p_ptr = ptr(&ps_ptr, pname);
                    if let Some(param) = self.function_param(pname, p, &p_ptr) {
                        params.push(param);
                    }
                }
            }
            Some(_) => self.err(
                ptr(f_ptr, "parameters"),
                "`parameters` must be an object of name → {type, description, required}",
            ),
        }
        if self.errors.len() != before {
            return None;
        }
        Some(Operation {
            action: format!("{}:{name}", self.tool),
            id: name.clone(),
            method: None,
            path: None,
            function: Some(name),
            summary: None,
            description: desc(f),
            effects: self.default_effects(None),
            require_confirmation,
            params,
            body: None,
        })
    }

    fn function_param(&mut self, name: &str, p: &Value, p_ptr: &str) -> Option<Param> {
        let Some(o) = p.as_object() else {
            self.err(p_ptr, "a function parameter must be an object");
            return None;
        };
        if name.is_empty() {
            self.err(p_ptr, "parameter name is empty");
            return None;
        }
        for k in o.keys() {
            if !matches!(
                k.as_str(),
                "type" | "description" | "required" | "x-warden-tenant"
            ) {
                self.err(
                    ptr(p_ptr, k),
                    format!(
                        "unknown key `{}` (type, description, required)",
                        truncate(k, 64)
                    ),
                );
            }
        }
        let t = match o.get("type").and_then(Value::as_str) {
            Some(t @ ("string" | "number" | "integer" | "boolean" | "array")) => t,
            Some(t) => {
                self.err(
                    ptr(p_ptr, "type"),
                    format!(
                        "unsupported type `{}` (string, number, integer, boolean, array)",
                        truncate(t, 64)
                    ),
                );
                return None;
            }
            None => {
                self.err(
                    ptr(p_ptr, "type"),
                    format!("parameter `{name}` has no `type`"),
                );
                return None;
            }
        };
        let required = match o.get("required") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.err(ptr(p_ptr, "required"), "`required` must be true or false");
                return None;
            }
        };
        if o.get("x-warden-tenant").is_some_and(|v| !v.is_boolean()) {
            self.err(
                ptr(p_ptr, "x-warden-tenant"),
                "`x-warden-tenant` must be true or false",
            );
            return None;
        }
        let schema = json!({"type": t});
        let compiled = compile(&schema).ok()?;
        Some(Param {
            name: name.to_string(),
            location: ParamLocation::Function,
            description: desc(p),
            required,
            value_type: ValueType::from_name(t),
            tenant_marked: tenant_mark(p),
            schema,
            compiled,
        })
    }
}

fn valid_function_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 100
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn path_template_names(path: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                out.insert(after[..end].to_string());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// At most `n` characters of `s`, with `…` when cut.
pub(crate) fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
