//! The authenticated principal: who is calling, for which tenant, proven how.

use crate::ids::TenantId;

/// How the principal proved its identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// A JWT bearer token, verified with the key `kid` (if the token named one) and `alg`.
    Jwt { kid: Option<String>, alg: String },
    /// An AWS SigV4 signature made with a configured access key.
    SigV4 { access_key_id: String },
}

/// An authenticated caller. The tenant here is the only tenant scope Warden trusts.
#[derive(Clone, Debug)]
pub struct Principal {
    /// Tenant from the configured claim, or the tenant of the SigV4 access key.
    pub tenant: TenantId,
    /// The token's subject (`sub`), or the access key id for SigV4.
    pub subject: String,
    /// How the caller authenticated.
    pub method: AuthMethod,
    /// The verified token claims (empty for SigV4), for policy decisions later on.
    pub claims: serde_json::Map<String, serde_json::Value>,
}
