//! Argument validation: Bedrock's string-valued parameters and request-body properties coerced
//! to their declared types and checked against the operation's JSON schemas, every problem
//! reported at once without echoing more than a short excerpt of any value.

use crate::manifest::{truncate, CompiledSchema, Operation, ValueType};
use serde_json::{Map, Number, Value};
use std::collections::BTreeSet;
use std::fmt;

/// Most characters of a value quoted in an error.
pub const VALUE_EXCERPT_CHARS: usize = 64;
/// Most parameters (or body properties) accepted in one call.
const MAX_INPUTS: usize = 256;

/// One problem with one argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    /// The parameter name, or `body.<path>` for request-body fields (`body.items[2].sku`).
    pub field: String,
    /// The violated keyword: a JSON-schema keyword (`pattern`, `maxLength`, `type`, `format`,
    /// `required`, …) or `unknown` / `duplicate` for names the operation does not declare or
    /// that appear twice.
    pub keyword: String,
    /// The keyword's limit as text (`6`, `^[A-Z]-[0-9]{4}$`, `email`), when it has one.
    pub limit: Option<String>,
    /// At most [`VALUE_EXCERPT_CHARS`] characters of the offending value.
    pub value_excerpt: Option<String>,
    /// What is wrong, in words; never contains more of the value than the excerpt.
    pub message: String,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.field)?;
        if let Some(v) = &self.value_excerpt {
            write!(f, " (value {v:?})")?;
        }
        write!(f, ": {} [{}", self.message, self.keyword)?;
        if let Some(l) = &self.limit {
            write!(f, " {l}")?;
        }
        f.write_str("]")
    }
}

fn excerpt(v: &Value) -> String {
    match v {
        Value::String(s) => truncate(s, VALUE_EXCERPT_CHARS),
        other => truncate(&other.to_string(), VALUE_EXCERPT_CHARS),
    }
}

/// Arguments after coercion, before and after validation.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Args {
    /// `(name, raw string, coerced value)` in call order.
    pub params: Vec<(String, String, Value)>,
    /// The request body as a JSON object of coerced values.
    pub body: Option<Map<String, Value>>,
}

