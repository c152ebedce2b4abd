//! Tenant scope: arguments that name a tenant must name the caller's own. Other values are
//! rejected or replaced by the trusted tenant, and every replacement is recorded.

use crate::manifest::{truncate, Operation};
use crate::validate::{Args, VALUE_EXCERPT_CHARS};
use serde_json::Value;
use std::fmt;

/// A tenant reference in the arguments that disagreed with the trusted tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantOverride {
    /// The parameter name, or `body.<path>` for request-body fields.
    pub field: String,
    /// At most 64 characters of the value the call carried.
    pub claimed: String,
    /// The tenant of the authenticated principal.
    pub trusted: String,
}

impl fmt::Display for TenantOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` named tenant {:?}, the caller's tenant is {:?}",
            self.field, self.claimed, self.trusted
        )
    }
}

/// Whether a field name names a tenant (`tenant`, `tenantId`, `tenant_id`, `tenant-id`,
/// `tenantName`, `tenant_name`, `tenant-name`; any case).
pub fn is_tenant_field(name: &str) -> bool {
    const NAMES: [&str; 7] = [
        "tenant",
        "tenantid",
        "tenant_id",
        "tenant-id",
        "tenantname",
        "tenant_name",
        "tenant-name",
    ];
    name.len() <= 11 && NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

fn marked(schema: Option<&Value>) -> bool {
    schema
        .and_then(|s| s.get("x-warden-tenant"))
        .and_then(Value::as_bool)
        == Some(true)
}

fn claimed_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Finds every tenant reference that differs from `trusted`. With `replace`, each is set to
/// the trusted tenant in place.
pub(crate) fn enforce(
    op: &Operation,
    args: &mut Args,
    trusted: &str,
    replace: bool,
) -> Vec<TenantOverride> {
    let mut found = Vec::new();
    for (name, raw, value) in &mut args.params {
        let Some(p) = op.param(name) else { continue };
        if !(p.tenant_marked || is_tenant_field(name)) || raw == trusted {
            continue;
        }
        found.push(TenantOverride {
            field: name.clone(),
            claimed: truncate(raw, VALUE_EXCERPT_CHARS),
            trusted: trusted.to_string(),
        });
        if replace {
            *raw = trusted.to_string();
            *value = Value::String(trusted.to_string());
        }
    }
    if let (Some(body), Some(spec)) = (&mut args.body, &op.body) {
        for (k, v) in body.iter_mut() {
            let schema = spec
                .properties
                .iter()
                .find(|p| &p.name == k)
                .map(|p| &p.schema);
            walk(
                k,
                v,
                schema,
                &format!("body.{k}"),
                trusted,
                replace,
                &mut found,
            );
        }
    }
    found
}

fn walk(
    key: &str,
    v: &mut Value,
    schema: Option<&Value>,
    field: &str,
    trusted: &str,
    replace: bool,
    found: &mut Vec<TenantOverride>,
) {
    if is_tenant_field(key) || marked(schema) {
        if let Some(claimed) = claimed_text(v) {
            if claimed != trusted {
                found.push(TenantOverride {
                    field: truncate(field, 256),
                    claimed: truncate(&claimed, VALUE_EXCERPT_CHARS),
                    trusted: trusted.to_string(),
                });
                if replace {
                    *v = Value::String(trusted.to_string());
                }
            }
        }
        return;
    }
    match v {
        Value::Object(o) => {
            let props = schema.and_then(|s| s.get("properties"));
            for (k, child) in o.iter_mut() {
                let child_schema = props.and_then(|p| p.get(k));
                walk(
                    k,
                    child,
                    child_schema,
                    &format!("{field}.{k}"),
                    trusted,
                    replace,
                    found,
                );
            }
        }
        Value::Array(a) => {
            let items = schema.and_then(|s| s.get("items"));
            for (i, child) in a.iter_mut().enumerate() {
                // Array elements carry no name of their own: only the schema can mark them.
                if marked(items) || child.is_object() || child.is_array() {
                    walk(
                        "",
                        child,
                        items,
                        &format!("{field}[{i}]"),
                        trusted,
                        replace,
                        found,
                    );
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names() {
        for n in [
            "tenant",
            "TenantId",
            "tenant_id",
            "TENANT-ID",
            "tenantName",
            "tenant_name",
        ] {
            assert!(is_tenant_field(n), "{n}");
        }
        for n in ["tenants", "tenantIdx", "customer", "my_tenant", ""] {
            assert!(!is_tenant_field(n), "{n}");
        }
    }
}
