//! Validated identifiers: tenants, agents, sessions and requests.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} is longer than {max} characters")]
    TooLong { kind: &'static str, max: usize },
    #[error("{kind} `{value}` contains characters outside [A-Za-z0-9._:-]")]
    BadChar { kind: &'static str, value: String },
}

/// The longest identifier accepted anywhere.
pub const MAX_ID_LEN: usize = 128;

fn validate(kind: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > MAX_ID_LEN {
        return Err(IdError::TooLong {
            kind,
            max: MAX_ID_LEN,
        });
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        let shown: String = value.chars().take(40).collect();
        return Err(IdError::BadChar { kind, value: shown });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps an identifier.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                validate($kind, &value)?;
                Ok($name(value))
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                $name::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// A tenant. Comes only from an authenticated credential, never from a request body.
    TenantId,
    "tenant id"
);
id_type!(
    /// An agent configured in `[agents.NAME]`.
    AgentId,
    "agent id"
);
id_type!(
    /// A conversation session chosen by the client, always scoped by tenant.
    SessionId,
    "session id"
);
id_type!(
    /// A request id, returned in every error body and the `x-request-id` header.
    RequestId,
    "request id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_ids_and_rejects_hostile_ones() {
        assert!(TenantId::new("acme").is_ok());
        assert!(SessionId::new("s-1.2:3_x").is_ok());
        assert_eq!(TenantId::new(""), Err(IdError::Empty { kind: "tenant id" }));
        assert!(matches!(TenantId::new("a/b"), Err(IdError::BadChar { .. })));
        assert!(matches!(
            TenantId::new("x".repeat(129)),
            Err(IdError::TooLong { .. })
        ));
        assert!(matches!(
            AgentId::new("drop table;"),
            Err(IdError::BadChar { .. })
        ));
    }

    #[test]
    fn serde_validates() {
        let ok: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(ok.as_str(), "acme");
        assert!(serde_json::from_str::<TenantId>("\"a b\"").is_err());
    }
}
