//! Attribution: mapping a sandbox cell's source address to the invocation it currently runs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use crate::allow::Allowlist;
use crate::event::Observation;

/// Enforcement mode for one tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Refuse what the allowlist does not permit.
    Enforce,
    /// Allow, but record decision `report` for what enforce mode would refuse.
    Report,
}

/// The invocation a cell is running right now.
#[derive(Debug, Clone)]
pub struct InvocationContext {
    /// Invocation id.
    pub invocation_id: String,
    /// Tool name.
    pub tool: String,
    /// Tenant id (from the authenticated principal).
    pub tenant: String,
    /// Hosts the tool may reach.
    pub allowlist: Allowlist,
    /// Enforce or report.
    pub mode: Mode,
    /// Isolated cell or cooperative proxy environment.
    pub observation: Observation,
}

/// Maps a client source IP to its invocation context. `None` means unattributed: drop and report.
pub trait Attributor: Send + Sync + 'static {
    /// Look up the invocation currently bound to `source`.
    fn attribute(&self, source: IpAddr) -> Option<Arc<InvocationContext>>;
}

/// A concurrent map from cell address to invocation, updated by the broker as cells are
/// assigned and released.
#[derive(Debug, Clone, Default)]
pub struct AttributionTable {
    inner: Arc<RwLock<HashMap<IpAddr, Arc<InvocationContext>>>>,
}

impl AttributionTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bind `source` to an invocation, replacing any previous binding; returns the previous one.
    pub fn register(
        &self,
        source: IpAddr,
        ctx: InvocationContext,
    ) -> Option<Arc<InvocationContext>> {
        self.inner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(source, Arc::new(ctx))
    }

    /// Remove the binding for `source` (the cell was released).
    pub fn unregister(&self, source: IpAddr) -> Option<Arc<InvocationContext>> {
        self.inner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&source)
    }
}

impl Attributor for AttributionTable {
    fn attribute(&self, source: IpAddr) -> Option<Arc<InvocationContext>> {
        let ip = match source {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(source),
            v4 => v4,
        };
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ip)
            .cloned()
    }
}
