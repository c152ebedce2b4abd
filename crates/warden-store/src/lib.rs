//! Storage behind traits: kill-switch state, token usage, session memory and the verdict
//! index. One conformance suite ([`conformance`]) states what every backend must do; the
//! embedded default is SQLite in WAL mode ([`SqliteStore`]).
//!
//! The traits are synchronous: callers on an async runtime use `spawn_blocking` or a
//! dedicated thread, never call them on a reactor thread.

pub mod conformance;
mod sqlite;

pub use sqlite::SqliteStore;

use warden_core::{AgentId, KillScope, SessionId, TenantId};

/// A storage failure. Callers fail closed on it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Backend(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// One change of a kill-switch scope, as requested by an operator.
#[derive(Debug, Clone, PartialEq)]
pub struct KillFlip {
    pub scope: KillScope,
    pub enabled: bool,
    pub reason: String,
    /// Who flipped it: `admin-api`, `cli:<user>`, …
    pub actor: String,
    /// RFC 3339.
    pub at: String,
}

/// The current state of one scope.
#[derive(Debug, Clone, PartialEq)]
pub struct KillEntry {
    pub scope: KillScope,
    pub enabled: bool,
    pub reason: String,
    pub actor: String,
    pub updated_at: String,
}

/// Kill-switch state shared by every Warden process using the same store.
pub trait KillSwitchStore: Send + Sync {
    /// Records a flip and its event; returns the new generation.
    fn flip(&self, flip: &KillFlip) -> Result<u64, StoreError>;
    /// Every scope ever set, enabled or not.
    fn entries(&self) -> Result<Vec<KillEntry>, StoreError>;
    /// A number that changes whenever any entry changes; cheap enough to poll often.
    fn generation(&self) -> Result<u64, StoreError>;
    /// Flips not yet written to the audit log (made while no audit writer was attached).
    fn unaudited_flips(&self) -> Result<Vec<(i64, KillFlip)>, StoreError>;
    /// Marks flips as audited.
    fn mark_audited(&self, ids: &[i64]) -> Result<(), StoreError>;
}

/// Model-token usage per tenant and minute window, persisted so a restart does not reset it.
pub trait UsageStore: Send + Sync {
    /// Adds tokens to a window and returns the window's new total.
    fn add_tokens(&self, tenant: &TenantId, window: u64, tokens: u64) -> Result<u64, StoreError>;
    fn tokens(&self, tenant: &TenantId, window: u64) -> Result<u64, StoreError>;
}

/// The key of a conversation: always scoped by tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub tenant: TenantId,
    pub agent: AgentId,
    pub session: SessionId,
}

/// Stored session memory (opaque JSON owned by the agent runtime).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub data: String,
    /// Seconds since the Unix epoch.
    pub updated_at: u64,
}

/// Conversation memory.
pub trait SessionStore: Send + Sync {
    /// The session if it exists and was updated within `idle_secs` of `now`.
    fn load_session(
        &self,
        key: &SessionKey,
        now: u64,
        idle_secs: u64,
    ) -> Result<Option<SessionRecord>, StoreError>;
    fn save_session(&self, key: &SessionKey, record: &SessionRecord) -> Result<(), StoreError>;
    fn delete_session(&self, key: &SessionKey) -> Result<bool, StoreError>;
    /// Deletes sessions idle since before `cutoff`; returns how many.
    fn expire_sessions(&self, cutoff: u64) -> Result<usize, StoreError>;
}

/// One verdict, as indexed for listing (the fields of the export record only).
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictRow {
    pub invocation_id: String,
    pub tenant: String,
    pub agent: String,
    pub session: String,
    pub decision: String,
    pub confidence: f64,
    pub rules: Vec<String>,
    pub reason: String,
    pub decided_at: String,
}

/// Which verdicts to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct VerdictFilter {
    pub tenant: Option<String>,
    pub decision: Option<String>,
    pub limit: usize,
}

/// An index of verdicts for the admin API and the control plane.
pub trait VerdictIndex: Send + Sync {
    fn insert_verdicts(&self, rows: &[VerdictRow]) -> Result<(), StoreError>;
    fn list_verdicts(&self, filter: &VerdictFilter) -> Result<Vec<VerdictRow>, StoreError>;
}

/// Everything Warden stores.
pub trait Store:
    KillSwitchStore + UsageStore + SessionStore + VerdictIndex + std::fmt::Debug
{
}
impl<T: KillSwitchStore + UsageStore + SessionStore + VerdictIndex + std::fmt::Debug> Store for T {}
