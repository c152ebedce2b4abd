//! Tool manifests, argument validation against OpenAPI/function schemas, tenant-scope
//! enforcement and Cedar authorization; pure and synchronous.
//!
//! [`Catalog::load`] reads every tool's schema file (OpenAPI 3.0/3.1 in JSON or YAML, or a
//! Bedrock function schema) and every `policies/*.cedar` file, generates a Cedar schema from
//! the tools and validates the policies strictly against it, reporting every problem at once.
//! [`Catalog::check`] then takes one tool call as Bedrock delivers it (string-valued
//! parameters) and either refuses it with a stable [`Refusal::code`] or returns an
//! [`Authorized`] call: arguments coerced and validated, tenant references checked against the
//! caller's tenant (rejected or overridden), and a Cedar decision (deny by default).
//!
//! The only IO is reading schema and policy files at load time.
//!
//! # Cedar model (namespace `Warden`)
//!
//! - principal `Warden::User::"<subject>"` with `tenant: String`, `subject: String`, the
//!   verified token claims as String tags (`principal.hasTag("role")`,
//!   `principal.getTag("role")`; non-string claims as JSON text), parent
//!   `Warden::Tenant::"<tenant>"`;
//! - resource `Warden::Tool::"<tool>"`;
//! - action `Warden::Action::"<tool>:<operationId or function>"`, member of the action groups
//!   `Warden::Action::"<tool>"` and `Warden::Action::"@read"` / `"@write"`;
//! - context `tenant` (trusted), `tool`, `operation`, `effects` (`read`/`write`), `args` (one
//!   String per declared parameter or top-level body property, required when the input is;
//!   non-strings as JSON text) and `typed` (`Long` for `integer`, `Bool` for `boolean`,
//!   `decimal` for `number` inputs; `number` entries are optional because only values with at
//!   most four decimal places fit `decimal`).
//!
//! Policies are validated in strict mode; validator warnings (impossible policies, actions
//! that cannot apply) are load errors too. Policy ids are the `@id("…")` annotation, else
//! `<file name>:<index in file>`. Deny by default; a policy evaluation error denies.

mod catalog;
mod cedar;
mod doc;
mod manifest;
mod scope;
mod validate;

pub use catalog::{Authorized, CallRequest, Caller, Catalog, LoadError, LoadErrors, Refusal};
pub use cedar::{PolicyError, NAMESPACE};
pub use manifest::{
    effects_str, BodyProperty, Operation, Param, ParamLocation, RequestBody, SchemaError,
    SchemaKind, ToolManifest, ValueType,
};
pub use scope::{is_tenant_field, TenantOverride};
pub use validate::{coerce, validate_call, ArgError, ValidatedArgs, VALUE_EXCERPT_CHARS};
pub use warden_config::{Effects, TenantScopeAction};
