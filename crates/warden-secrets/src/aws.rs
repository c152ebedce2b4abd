//! The AWS Secrets Manager provider (cargo feature `aws`): `GetSecretValue` through the AWS
//! SDK for Rust with the default credential chain, a per-tenant secret id template and a
//! short in-memory cache.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_sdk_secretsmanager::config::Region;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use warden_core::{Sensitive, TenantId};

use crate::{validate_secret_name, SecretError, SecretProvider};

/// The default secret id: one secret per tenant and name.
pub const DEFAULT_ID_TEMPLATE: &str = "warden/{tenant}/{name}";
/// How long a fetched value is reused before it is fetched again.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);

/// Options for [`AwsProvider`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsOptions {
    /// Region; `None` takes it from the default chain (`AWS_REGION`, profile, ...).
    pub region: Option<String>,
    /// Endpoint override, e.g. a VPC endpoint or a local server in tests.
    pub endpoint_url: Option<String>,
    /// Secret id template with `{tenant}` and `{name}`, each exactly once and not adjacent.
    pub id_template: String,
    /// Cache lifetime; zero disables the cache.
    pub cache_ttl: Duration,
    /// Upper bound on one GetSecretValue call, retries included.
    pub timeout: Duration,
}

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions {
            region: None,
            endpoint_url: None,
            id_template: DEFAULT_ID_TEMPLATE.to_string(),
            cache_ttl: DEFAULT_CACHE_TTL,
            timeout: Duration::from_secs(10),
        }
    }
}

/// (tenant, name) → (fetched at, value).
type Cache = HashMap<(TenantId, String), (Instant, Sensitive<String>)>;

/// Reads `SecretString` values from AWS Secrets Manager.
pub struct AwsProvider {
    options: AwsOptions,
    description: String,
    client: tokio::sync::OnceCell<aws_sdk_secretsmanager::Client>,
    cache: Mutex<Cache>,
}

impl fmt::Debug for AwsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.cache.lock().map(|c| c.len()).unwrap_or(0);
        f.debug_struct("AwsProvider")
            .field("options", &self.options)
            .field("cached", &cached)
            .finish_non_exhaustive()
    }
}

impl AwsProvider {
    /// Checks the options. The SDK client (credentials, region) is built on first use.
    pub fn new(options: AwsOptions) -> Result<Self, SecretError> {
        let t = &options.id_template;
        for ph in ["{tenant}", "{name}"] {
            if t.matches(ph).count() != 1 {
                return Err(SecretError::AwsConfig(format!(
                    "secret id template `{t}` must contain `{ph}` exactly once"
                )));
            }
        }
        let rest = t.replace("{tenant}", "").replace("{name}", "");
        if rest.contains('{') || rest.contains('}') {
            return Err(SecretError::AwsConfig(format!(
                "secret id template `{t}` has a placeholder other than `{{tenant}}` and `{{name}}`"
            )));
        }
        if t.contains("{tenant}{name}") || t.contains("{name}{tenant}") {
            return Err(SecretError::AwsConfig(format!(
                "secret id template `{t}` must separate `{{tenant}}` and `{{name}}` (e.g. with `/`) \
                 so two tenants can never share a secret id"
            )));
        }
        if let Some(url) = &options.endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(SecretError::AwsConfig(format!(
                    "endpoint_url `{url}` is not an http(s) URL"
                )));
            }
        }
        let description = format!(
            "aws secrets manager (region {}, ids `{}`)",
            options
                .region
                .as_deref()
                .unwrap_or("from the default chain"),
            options.id_template
        );
        Ok(AwsProvider {
            options,
            description,
            client: tokio::sync::OnceCell::new(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The secret id for `name` of `tenant`.
    pub fn secret_id(&self, tenant: &TenantId, name: &str) -> String {
        self.options
            .id_template
            .replace("{tenant}", tenant.as_str())
            .replace("{name}", name)
    }

    async fn client(&self) -> &aws_sdk_secretsmanager::Client {
        self.client
            .get_or_init(|| async {
                use aws_smithy_http_client::tls;
                let http = aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(
                        tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https();
                let timeouts = aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(self.options.timeout)
                    .build();
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .http_client(http)
                    .timeout_config(timeouts);
                if let Some(region) = &self.options.region {
                    loader = loader.region(Region::new(region.clone()));
                }
                if let Some(url) = &self.options.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                let sdk = loader.load().await;
                aws_sdk_secretsmanager::Client::new(&sdk)
            })
            .await
    }

    fn cached(&self, key: &(TenantId, String)) -> Option<Sensitive<String>> {
        if self.options.cache_ttl.is_zero() {
            return None;
        }
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.options.cache_ttl)
            .map(|(_, v)| v.clone())
    }
}

#[async_trait]
impl SecretProvider for AwsProvider {
    async fn get(&self, tenant: &TenantId, name: &str) -> Result<Sensitive<String>, SecretError> {
        validate_secret_name(name)?;
        let key = (tenant.clone(), name.to_string());
        if let Some(v) = self.cached(&key) {
            return Ok(v);
        }
        let secret_id = self.secret_id(tenant, name);
        let out = self
            .client()
            .await
            .get_secret_value()
            .secret_id(&secret_id)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                if let Some(GetSecretValueError::ResourceNotFoundException(_)) =
                    e.as_service_error()
                {
                    return Err(SecretError::Missing {
                        tenant: tenant.to_string(),
                        name: name.to_string(),
                        provider: format!("aws secrets manager (no secret `{secret_id}`)"),
                    });
                }
                return Err(SecretError::Aws {
                    tenant: tenant.to_string(),
                    name: name.to_string(),
                    secret_id,
                    message: DisplayErrorContext(&e).to_string(),
                });
            }
        };
        let value = match out.secret_string {
            Some(s) if s.is_empty() => {
                return Err(SecretError::Empty {
                    tenant: tenant.to_string(),
                    name: name.to_string(),
                    provider: format!("aws secrets manager (secret `{secret_id}`)"),
                })
            }
            Some(s) => Sensitive::new(s),
            None => {
                return Err(SecretError::AwsBinary {
                    tenant: tenant.to_string(),
                    name: name.to_string(),
                    secret_id,
                })
            }
        };
        if !self.options.cache_ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.retain(|_, (at, _)| at.elapsed() < self.options.cache_ttl);
            cache.insert(key, (Instant::now(), value.clone()));
        }
        Ok(value)
    }

    fn describe(&self) -> &str {
        &self.description
    }
}
