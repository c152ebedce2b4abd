//! Errors of the secret providers. No variant holds a secret value: they name the tenant,
//! the secret, the file and key path or the AWS secret id, never what was stored there.

use std::path::PathBuf;

/// Why a secret could not be produced or a provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The secret is not set for this tenant.
    #[error("secret `{name}` is not set for tenant `{tenant}` in {provider}")]
    Missing {
        tenant: String,
        name: String,
        provider: String,
    },
    /// The secret name is not `[A-Z_][A-Z0-9_]*`.
    #[error("secret name `{name}` {reason}")]
    BadName { name: String, reason: &'static str },
    /// The set value is empty, which is never a usable secret.
    #[error("secret `{name}` for tenant `{tenant}` is empty in {provider}")]
    Empty {
        tenant: String,
        name: String,
        provider: String,
    },
    /// An environment variable exists but is not valid UTF-8.
    #[error("environment variable `{variable}` is not valid UTF-8")]
    NotUnicode { variable: String },
    /// The env provider's prefix is not usable in a variable name.
    #[error("secrets env prefix `{prefix}` must match [A-Z0-9_]* and not start with a digit")]
    BadPrefix { prefix: String },
    /// Two tenants map to variable names that can collide.
    #[error(
        "secrets env provider: tenant `{tenant}` (variable part `{key}`) and tenant `{other}` \
         (variable part `{other_key}`) can map to the same environment variable; refusing both \
         readings — rename one tenant or use the file provider"
    )]
    AmbiguousTenant {
        tenant: String,
        key: String,
        other: String,
        other_key: String,
    },
    /// The secrets file could not be read.
    #[error("secrets file `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The secrets file is readable or writable by group or others.
    #[error(
        "secrets file `{path}` has mode {mode:04o}: it is accessible by group or others; \
         run `chmod 600 {path}` (or allow it explicitly with FileOptions::allow_insecure_permissions)"
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
    /// The secrets file is larger than the limit.
    #[error("secrets file `{path}` is {size} bytes, more than the limit of {max} bytes")]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    /// The secrets file is not valid TOML. The message never quotes the file's text.
    #[error("secrets file `{path}`: TOML syntax error at line {line}, column {column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A key or value in the secrets file is not what it must be.
    #[error("secrets file `{path}`: `{key}` {reason}")]
    Invalid {
        path: PathBuf,
        key: String,
        reason: String,
    },
    /// The configuration asks for a provider this build does not contain.
    #[error(
        "secrets provider `{provider}` is not in this build: rebuild warden-secrets with the \
         `{feature}` cargo feature"
    )]
    FeatureDisabled {
        provider: &'static str,
        feature: &'static str,
    },
    /// The AWS provider's options are not usable.
    #[error("aws secrets provider: {0}")]
    AwsConfig(String),
    /// AWS Secrets Manager answered with an error or could not be reached.
    #[error("aws secrets manager: GetSecretValue for `{secret_id}` (tenant `{tenant}`, secret `{name}`) failed: {message}")]
    Aws {
        tenant: String,
        name: String,
        secret_id: String,
        message: String,
    },
    /// The AWS secret holds only binary data; Warden reads SecretString only.
    #[error(
        "aws secrets manager: secret `{secret_id}` (tenant `{tenant}`, secret `{name}`) has no \
         SecretString (it holds SecretBinary); store the value as a string"
    )]
    AwsBinary {
        tenant: String,
        name: String,
        secret_id: String,
    },
}
