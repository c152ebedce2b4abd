//! The front door's decision for one request — authenticate, check the kill switch, apply
//! the tenant's rate limit — as a synchronous function over the request's parts, so it can
//! be benchmarked and tested without sockets.

use crate::killswitch::{Engaged, KillSwitch};
use crate::ratelimit::{Limited, RateLimits};
use std::sync::Arc;
use warden_auth::{AuthError, Authenticator, SigV4Request};
use warden_core::{AgentId, Principal};
use warden_store::Store;

/// Why the front door refused.
#[derive(Debug, Clone)]
pub enum Refusal {
    Auth(AuthError),
    /// The kill switch stopped an authenticated principal.
    Killed(Engaged, Box<Principal>),
    /// A rate limit refused an authenticated principal.
    Limited(Limited, Box<Principal>),
}

impl Refusal {
    /// The authenticated principal, when authentication succeeded.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Refusal::Auth(_) => None,
            Refusal::Killed(_, p) | Refusal::Limited(_, p) => Some(p),
        }
    }
}

/// Authentication, kill switch and rate limits.
#[derive(Debug)]
pub struct FrontDoor {
    pub auth: Authenticator,
    pub kill: Arc<KillSwitch>,
    pub limits: RateLimits,
    pub store: Arc<dyn Store>,
}

/// The minute window token usage is recorded under.
pub fn token_window(now: u64) -> u64 {
    now / 60
}

impl FrontDoor {
    /// Decides whether a request may proceed to model or tool work.
    pub fn decide(
        &self,
        req: &SigV4Request<'_>,
        agent: Option<&AgentId>,
    ) -> Result<Principal, Refusal> {
        let principal = self.auth.authenticate(req).map_err(Refusal::Auth)?;
        if let Some(engaged) = self.kill.load().check(&principal.tenant, agent) {
            return Err(Refusal::Killed(engaged.clone(), Box::new(principal)));
        }
        let store = &self.store;
        let tenant = &principal.tenant;
        let limited = self.limits.check(tenant, || {
            store.tokens(tenant, token_window(req.now)).unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot read recorded token usage; starting from zero");
                0
            })
        });
        match limited {
            Ok(()) => Ok(principal),
            Err(l) => Err(Refusal::Limited(l, Box::new(principal))),
        }
    }
}
