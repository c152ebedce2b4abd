//! Per-tenant secret providers (env, file, AWS Secrets Manager) that feed tool handlers and nothing else.
//!
//! A secret is looked up by the authenticated tenant and a secret name (an environment
//! variable name such as `ORDERS_API_KEY`) and comes back wrapped in [`Sensitive`], whose
//! `Debug` and `Display` print `[redacted]`. The only intended consumer is the broker, which
//! places the values into a sandboxed tool handler's environment (DESIGN.md §3 invariant 3).
//! No type in this crate formats a secret value: errors name the tenant, the secret and the
//! source, never the value.

mod env;
mod error;
mod file;
mod names;

#[cfg(feature = "aws")]
mod aws;

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use warden_config::SecretsConfig;
use warden_core::{Sensitive, TenantId};

#[cfg(feature = "aws")]
pub use aws::{AwsOptions, AwsProvider, DEFAULT_CACHE_TTL, DEFAULT_ID_TEMPLATE};
pub use env::EnvProvider;
pub use error::SecretError;
pub use file::{FileOptions, FileProvider, MAX_FILE_BYTES};
pub use names::{validate_secret_name, MAX_SECRET_NAME_LEN};

/// A source of per-tenant secrets.
#[async_trait]
pub trait SecretProvider: Send + Sync + Debug {
    /// The value of secret `name` for `tenant`. A secret that is not set is
    /// [`SecretError::Missing`]; a provider never falls back to another tenant's value.
    async fn get(&self, tenant: &TenantId, name: &str) -> Result<Sensitive<String>, SecretError>;

    /// A short description of where secrets come from (no values), e.g. `file secrets/tenants.toml`.
    fn describe(&self) -> &str;

    /// Every secret in `names` for `tenant`, in the order given, or the first error: fails
    /// closed, so a tool never starts with part of its secrets.
    async fn fetch_all(
        &self,
        tenant: &TenantId,
        names: &[String],
    ) -> Result<Vec<(String, Sensitive<String>)>, SecretError> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let value = self.get(tenant, name).await?;
            out.push((name.clone(), value));
        }
        Ok(out)
    }
}

/// A provider that has no secrets: every lookup is [`SecretError::Missing`]. Used for
/// `SecretsConfig::None`, so a tool that declares secrets fails closed.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSecrets;

#[async_trait]
impl SecretProvider for NoSecrets {
    async fn get(&self, tenant: &TenantId, name: &str) -> Result<Sensitive<String>, SecretError> {
        validate_secret_name(name)?;
        Err(SecretError::Missing {
            tenant: tenant.to_string(),
            name: name.to_string(),
            provider: "no secrets provider (`[secrets]` has no `provider`)".to_string(),
        })
    }

    fn describe(&self) -> &str {
        "none"
    }
}

/// Builds the provider the configuration asks for. Relative file paths are resolved against
/// `base_dir` (warden-config already resolves them, so this matters only for hand-built
/// configs). The file provider is loaded and validated here, so a bad file fails startup.
pub fn from_config(
    config: &SecretsConfig,
    base_dir: &Path,
) -> Result<Arc<dyn SecretProvider>, SecretError> {
    match config {
        SecretsConfig::None => Ok(Arc::new(NoSecrets)),
        SecretsConfig::Env { prefix } => Ok(Arc::new(EnvProvider::new(prefix.clone())?)),
        SecretsConfig::File { path } => {
            let full = if path.is_absolute() {
                path.clone()
            } else {
                base_dir.join(path)
            };
            Ok(Arc::new(FileProvider::open(full)?))
        }
        #[cfg(feature = "aws")]
        SecretsConfig::Aws { region } => Ok(Arc::new(AwsProvider::new(AwsOptions {
            region: region.clone(),
            ..AwsOptions::default()
        })?)),
        #[cfg(not(feature = "aws"))]
        SecretsConfig::Aws { .. } => Err(SecretError::FeatureDisabled {
            provider: "aws",
            feature: "aws",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_secrets_fails_closed_and_names_the_secret() {
        let t = TenantId::new("acme").unwrap();
        let err = NoSecrets.get(&t, "ORDERS_API_KEY").await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("ORDERS_API_KEY") && msg.contains("acme"),
            "{msg}"
        );
        let err = NoSecrets
            .fetch_all(&t, &["A".to_string()])
            .await
            .unwrap_err();
        assert!(matches!(err, SecretError::Missing { .. }));
    }

    #[cfg(not(feature = "aws"))]
    #[test]
    fn aws_without_the_feature_names_the_feature() {
        let err = from_config(&SecretsConfig::Aws { region: None }, Path::new(".")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`aws`") && msg.contains("feature"), "{msg}");
    }
}
