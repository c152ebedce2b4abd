//! The kill switch as the data plane sees it: an in-memory snapshot swapped atomically,
//! refreshed from the store every 200 ms (so a flip made by any process takes effect within
//! a second) and immediately after a flip through this server's admin API.

use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::Arc;
use warden_core::{AgentId, KillScope, TenantId};
use warden_store::{KillEntry, Store, StoreError};

/// How often the store's generation is polled.
pub const POLL_INTERVAL_MS: u64 = 200;

/// An enabled scope's reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Engaged {
    pub scope: KillScope,
    pub reason: String,
}

/// The enabled scopes, indexed for an O(1) check per request.
#[derive(Debug, Default)]
pub struct KillSnapshot {
    pub generation: u64,
    global: Option<Engaged>,
    tenants: HashMap<TenantId, Engaged>,
    agents: HashMap<AgentId, Engaged>,
    pub entries: Vec<KillEntry>,
}

impl KillSnapshot {
    pub fn from_entries(generation: u64, entries: Vec<KillEntry>) -> Self {
        let mut snap = KillSnapshot {
            generation,
            ..Default::default()
        };
        for e in &entries {
            if !e.enabled {
                continue;
            }
            let engaged = Engaged {
                scope: e.scope.clone(),
                reason: e.reason.clone(),
            };
            match &e.scope {
                KillScope::Global => snap.global = Some(engaged),
                KillScope::Tenant(t) => {
                    snap.tenants.insert(t.clone(), engaged);
                }
                KillScope::Agent(a) => {
                    snap.agents.insert(a.clone(), engaged);
                }
            }
        }
        snap.entries = entries;
        snap
    }

    /// The scope that stops this request, if any; global wins, then tenant, then agent.
    pub fn check(&self, tenant: &TenantId, agent: Option<&AgentId>) -> Option<&Engaged> {
        self.global
            .as_ref()
            .or_else(|| self.tenants.get(tenant))
            .or_else(|| agent.and_then(|a| self.agents.get(a)))
    }

    pub fn is_engaged(&self, scope: &KillScope) -> bool {
        match scope {
            KillScope::Global => self.global.is_some(),
            KillScope::Tenant(t) => self.tenants.contains_key(t),
            KillScope::Agent(a) => self.agents.contains_key(a),
        }
    }
}

/// The shared, hot-swappable snapshot.
#[derive(Debug, Default)]
pub struct KillSwitch {
    snapshot: ArcSwap<KillSnapshot>,
}

impl KillSwitch {
    pub fn load(&self) -> arc_swap::Guard<Arc<KillSnapshot>> {
        self.snapshot.load()
    }

    /// Reloads from the store if its generation moved; returns whether it changed.
    pub fn refresh(&self, store: &dyn Store) -> Result<bool, StoreError> {
        let generation = store.generation()?;
        if generation == self.snapshot.load().generation && generation != 0 {
            return Ok(false);
        }
        let entries = store.entries()?;
        self.snapshot
            .store(Arc::new(KillSnapshot::from_entries(generation, entries)));
        Ok(true)
    }
}
