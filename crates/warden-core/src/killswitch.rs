//! Kill-switch scopes: `global`, `tenant:T`, `agent:A`.

use crate::ids::{AgentId, IdError, TenantId};
use std::fmt;
use std::str::FromStr;

/// What a kill-switch entry stops.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum KillScope {
    /// Every request to the data plane.
    Global,
    /// Every request authenticated as this tenant.
    Tenant(TenantId),
    /// Every request addressed to this agent, whatever the tenant.
    Agent(AgentId),
}

/// Why a scope string is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KillScopeError {
    #[error("scope `{0}` is not one of `global`, `tenant:ID`, `agent:ID`")]
    Unknown(String),
    #[error("scope `{scope}`: {source}")]
    BadId { scope: String, source: IdError },
}

impl FromStr for KillScope {
    type Err = KillScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad_id = |source| KillScopeError::BadId {
            scope: s.to_string(),
            source,
        };
        if s == "global" {
            Ok(KillScope::Global)
        } else if let Some(tenant) = s.strip_prefix("tenant:") {
            TenantId::new(tenant).map(KillScope::Tenant).map_err(bad_id)
        } else if let Some(agent) = s.strip_prefix("agent:") {
            AgentId::new(agent).map(KillScope::Agent).map_err(bad_id)
        } else {
            Err(KillScopeError::Unknown(s.chars().take(64).collect()))
        }
    }
}

impl fmt::Display for KillScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KillScope::Global => f.write_str("global"),
            KillScope::Tenant(t) => write!(f, "tenant:{t}"),
            KillScope::Agent(a) => write!(f, "agent:{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in ["global", "tenant:acme", "agent:support"] {
            assert_eq!(s.parse::<KillScope>().unwrap().to_string(), s);
        }
        assert!(matches!(
            "tenant:".parse::<KillScope>(),
            Err(KillScopeError::BadId { .. })
        ));
        assert!(matches!(
            "everything".parse::<KillScope>(),
            Err(KillScopeError::Unknown(_))
        ));
    }
}
