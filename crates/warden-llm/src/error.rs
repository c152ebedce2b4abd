//! `LlmError`: why a model call failed, in terms a caller can act on (retry, fix, alert).

use std::time::Duration;

/// Why a chat call failed. Messages name the provider, status and field at fault; they never
/// contain API keys, credentials or request bodies.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// No complete answer within the call's deadline (all attempts and back-off included).
    #[error("no answer from {provider} within {} ms", after.as_millis())]
    Timeout { provider: String, after: Duration },
    /// The provider refused for rate or capacity reasons, and retries did not get through.
    #[error("{provider} throttled the request{}: {message}", retry_after.map(|d| format!(" (retry after {} ms)", d.as_millis())).unwrap_or_default())]
    Throttled {
        provider: String,
        retry_after: Option<Duration>,
        message: String,
    },
    /// The request is wrong (rejected by the provider, or refused before sending).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Credentials are missing, wrong or lack permission.
    #[error("authentication or authorization failed: {0}")]
    Auth(String),
    /// The provider answered, but not in a shape this client accepts.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// The request did not reach the provider, or the provider failed (5xx, reset, DNS).
    #[error("transport: {0}")]
    Transport(String),
    /// The request's `max_tokens` is over the configured per-call token budget.
    #[error("max_tokens {requested} is over the per-call token budget of {budget}")]
    BudgetExceeded { requested: u32, budget: u32 },
}

impl LlmError {
    /// Whether another attempt may succeed: throttling, transport failures and 5xx answers.
    pub fn is_retryable(&self) -> bool {
        matches!(self, LlmError::Throttled { .. } | LlmError::Transport(_))
    }

    /// The provider's requested wait, for throttling errors that carried one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Shortens provider-supplied text (error bodies) to at most `max` characters for messages.
pub(crate) fn snippet(text: &str, max: usize) -> String {
    let trimmed = text.trim();
    match trimmed.char_indices().nth(max) {
        None => trimmed.to_string(),
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_cuts_on_char_boundaries() {
        assert_eq!(snippet("  abc  ", 10), "abc");
        assert_eq!(snippet("ééééé", 3), "ééé…");
    }

    #[test]
    fn only_throttling_and_transport_are_retryable() {
        let throttled = LlmError::Throttled {
            provider: "p".into(),
            retry_after: Some(Duration::from_secs(2)),
            message: "slow down".into(),
        };
        assert!(throttled.is_retryable());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(
            throttled.to_string(),
            "p throttled the request (retry after 2000 ms): slow down"
        );
        assert!(LlmError::Transport("reset".into()).is_retryable());
        assert!(!LlmError::BadRequest("x".into()).is_retryable());
        assert!(!LlmError::Auth("x".into()).is_retryable());
        assert!(!LlmError::BudgetExceeded {
            requested: 2,
            budget: 1
        }
        .is_retryable());
    }
}