/// Coerces one Bedrock string to a declared type.
pub fn coerce(raw: &str, ty: ValueType, schema: &Value) -> Result<Value, String> {
    match ty {
        ValueType::String | ValueType::Any => Ok(Value::String(raw.to_string())),
        ValueType::Integer => raw
            .parse::<i64>()
            .map(|i| Value::Number(i.into()))
            .map_err(|_| "is not an integer (64-bit)".to_string()),
        ValueType::Number => {
            if let Ok(i) = raw.parse::<i64>() {
                return Ok(Value::Number(i.into()));
            }
            let looks_numeric = !raw.is_empty()
                && raw
                    .bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
            match raw
                .parse::<f64>()
                .ok()
                .filter(|_| looks_numeric)
                .and_then(Number::from_f64)
            {
                Some(n) => Ok(Value::Number(n)),
                None => Err("is not a finite number".to_string()),
            }
        }
        ValueType::Boolean => {
            if raw.eq_ignore_ascii_case("true") {
                Ok(Value::Bool(true))
            } else if raw.eq_ignore_ascii_case("false") {
                Ok(Value::Bool(false))
            } else {
                Err("is not a boolean (true or false)".to_string())
            }
        }
        ValueType::Array => {
            let items = schema.get("items").cloned().unwrap_or(Value::Bool(true));
            let item_ty = ValueType::of_schema(&items);
            let trimmed = raw.trim();
            if trimmed.starts_with('[') {
                let Ok(Value::Array(a)) = serde_json::from_str::<Value>(trimmed) else {
                    return Err("is not a JSON array".to_string());
                };
                a.into_iter()
                    .map(|v| match v {
                        Value::String(s) if item_ty != ValueType::String => {
                            coerce(&s, item_ty, &items)
                        }
                        other => Ok(other),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
                    .map_err(|e| format!("has an item that {e}"))
            } else if trimmed.is_empty() {
                Ok(Value::Array(Vec::new()))
            } else {
                trimmed
                    .split(',')
                    .map(|s| coerce(s.trim(), item_ty, &items))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
                    .map_err(|e| format!("has an item that {e}"))
            }
        }
        ValueType::Object => match serde_json::from_str::<Value>(raw) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err("is not a JSON object".to_string()),
        },
    }
}

fn arg_error(
    field: &str,
    keyword: &str,
    limit: Option<String>,
    value: Option<&Value>,
    message: String,
) -> ArgError {
    ArgError {
        field: field.to_string(),
        keyword: keyword.to_string(),
        limit,
        value_excerpt: value.map(excerpt),
        message,
    }
}

/// Turns a request body as delivered into a JSON object: either a plain object, or Bedrock's
/// `{"content":{"application/json":{"properties":[{"name","type","value"}]}}}`.
fn body_object(
    op: &Operation,
    body: &Value,
    errors: &mut Vec<ArgError>,
) -> Option<Map<String, Value>> {
    let declares_content = op
        .body
        .as_ref()
        .is_some_and(|b| b.properties.iter().any(|p| p.name == "content"));
    if !declares_content {
        if let Some(list) = body
            .get("content")
            .and_then(|c| c.get("application/json"))
            .and_then(|c| c.get("properties"))
        {
            let Some(list) = list.as_array() else {
                errors.push(arg_error(
                    "body",
                    "type",
                    None,
                    None,
                    "`properties` must be an array of {name, type, value}".into(),
                ));
                return None;
            };
            let mut out = Map::new();
            for (i, item) in list.iter().enumerate() {
                let Some(name) = item.get("name").and_then(Value::as_str) else {
                    errors.push(arg_error(
                        &format!("body.properties[{i}]"),
                        "required",
                        Some("name".into()),
                        None,
                        "has no `name`".into(),
                    ));
                    continue;
                };
                let value = item.get("value").cloned().unwrap_or(Value::Null);
                if out.contains_key(name) {
                    errors.push(arg_error(
                        &format!("body.{}", truncate(name, VALUE_EXCERPT_CHARS)),
                        "duplicate",
                        None,
                        None,
                        "is given more than once".into(),
                    ));
                    continue;
                }
                out.insert(name.to_string(), value);
            }
            return Some(out);
        }
    }
    match body {
        Value::Object(o) => Some(o.clone()),
        other => {
            errors.push(arg_error(
                "body",
                "type",
                Some("object".into()),
                Some(other),
                "must be a JSON object".into(),
            ));
            None
        }
    }
}

/// Coerces a call's arguments to the operation's declared types. Returns the coerced
/// arguments and every problem found (unknown, duplicate, uncoercible, missing body).
pub(crate) fn coerce_call(
    op: &Operation,
    params: &[(String, String)],
    body: Option<&Value>,
) -> (Args, Vec<ArgError>) {
    let mut errors = Vec::new();
    let mut args = Args::default();
    if params.len() > MAX_INPUTS {
        errors.push(arg_error(
            "parameters",
            "maxItems",
            Some(MAX_INPUTS.to_string()),
            None,
            format!(
                "{} parameters given; at most {MAX_INPUTS} are accepted",
                params.len()
            ),
        ));
        return (args, errors);
    }
    let mut seen = BTreeSet::new();
    for (name, raw) in params {
        let shown = truncate(name, VALUE_EXCERPT_CHARS);
        if !seen.insert(name.as_str()) {
            errors.push(arg_error(
                &shown,
                "duplicate",
                None,
                None,
                "is given more than once".into(),
            ));
            continue;
        }
        let Some(p) = op.param(name) else {
            errors.push(arg_error(
                &shown,
                "unknown",
                None,
                None,
                format!("is not a parameter of `{}`", op.id),
            ));
            continue;
        };
        match coerce(raw, p.value_type, &p.schema) {
            Ok(v) => args.params.push((name.clone(), raw.clone(), v)),
            Err(m) => errors.push(arg_error(
                &shown,
                "type",
                Some(p.value_type.bedrock_name().to_string()),
                Some(&Value::String(raw.clone())),
                m,
            )),
        }
    }
    for p in &op.params {
        if p.required && !seen.contains(p.name.as_str()) {
            errors.push(arg_error(
                &p.name,
                "required",
                None,
                None,
                "is required but missing".into(),
            ));
        }
    }
    let body = body.filter(|b| !b.is_null());
    match (&op.body, body) {
        (None, Some(b)) => {
            let empty = b.as_object().is_some_and(Map::is_empty);
            if !empty {
                errors.push(arg_error(
                    "body",
                    "unknown",
                    None,
                    None,
                    format!("`{}` takes no request body", op.id),
                ));
            }
        }
        (Some(spec), None) => {
            if spec.required {
                errors.push(arg_error(
                    "body",
                    "required",
                    None,
                    None,
                    "request body is required but missing".into(),
                ));
            }
        }
        (Some(spec), Some(b)) => {
            if let Some(obj) = body_object(op, b, &mut errors) {
                if obj.len() > MAX_INPUTS {
                    errors.push(arg_error(
                        "body",
                        "maxProperties",
                        Some(MAX_INPUTS.to_string()),
                        None,
                        format!("{} properties given", obj.len()),
                    ));
                } else {
                    let mut out = Map::new();
                    for (k, v) in obj {
                        let field = format!("body.{}", truncate(&k, VALUE_EXCERPT_CHARS));
                        let Some(prop) = spec.properties.iter().find(|p| p.name == k) else {
                            errors.push(arg_error(
                                &field,
                                "unknown",
                                None,
                                None,
                                format!("is not a request body property of `{}`", op.id),
                            ));
                            continue;
                        };
                        let v = match v {
                            Value::String(s)
                                if !matches!(
                                    prop.value_type,
                                    ValueType::String | ValueType::Any
                                ) =>
                            {
                                match coerce(&s, prop.value_type, &prop.schema) {
                                    Ok(c) => c,
                                    Err(m) => {
                                        errors.push(arg_error(
                                            &field,
                                            "type",
                                            Some(prop.value_type.bedrock_name().into()),
                                            Some(&Value::String(s)),
                                            m,
                                        ));
                                        continue;
                                    }
                                }
                            }
                            other => other,
                        };
                        out.insert(k, v);
                    }
                    args.body = Some(out);
                }
            }
        }
        (None, None) => {}
    }
    (args, errors)
}

/// Validates coerced arguments against the operation's schemas.
pub(crate) fn validate_args(op: &Operation, args: &Args) -> Vec<ArgError> {
    let mut errors = Vec::new();
    for (name, _, value) in &args.params {
        if let Some(p) = op.param(name) {
            schema_errors(&p.compiled, value, name, &mut errors);
        }
    }
    if let (Some(spec), Some(body)) = (&op.body, &args.body) {
        let v = Value::Object(body.clone());
        schema_errors(&spec.compiled, &v, "body", &mut errors);
    }
    errors
}

/// Parameters with their coerced values, and the request body as a JSON object.
pub type ValidatedArgs = (Vec<(String, Value)>, Option<Value>);

/// Coerces and validates a call's arguments against one operation (no tenant scope, no
/// policy): `Ok((parameters with coerced values, body object))` or every problem found.
pub fn validate_call(
    op: &Operation,
    params: &[(String, String)],
    body: Option<&Value>,
) -> Result<ValidatedArgs, Vec<ArgError>> {
    let (args, mut errors) = coerce_call(op, params, body);
    errors.extend(validate_args(op, &args));
    if errors.is_empty() {
        Ok((
            args.params.into_iter().map(|(n, _, v)| (n, v)).collect(),
            args.body.map(Value::Object),
        ))
    } else {
        Err(errors)
    }
}

/// `body` + an instance pointer → `body.items[2].sku`.
fn field_name(prefix: &str, pointer: &str, root: &Value) -> String {
    let mut out = prefix.to_string();
    let mut cur = Some(root);
    for raw in pointer.split('/').skip(1) {
        let token = raw.replace("~1", "/").replace("~0", "~");
        match cur {
            Some(Value::Array(a)) => {
                out.push_str(&format!("[{token}]"));
                cur = token.parse::<usize>().ok().and_then(|i| a.get(i));
            }
            Some(Value::Object(o)) => {
                out.push('.');
                out.push_str(&truncate(&token, VALUE_EXCERPT_CHARS));
                cur = o.get(&token);
            }
            _ => {
                out.push('.');
                out.push_str(&truncate(&token, VALUE_EXCERPT_CHARS));
                cur = None;
            }
        }
    }
    out
}

fn json_limit(v: &Value) -> String {
    truncate(&v.to_string(), 200)
}

fn schema_errors(compiled: &CompiledSchema, value: &Value, prefix: &str, out: &mut Vec<ArgError>) {
    use jsonschema::error::ValidationErrorKind as K;
    for e in compiled.0.iter_errors(value) {
        let pointer = e.instance_path().as_str().to_string();
        let mut field = field_name(prefix, &pointer, value);
        let instance = value.pointer(&pointer);
        let keyword = e.kind().keyword().to_string();
        let (limit, message): (Option<String>, String) = match e.kind() {
            K::Pattern { pattern } => (
                Some(pattern.clone()),
                format!("does not match the pattern `{pattern}`"),
            ),
            K::Enum { options } => (
                Some(json_limit(options)),
                format!("is not one of {}", json_limit(options)),
            ),
            K::Constant { expected_value } => (
                Some(json_limit(expected_value)),
                format!("must equal {}", json_limit(expected_value)),
            ),
            K::MaxLength { limit } => (
                Some(limit.to_string()),
                format!("is longer than {limit} characters"),
            ),
            K::MinLength { limit } => (
                Some(limit.to_string()),
                format!("is shorter than {limit} characters"),
            ),
            K::Maximum { limit } => (
                Some(limit.to_string()),
                format!("is greater than the maximum {limit}"),
            ),
            K::Minimum { limit } => (
                Some(limit.to_string()),
                format!("is less than the minimum {limit}"),
            ),
            K::ExclusiveMaximum { limit } => (
                Some(limit.to_string()),
                format!("must be less than {limit}"),
            ),
            K::ExclusiveMinimum { limit } => (
                Some(limit.to_string()),
                format!("must be greater than {limit}"),
            ),
            K::MultipleOf { multiple_of, .. } => (
                Some(multiple_of.to_string()),
                format!("is not a multiple of {multiple_of}"),
            ),
            K::Format { format } => (Some(format.clone()), format!("is not a valid `{format}`")),
            K::Type { kind } => {
                let t = match kind {
                    jsonschema::error::TypeKind::Single(t) => t.to_string(),
                    jsonschema::error::TypeKind::Multiple(ts) => ts
                        .iter()
                        .map(|t| t.to_string())
                        .collect::<Vec<_>>()
                        .join(" or "),
                };
                (Some(t.clone()), format!("is not of type {t}"))
            }
            K::Required { property } => {
                let name = property
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| property.to_string());
                field = format!("{field}.{}", truncate(&name, VALUE_EXCERPT_CHARS));
                out.push(arg_error(
                    &field,
                    "required",
                    None,
                    None,
                    "is required but missing".into(),
                ));
                continue;
            }
            K::MaxItems { limit } => (
                Some(limit.to_string()),
                format!("has more than {limit} items"),
            ),
            K::MinItems { limit } => (
                Some(limit.to_string()),
                format!("has fewer than {limit} items"),
            ),
            K::MaxProperties { limit } => (
                Some(limit.to_string()),
                format!("has more than {limit} properties"),
            ),
            K::MinProperties { limit } => (
                Some(limit.to_string()),
                format!("has fewer than {limit} properties"),
            ),
            K::UniqueItems => (None, "has duplicate items".into()),
            K::AdditionalProperties { unexpected } | K::UnevaluatedProperties { unexpected } => {
                for name in unexpected {
                    let f = format!("{field}.{}", truncate(name, VALUE_EXCERPT_CHARS));
                    out.push(arg_error(
                        &f,
                        "unknown",
                        None,
                        None,
                        "is not a declared property".into(),
                    ));
                }
                continue;
            }
            K::Custom { message, .. } => (None, truncate(message, 200)),
            _ => (None, format!("does not satisfy `{keyword}`")),
        };
        let shown = match instance {
            Some(Value::Object(_)) | Some(Value::Array(_)) | None => None,
            Some(v) => Some(v),
        };
        out.push(arg_error(&field, &keyword, limit, shown, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn coercion_by_type() {
        let s = json!({});
        assert_eq!(coerce("42", ValueType::Integer, &s).unwrap(), json!(42));
        assert!(coerce("4.2", ValueType::Integer, &s).is_err());
        assert!(coerce("99999999999999999999", ValueType::Integer, &s).is_err());
        assert_eq!(coerce("4.5", ValueType::Number, &s).unwrap(), json!(4.5));
        assert_eq!(coerce("7", ValueType::Number, &s).unwrap(), json!(7));
        assert!(coerce("NaN", ValueType::Number, &s).is_err());
        assert!(coerce("inf", ValueType::Number, &s).is_err());
        assert_eq!(coerce("TRUE", ValueType::Boolean, &s).unwrap(), json!(true));
        assert!(coerce("yes", ValueType::Boolean, &s).is_err());
        let ints = json!({"type": "array", "items": {"type": "integer"}});
        assert_eq!(
            coerce("[1, 2]", ValueType::Array, &ints).unwrap(),
            json!([1, 2])
        );
        assert_eq!(
            coerce("1, 2,3", ValueType::Array, &ints).unwrap(),
            json!([1, 2, 3])
        );
        assert_eq!(coerce("", ValueType::Array, &ints).unwrap(), json!([]));
        assert!(coerce("1,x", ValueType::Array, &ints).is_err());
        let strs = json!({"type": "array", "items": {"type": "string"}});
        assert_eq!(
            coerce("a,b", ValueType::Array, &strs).unwrap(),
            json!(["a", "b"])
        );
        assert_eq!(
            coerce("[\"a,b\"]", ValueType::Array, &strs).unwrap(),
            json!(["a,b"])
        );
        assert_eq!(
            coerce("{\"a\":1}", ValueType::Object, &s).unwrap(),
            json!({"a": 1})
        );
        assert!(coerce("[1]", ValueType::Object, &s).is_err());
    }

    #[test]
    fn field_names_follow_the_instance() {
        let v = json!({"items": [{"sku": "x"}], "a/b": 1});
        assert_eq!(field_name("body", "/items/0/sku", &v), "body.items[0].sku");
        assert_eq!(field_name("body", "/a~1b", &v), "body.a/b");
        assert_eq!(field_name("body", "", &v), "body");
    }
}
