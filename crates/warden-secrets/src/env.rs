//! The environment provider: secret `NAME` of tenant `T` is the variable `{prefix}{KEY(T)}_{NAME}`.
//!
//! `KEY(T)` is the tenant id with ASCII letters upper-cased and every byte that is not an
//! ASCII letter or digit replaced by `_`: tenant `acme` → `ACME`, `eu.acme-2` → `EU_ACME_2`.
//! With the default prefix, `acme`'s `ORDERS_API_KEY` is `WARDEN_SECRET_ACME_ORDERS_API_KEY`.
//!
//! The mapping is lossy, so two tenants can reach the same variable: `a-b`, `a_b`, `A.B`
//! all map to `A_B`; and because `_` also separates tenant from name, tenant `a` with secret
//! `B_C` and tenant `a-b` with secret `C` both read `…A_B_C`. The provider remembers which
//! tenant each key belongs to (declared up front with [`EnvProvider::with_tenants`], or on
//! first use) and refuses any tenant whose key equals another tenant's key or extends it
//! with `_` ([`SecretError::AmbiguousTenant`]), so one tenant can never read another's value.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use warden_core::{Sensitive, TenantId};

use crate::{validate_secret_name, SecretError, SecretProvider};

/// Reads secrets from the process environment.
pub struct EnvProvider {
    prefix: String,
    description: String,
    /// Tenant key → the tenant that owns it.
    claims: Mutex<BTreeMap<String, TenantId>>,
}

impl fmt::Debug for EnvProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvProvider")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl EnvProvider {
    /// A provider reading `{prefix}{TENANT}_{NAME}`. The prefix must match `[A-Z0-9_]*` and
    /// not start with a digit.
    pub fn new(prefix: impl Into<String>) -> Result<Self, SecretError> {
        let prefix = prefix.into();
        let ok = prefix
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            && !prefix.as_bytes().first().is_some_and(u8::is_ascii_digit);
        if !ok {
            return Err(SecretError::BadPrefix { prefix });
        }
        Ok(EnvProvider {
            description: format!("environment (variables `{prefix}<TENANT>_<NAME>`)"),
            prefix,
            claims: Mutex::new(BTreeMap::new()),
        })
    }

    /// A provider that knows every tenant up front and refuses to start if two of them are
    /// ambiguous (see the module docs).
    pub fn with_tenants<'a>(
        prefix: impl Into<String>,
        tenants: impl IntoIterator<Item = &'a TenantId>,
    ) -> Result<Self, SecretError> {
        let provider = Self::new(prefix)?;
        for t in tenants {
            provider.claim(t)?;
        }
        Ok(provider)
    }

    /// The variable-name part for a tenant: ASCII upper-cased, non-alphanumerics → `_`.
    pub fn tenant_key(tenant: &TenantId) -> String {
        tenant
            .as_str()
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    b.to_ascii_uppercase() as char
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// The environment variable that holds `name` for `tenant`, after checking the name and
    /// that the tenant is not ambiguous with a tenant seen before.
    pub fn variable_name(&self, tenant: &TenantId, name: &str) -> Result<String, SecretError> {
        validate_secret_name(name)?;
        let key = self.claim(tenant)?;
        Ok(format!("{}{}_{}", self.prefix, key, name))
    }

    /// Records that `tenant` owns its key, refusing it if another tenant's key collides.
    fn claim(&self, tenant: &TenantId) -> Result<String, SecretError> {
        let key = Self::tenant_key(tenant);
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(owner) = claims.get(&key) {
            if owner == tenant {
                return Ok(key);
            }
        }
        let prefixed = format!("{key}_");
        for (other_key, other) in claims.iter() {
            if other == tenant {
                continue;
            }
            if *other_key == key
                || other_key.starts_with(&prefixed)
                || key.starts_with(&format!("{other_key}_"))
            {
                return Err(SecretError::AmbiguousTenant {
                    tenant: tenant.to_string(),
                    key,
                    other: other.to_string(),
                    other_key: other_key.clone(),
                });
            }
        }
        claims.insert(key.clone(), tenant.clone());
        Ok(key)
    }
}

#[async_trait]
impl SecretProvider for EnvProvider {
    async fn get(&self, tenant: &TenantId, name: &str) -> Result<Sensitive<String>, SecretError> {
        let variable = self.variable_name(tenant, name)?;
        match std::env::var(&variable) {
            Ok(v) if v.is_empty() => Err(SecretError::Empty {
                tenant: tenant.to_string(),
                name: name.to_string(),
                provider: format!("environment variable `{variable}`"),
            }),
            Ok(v) => Ok(Sensitive::new(v)),
            Err(std::env::VarError::NotPresent) => Err(SecretError::Missing {
                tenant: tenant.to_string(),
                name: name.to_string(),
                provider: format!("the environment (variable `{variable}` is not set)"),
            }),
            Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::NotUnicode { variable }),
        }
    }

    fn describe(&self) -> &str {
        &self.description
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::new(s).unwrap()
    }

    #[test]
    fn maps_tenants_as_documented() {
        assert_eq!(EnvProvider::tenant_key(&t("acme")), "ACME");
        assert_eq!(EnvProvider::tenant_key(&t("eu.acme-2")), "EU_ACME_2");
        assert_eq!(EnvProvider::tenant_key(&t("a:b_c")), "A_B_C");
        let p = EnvProvider::new("WARDEN_SECRET_").unwrap();
        assert_eq!(
            p.variable_name(&t("acme"), "ORDERS_API_KEY").unwrap(),
            "WARDEN_SECRET_ACME_ORDERS_API_KEY"
        );
    }

    #[test]
    fn refuses_bad_prefixes() {
        for bad in ["lower_", "A-B_", "1X_"] {
            assert!(
                matches!(EnvProvider::new(bad), Err(SecretError::BadPrefix { .. })),
                "{bad}"
            );
        }
        assert!(EnvProvider::new("").is_ok());
    }

    #[test]
    fn ambiguous_tenants_are_refused_up_front() {
        let err = EnvProvider::with_tenants("P_", [&t("a-b"), &t("a_b")]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`a_b`") && msg.contains("`a-b`"), "{msg}");
        // A tenant whose key extends another's with `_` is refused too.
        assert!(EnvProvider::with_tenants("P_", [&t("a"), &t("a.b")]).is_err());
        assert!(EnvProvider::with_tenants("P_", [&t("a.b"), &t("a")]).is_err());
        // Unrelated and merely similar keys are fine.
        assert!(EnvProvider::with_tenants("P_", [&t("ab"), &t("a"), &t("abc")]).is_ok());
    }

    #[test]
    fn ambiguous_tenants_are_refused_on_use() {
        let p = EnvProvider::new("P_").unwrap();
        p.variable_name(&t("a-b"), "K").unwrap();
        let err = p.variable_name(&t("a_b"), "K").unwrap_err();
        assert!(matches!(err, SecretError::AmbiguousTenant { .. }));
        // The first owner keeps working.
        assert!(p.variable_name(&t("a-b"), "K").is_ok());
    }
}
