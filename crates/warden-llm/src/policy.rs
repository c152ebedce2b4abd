//! Call bounds shared by every client: deadline, retries with back-off, token budget, body cap.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::{ChatRequest, LlmError};

/// How one `chat` call is bounded.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPolicy {
    /// Deadline for the whole call: every attempt and every back-off sleep.
    pub timeout: Duration,
    /// Attempts in total (1 means no retry). Only throttling, transport errors and 5xx retry.
    pub max_attempts: u32,
    /// First back-off; doubles per retry, with jitter, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is not waited for: the call fails as throttled.
    pub max_retry_after: Duration,
    /// Requests asking for more than this many output tokens are refused before sending.
    pub max_tokens_budget: u32,
    /// Response bodies larger than this are refused.
    pub max_response_bytes: usize,
}

impl Default for CallPolicy {
    fn default() -> Self {
        CallPolicy {
            timeout: Duration::from_secs(60),
            max_attempts: 3,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(20),
            max_tokens_budget: 8192,
            max_response_bytes: 4 * 1024 * 1024,
        }
    }
}

impl CallPolicy {
    /// Refuses a request whose `max_tokens` is zero or over the budget.
    pub fn check_budget(&self, req: &ChatRequest) -> Result<(), LlmError> {
        if req.max_tokens == 0 {
            return Err(LlmError::BadRequest("max_tokens must be at least 1".into()));
        }
        if req.max_tokens > self.max_tokens_budget {
            return Err(LlmError::BudgetExceeded {
                requested: req.max_tokens,
                budget: self.max_tokens_budget,
            });
        }
        Ok(())
    }

    /// The back-off before retry number `retry` (1-based): exponential, capped, with jitter
    /// drawn from the upper half so waits never collapse to zero.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let capped = exp.min(self.max_backoff);
        let half = capped / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// Runs `attempt` under this policy: retries retryable errors with back-off (honouring a
    /// provider's `Retry-After`), and ends the call with `Timeout` at the deadline.
    pub async fn run<F, Fut, T>(&self, provider: &str, mut attempt: F) -> Result<T, LlmError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, LlmError>>,
    {
        let deadline = Instant::now() + self.timeout;
        let timeout = || LlmError::Timeout {
            provider: provider.to_string(),
            after: self.timeout,
        };
        let attempts = self.max_attempts.max(1);
        let mut n = 0;
        loop {
            n += 1;
            let result = tokio::time::timeout_at(deadline, attempt())
                .await
                .map_err(|_| timeout())?;
            let err = match result {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            if !err.is_retryable() || n >= attempts {
                return Err(err);
            }
            let wait = match err.retry_after() {
                Some(asked) if asked > self.max_retry_after => return Err(err),
                Some(asked) => asked.max(self.backoff(n) / 4),
                None => self.backoff(n),
            };
            if Instant::now() + wait >= deadline {
                // Waiting would overrun the deadline: the provider's error is the better answer.
                return Err(err);
            }
            tracing::debug!(provider, attempt = n, wait_ms = wait.as_millis() as u64, error = %err, "retrying model call");
            tokio::time::sleep(wait).await;
        }
    }
}

/// Parses a `Retry-After` value: delay seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if (0.0..86_400.0).contains(&secs) {
            return Some(Duration::from_secs_f64(secs));
        }
        return None;
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> CallPolicy {
        CallPolicy {
            timeout: Duration::from_secs(5),
            max_attempts: 3,
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            max_retry_after: Duration::from_secs(1),
            max_tokens_budget: 100,
            max_response_bytes: 1024,
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = CallPolicy {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..policy()
        };
        for _ in 0..50 {
            let first = p.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = p.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let tenth = p.backoff(10);
            assert!(tenth >= Duration::from_millis(500) && tenth <= Duration::from_millis(1000));
            assert!(p.backoff(u32::MAX) <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        let d = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120));
    }

    #[test]
    fn budget_refuses_over_budget_and_zero() {
        let p = policy();
        let mut req = crate::ChatRequest {
            system: String::new(),
            messages: vec![],
            tools: vec![],
            max_tokens: 100,
            temperature: None,
            cache_prompt: false,
        };
        assert!(p.check_budget(&req).is_ok());
        req.max_tokens = 101;
        assert_eq!(
            p.check_budget(&req),
            Err(LlmError::BudgetExceeded {
                requested: 101,
                budget: 100
            })
        );
        req.max_tokens = 0;
        assert!(matches!(p.check_budget(&req), Err(LlmError::BadRequest(_))));
    }

    #[tokio::test]
    async fn retries_transport_errors_then_succeeds() {
        let calls = AtomicU32::new(0);
        let out = policy()
            .run("test", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(LlmError::Transport("reset".into()))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(out, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_and_never_retries_bad_requests() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = policy()
            .run("test", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(LlmError::Transport("reset".into()))
            })
            .await;
        assert_eq!(out, Err(LlmError::Transport("reset".into())));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let out: Result<(), _> = policy()
            .run("test", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(LlmError::BadRequest("no".into()))
            })
            .await;
        assert!(matches!(out, Err(LlmError::BadRequest(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_retry_after_over_the_cap_is_not_waited_for() {
        let calls = AtomicU32::new(0);
        let started = std::time::Instant::now();
        let out: Result<(), _> = policy()
            .run("test", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(LlmError::Throttled {
                    provider: "test".into(),
                    retry_after: Some(Duration::from_secs(30)),
                    message: "later".into(),
                })
            })
            .await;
        assert!(matches!(out, Err(LlmError::Throttled { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn the_deadline_covers_a_hanging_attempt() {
        let p = CallPolicy {
            timeout: Duration::from_millis(50),
            ..policy()
        };
        let out: Result<(), _> = p
            .run("slow", || async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(())
            })
            .await;
        assert_eq!(
            out,
            Err(LlmError::Timeout {
                provider: "slow".into(),
                after: Duration::from_millis(50)
            })
        );
    }
}
