//! Egress events: the record of every DNS query and connection, and sinks that receive them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use warden_core::egress::{
    Decision, EgressEvent, EventKind, Observation, PayloadFinding, Reason,
};

/// RFC 3339 "now" in UTC.
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

/// Receives events. Implementations must not block: the proxy calls this on its IO tasks.
pub trait EventSink: Send + Sync + 'static {
    /// Deliver one event.
    fn emit(&self, event: EgressEvent);
}

/// Forwards events to a bounded tokio channel; events that do not fit are counted as dropped.
#[derive(Debug)]
pub struct ChannelSink {
    tx: tokio::sync::mpsc::Sender<EgressEvent>,
    dropped: AtomicU64,
}

impl ChannelSink {
    /// Wrap a sender.
    pub fn new(tx: tokio::sync::mpsc::Sender<EgressEvent>) -> Self {
        Self {
            tx,
            dropped: AtomicU64::new(0),
        }
    }

    /// How many events did not fit into the channel (or found it closed).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl EventSink for ChannelSink {
    fn emit(&self, event: EgressEvent) {
        if self.tx.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// In-memory collector grouping events by invocation id (unattributed events under `None`).
///
/// Bounded: at most `max_per_invocation` events are kept per key; later ones are counted.
#[derive(Debug, Clone)]
pub struct Collector {
    inner: Arc<Mutex<CollectorInner>>,
    max_per_invocation: usize,
}

#[derive(Debug, Default)]
struct CollectorInner {
    by_invocation: HashMap<Option<String>, Vec<EgressEvent>>,
    overflow: HashMap<Option<String>, u64>,
}

impl Default for Collector {
    fn default() -> Self {
        Self::new(10_000)
    }
}

impl Collector {
    /// A collector keeping at most `max_per_invocation` events per invocation.
    pub fn new(max_per_invocation: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(CollectorInner::default())),
            max_per_invocation,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CollectorInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remove and return the events recorded for an invocation.
    pub fn take(&self, invocation_id: &str) -> Vec<EgressEvent> {
        let key = Some(invocation_id.to_owned());
        let mut g = self.lock();
        g.overflow.remove(&key);
        g.by_invocation.remove(&key).unwrap_or_default()
    }

    /// Remove and return the unattributed events.
    pub fn take_unattributed(&self) -> Vec<EgressEvent> {
        let mut g = self.lock();
        g.overflow.remove(&None);
        g.by_invocation.remove(&None).unwrap_or_default()
    }

    /// A copy of every event currently held, in arrival order per invocation.
    pub fn snapshot(&self) -> Vec<EgressEvent> {
        self.lock()
            .by_invocation
            .values()
            .flat_map(|v| v.iter().cloned())
            .collect()
    }

    /// How many events are held for an invocation.
    pub fn count(&self, invocation_id: &str) -> usize {
        self.lock()
            .by_invocation
            .get(&Some(invocation_id.to_owned()))
            .map_or(0, Vec::len)
    }

    /// Events dropped for an invocation because its bucket was full.
    pub fn overflow(&self, invocation_id: Option<&str>) -> u64 {
        let key = invocation_id.map(str::to_owned);
        self.lock().overflow.get(&key).copied().unwrap_or(0)
    }
}

impl EventSink for Collector {
    fn emit(&self, event: EgressEvent) {
        let max = self.max_per_invocation;
        let mut g = self.lock();
        let key = event.invocation_id.clone();
        let bucket = g.by_invocation.entry(key.clone()).or_default();
        if bucket.len() < max {
            bucket.push(event);
        } else {
            *g.overflow.entry(key).or_default() += 1;
        }
    }
}

/// Sends every event to several sinks.
#[derive(Clone)]
pub struct FanoutSink(pub Vec<Arc<dyn EventSink>>);

impl std::fmt::Debug for FanoutSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanoutSink")
            .field("sinks", &self.0.len())
            .finish()
    }
}

impl EventSink for FanoutSink {
    fn emit(&self, event: EgressEvent) {
        if let Some((last, rest)) = self.0.split_last() {
            for s in rest {
                s.emit(event.clone());
            }
            last.emit(event);
        }
    }
}
