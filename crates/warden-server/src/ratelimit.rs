//! Per-tenant rate limits: requests per minute with burst (GCRA, `governor`), and model
//! tokens per minute (a token bucket that may go into debt after a call, so the next
//! request waits until the debt is repaid).

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warden_config::{RateLimit, RateLimitConfig};
use warden_core::TenantId;

type Direct = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    DefaultClock,
    governor::middleware::NoOpMiddleware,
>;

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Requests,
    Tokens,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Requests => "requests",
            LimitKind::Tokens => "tokens",
        }
    }
}

/// A refusal with the whole seconds after which a retry can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub kind: LimitKind,
    pub retry_after_secs: u64,
}

#[derive(Debug)]
struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    level: f64,
    last: Instant,
}

impl TokenBucket {
    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.level = (self.level + dt * self.per_sec).min(self.capacity);
        self.last = now;
    }
}

struct TenantLimits {
    requests: Direct,
    tokens: Mutex<TokenBucket>,
}

/// All tenants' limiters, created on first use from the tenant's effective limit.
pub struct RateLimits {
    config: RateLimitConfig,
    tenants: DashMap<TenantId, Arc<TenantLimits>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("tenants", &self.tenants.len())
            .finish()
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

impl RateLimits {
    pub fn new(config: RateLimitConfig) -> Self {
        RateLimits {
            config,
            tenants: DashMap::new(),
            clock: DefaultClock::default(),
        }
    }

    fn tenant(&self, tenant: &TenantId, used_tokens: impl FnOnce() -> u64) -> Arc<TenantLimits> {
        if let Some(t) = self.tenants.get(tenant) {
            return t.clone();
        }
        let limit: RateLimit = self.config.for_tenant(tenant);
        let quota = Quota::per_minute(nz(limit.requests_per_minute)).allow_burst(nz(limit.burst));
        let capacity = limit.tokens_per_minute as f64;
        let fresh = Arc::new(TenantLimits {
            requests: RateLimiter::direct(quota),
            tokens: Mutex::new(TokenBucket {
                capacity,
                per_sec: capacity / 60.0,
                level: capacity - used_tokens() as f64,
                last: Instant::now(),
            }),
        });
        self.tenants.entry(tenant.clone()).or_insert(fresh).clone()
    }

    /// Admits or refuses one request. `used_tokens` seeds a new tenant's token bucket with
    /// the usage already recorded in the current minute (after a restart).
    pub fn check(
        &self,
        tenant: &TenantId,
        used_tokens: impl FnOnce() -> u64,
    ) -> Result<(), Limited> {
        let t = self.tenant(tenant, used_tokens);
        {
            let mut bucket = t.tokens.lock().unwrap_or_else(|p| p.into_inner());
            bucket.refill(Instant::now());
            // A request needs at least one token of budget left.
            if bucket.level < 1.0 {
                let wait = (1.0 - bucket.level) / bucket.per_sec.max(f64::MIN_POSITIVE);
                return Err(Limited {
                    kind: LimitKind::Tokens,
                    retry_after_secs: ceil_secs(Duration::from_secs_f64(wait.min(3600.0))),
                });
            }
        }
        t.requests.check().map_err(|not_until| Limited {
            kind: LimitKind::Requests,
            retry_after_secs: ceil_secs(not_until.wait_time_from(self.clock.now())),
        })
    }

    /// Charges model tokens after a call.
    pub fn charge_tokens(&self, tenant: &TenantId, tokens: u64) {
        let t = self.tenant(tenant, || 0);
        let mut bucket = t.tokens.lock().unwrap_or_else(|p| p.into_inner());
        bucket.refill(Instant::now());
        bucket.level -= tokens as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn limits(rpm: u32, burst: u32, tpm: u64) -> RateLimits {
        RateLimits::new(RateLimitConfig {
            default: RateLimit {
                requests_per_minute: rpm,
                burst,
                tokens_per_minute: tpm,
            },
            tenants: BTreeMap::new(),
        })
    }

    #[test]
    fn burst_then_refusal_with_retry_after() {
        let l = limits(60, 3, 1_000_000);
        let t = TenantId::new("acme").unwrap();
        for _ in 0..3 {
            l.check(&t, || 0).unwrap();
        }
        let refused = l.check(&t, || 0).unwrap_err();
        assert_eq!(refused.kind, LimitKind::Requests);
        assert_eq!(
            refused.retry_after_secs, 1,
            "one request per second refills"
        );
        // Another tenant is unaffected.
        l.check(&TenantId::new("globex").unwrap(), || 0).unwrap();
    }

    #[test]
    fn token_debt_blocks_until_repaid() {
        let l = limits(600, 50, 600);
        let t = TenantId::new("acme").unwrap();
        l.check(&t, || 0).unwrap();
        l.charge_tokens(&t, 1200);
        let refused = l.check(&t, || 0).unwrap_err();
        assert_eq!(refused.kind, LimitKind::Tokens);
        // 600 tokens of debt plus one at 10 tokens/s: about a minute.
        assert!((59..=61).contains(&refused.retry_after_secs), "{refused:?}");
    }

    #[test]
    fn recorded_usage_seeds_the_bucket() {
        let l = limits(600, 50, 1000);
        let t = TenantId::new("acme").unwrap();
        assert_eq!(l.check(&t, || 1000).unwrap_err().kind, LimitKind::Tokens);
    }
}
