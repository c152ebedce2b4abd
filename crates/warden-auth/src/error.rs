//! Authentication errors: a stable code for metrics and audit, and a message safe for clients.

/// Why a credential was refused. Messages never echo secrets or whole tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing credentials: send `Authorization: Bearer <jwt>` or an AWS SigV4 signature")]
    Missing,
    #[error("unsupported authorization scheme: use `Bearer` or `AWS4-HMAC-SHA256`")]
    UnsupportedScheme,
    #[error("token is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("token algorithm `none` is not accepted")]
    AlgNone,
    #[error("token algorithm `{0}` is not supported")]
    UnsupportedAlg(String),
    #[error("token key id `{0}` is not known")]
    UnknownKid(String),
    #[error("token algorithm `{token}` does not match the key's algorithm `{key}`")]
    AlgorithmMismatch { token: String, key: String },
    #[error("no configured key accepts algorithm `{0}`")]
    NoKeyForAlg(String),
    #[error("invalid token signature")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token issuer is not accepted")]
    WrongIssuer,
    #[error("token audience is not accepted")]
    WrongAudience,
    #[error("token lacks required claim `{0}`")]
    MissingClaim(String),
    #[error("token claim `{claim}` is not a valid tenant id: {reason}")]
    BadTenant { claim: String, reason: String },
    #[error("malformed SigV4 authorization: {0}")]
    SigV4Malformed(String),
    #[error("unknown access key id")]
    UnknownAccessKey,
    #[error("request time is outside the allowed 15 minute window")]
    SigV4Skew,
    #[error("the request signature does not match")]
    SigV4Mismatch,
}

impl AuthError {
    /// A short stable code for metrics, audit records and the `WWW-Authenticate` header.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::UnsupportedScheme => "unsupported_scheme",
            AuthError::TooLarge { .. } => "too_large",
            AuthError::Malformed(_) => "malformed",
            AuthError::AlgNone => "alg_none",
            AuthError::UnsupportedAlg(_) => "unsupported_alg",
            AuthError::UnknownKid(_) => "unknown_kid",
            AuthError::AlgorithmMismatch { .. } => "alg_mismatch",
            AuthError::NoKeyForAlg(_) => "no_key_for_alg",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::MissingClaim(_) => "missing_claim",
            AuthError::BadTenant { .. } => "bad_tenant",
            AuthError::SigV4Malformed(_) => "sigv4_malformed",
            AuthError::UnknownAccessKey => "unknown_access_key",
            AuthError::SigV4Skew => "sigv4_skew",
            AuthError::SigV4Mismatch => "sigv4_mismatch",
        }
    }

    /// The value of the `WWW-Authenticate` header for this refusal (RFC 6750).
    pub fn www_authenticate(&self) -> String {
        match self {
            AuthError::Missing | AuthError::UnsupportedScheme => {
                "Bearer realm=\"warden\"".to_string()
            }
            other => format!(
                "Bearer realm=\"warden\", error=\"invalid_token\", error_description=\"{}\"",
                other.code()
            ),
        }
    }
}
