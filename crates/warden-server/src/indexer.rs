//! Write-behind of non-authoritative data to the store: the verdict index and token usage.
//! The audit log is the record of truth and is written before every answer; this thread
//! keeps SQLite off the request path by batching every 100 ms.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use warden_core::TenantId;
use warden_store::{Store, VerdictRow};

/// Something to index.
#[derive(Debug)]
pub enum IndexEvent {
    Verdict(VerdictRow),
    Tokens {
        tenant: TenantId,
        window: u64,
        tokens: u64,
    },
}

/// A handle to the indexer thread.
#[derive(Debug, Clone)]
pub struct Indexer {
    tx: mpsc::SyncSender<IndexEvent>,
}

impl Indexer {
    pub fn start(store: Arc<dyn Store>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<IndexEvent>(65_536);
        std::thread::Builder::new()
            .name("warden-indexer".into())
            .spawn(move || run(store, rx))?;
        Ok(Indexer { tx })
    }

    /// Queues an event; if the queue is full the event is dropped and logged (the audit log
    /// still holds the decision).
    pub fn send(&self, event: IndexEvent) {
        if let Err(e) = self.tx.try_send(event) {
            tracing::warn!(error = %e, "index queue full; event dropped from the index");
        }
    }
}

/// Wakes every 100 ms and drains the queue, so senders never wake this thread: under load
/// that would cost a futex wake per request.
fn run(store: Arc<dyn Store>, rx: mpsc::Receiver<IndexEvent>) {
    let mut open = true;
    while open {
        std::thread::sleep(Duration::from_millis(100));
        let mut verdicts = Vec::new();
        let mut tokens: HashMap<(TenantId, u64), u64> = HashMap::new();
        loop {
            match rx.try_recv() {
                Ok(IndexEvent::Verdict(v)) => verdicts.push(v),
                Ok(IndexEvent::Tokens {
                    tenant,
                    window,
                    tokens: n,
                }) => {
                    *tokens.entry((tenant, window)).or_default() += n;
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        if !verdicts.is_empty() {
            if let Err(e) = store.insert_verdicts(&verdicts) {
                tracing::error!(error = %e, count = verdicts.len(), "verdict index write failed");
            }
        }
        for ((tenant, window), n) in tokens {
            if let Err(e) = store.add_tokens(&tenant, window, n) {
                tracing::error!(error = %e, "token usage write failed");
            }
        }
    }
}
