//! The exporter: a durable, bounded queue drained by a background task that posts batches
//! to the control plane with retries, exponential backoff and jitter.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use warden_config::ExportConfig;
use warden_core::Verdict;

use crate::queue::{Batch, Pos, Queue};
use crate::{ExportError, ExportRecord};

/// Everything the exporter needs.
#[derive(Debug, Clone)]
pub struct ExporterOptions {
    /// Where batches are posted, e.g. `http://127.0.0.1:9090/v1/verdicts`.
    pub url: String,
    /// Environment variable holding the bearer token, read before every post.
    pub token_env: Option<String>,
    /// Queue directory (normally `<data_dir>/export`).
    pub queue_dir: PathBuf,
    /// Bound on pending bytes on disk; the oldest records are dropped beyond it.
    pub queue_max_bytes: u64,
    /// This data plane's id, written into every record.
    pub data_plane_id: String,
    /// Records per POST.
    pub batch_max_records: usize,
    /// Approximate bytes per POST.
    pub batch_max_bytes: u64,
    /// A new segment file starts when the last one reaches this size.
    pub segment_bytes: u64,
    /// Appended records are fsynced at most this long after `enqueue`.
    pub fsync_interval: Duration,
    /// First retry delay; doubles per failure up to `backoff_max` (with jitter).
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Bound on one POST.
    pub request_timeout: Duration,
}

impl ExporterOptions {
    /// Options with defaults for everything but the essentials.
    pub fn new(
        url: impl Into<String>,
        queue_dir: impl Into<PathBuf>,
        data_plane_id: impl Into<String>,
    ) -> Self {
        ExporterOptions {
            url: url.into(),
            token_env: None,
            queue_dir: queue_dir.into(),
            queue_max_bytes: 64 * 1024 * 1024,
            data_plane_id: data_plane_id.into(),
            batch_max_records: 200,
            batch_max_bytes: 1024 * 1024,
            segment_bytes: 4 * 1024 * 1024,
            fsync_interval: Duration::from_millis(50),
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// Options from `[export]`; `None` when no `control_plane_url` is configured. The queue
    /// lives in `<data_dir>/export`.
    pub fn from_config(
        config: &ExportConfig,
        data_dir: &Path,
        data_plane_id: impl Into<String>,
    ) -> Option<Self> {
        let url = config.control_plane_url.clone()?;
        let mut o = ExporterOptions::new(url, data_dir.join("export"), data_plane_id);
        o.token_env = config.token_env.clone();
        o.queue_max_bytes = config.queue_max_bytes;
        o.segment_bytes = (config.queue_max_bytes / 8).clamp(4096, 4 * 1024 * 1024);
        Some(o)
    }
}

/// A snapshot of the exporter's counters, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct ExportCounters {
    /// Records accepted by `enqueue` since start.
    pub queued: u64,
    /// Records the control plane acknowledged since start.
    pub delivered: u64,
    /// Records dropped since start: oldest records pushed out by the bound, and damaged lines.
    pub dropped: u64,
    /// Records the control plane refused as invalid (HTTP 400/413/422); not retried.
    pub rejected: u64,
    /// Failed POST attempts (connection errors, timeouts, non-2xx answers).
    pub failures: u64,
    /// Records on disk not yet acknowledged.
    pub pending_records: u64,
    /// Bytes on disk not yet acknowledged.
    pub pending_bytes: u64,
}

impl ExportCounters {
    /// Prometheus text exposition of the counters.
    pub fn to_prometheus(&self) -> String {
        let mut s = String::new();
        for (name, kind, help, v) in [
            (
                "warden_export_queued_total",
                "counter",
                "Verdict records queued for export.",
                self.queued,
            ),
            (
                "warden_export_delivered_total",
                "counter",
                "Verdict records acknowledged by the control plane.",
                self.delivered,
            ),
            (
                "warden_export_dropped_total",
                "counter",
                "Verdict records dropped (queue bound or damaged lines).",
                self.dropped,
            ),
            (
                "warden_export_rejected_total",
                "counter",
                "Verdict records refused by the control plane as invalid.",
                self.rejected,
            ),
            (
                "warden_export_failures_total",
                "counter",
                "Failed export POST attempts.",
                self.failures,
            ),
            (
                "warden_export_pending_records",
                "gauge",
                "Verdict records waiting on disk.",
                self.pending_records,
            ),
            (
                "warden_export_pending_bytes",
                "gauge",
                "Bytes waiting in the export queue.",
                self.pending_bytes,
            ),
        ] {
            s.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            ));
        }
        s
    }
}

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
    failures: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    options: ExporterOptions,
    queue: Mutex<Queue>,
    counters: Counters,
    wake: Notify,
}

impl Inner {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves the queue's counters possibly stale but its
        // files intact; carrying on is better than losing every later verdict.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The running exporter. Dropping it stops the background tasks (records already enqueued
/// stay on disk and are sent by the next exporter on the same directory).
#[derive(Debug)]
pub struct Exporter {
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Exporter {
    /// Opens the queue (resuming whatever is on disk) and starts the sender and fsync tasks.
    /// Must be called within a tokio runtime.
    pub fn start(options: ExporterOptions) -> Result<Exporter, ExportError> {
        if !(options.url.starts_with("http://") || options.url.starts_with("https://")) {
            return Err(ExportError::BadUrl { url: options.url });
        }
        if let Err(e) = crate::record::check_id("dataPlaneId", &options.data_plane_id) {
            return Err(ExportError::BadDataPlaneId {
                id: options.data_plane_id.clone(),
                reason: e.reason,
            });
        }
        if let Some(var) = &options.token_env {
            if std::env::var_os(var).is_none() {
                return Err(ExportError::TokenEnvMissing { var: var.clone() });
            }
        }
        let client = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .build()
            .map_err(|e| ExportError::Client(e.to_string()))?;
        let queue = Queue::open(
            &options.queue_dir,
            options.queue_max_bytes,
            options.segment_bytes,
        )?;
        let inner = Arc::new(Inner {
            options,
            queue: Mutex::new(queue),
            counters: Counters::default(),
            wake: Notify::new(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let sender = tokio::spawn(send_loop(Arc::clone(&inner), client, stop_rx.clone()));
        let syncer = tokio::spawn(sync_loop(Arc::clone(&inner), stop_rx));
        Ok(Exporter {
            inner,
            stop,
            tasks: vec![sender, syncer],
        })
    }

    /// Validates the record and appends it to the on-disk queue. Does not wait for the
    /// network; the write reaches the file before this returns and is fsynced within
    /// `fsync_interval`. If the queue is full, the oldest records are dropped (counted).
    pub fn enqueue(&self, record: &ExportRecord) -> Result<(), ExportError> {
        record.validate()?;
        let line = serde_json::to_string(record).map_err(|e| ExportError::Corrupt {
            path: self.inner.options.queue_dir.clone(),
            reason: format!("record does not serialize: {e}"),
        })?;
        let dropped = self.inner.queue().append(&line)?;
        let c = &self.inner.counters;
        c.queued.fetch_add(1, Ordering::Relaxed);
        if dropped > 0 {
            c.dropped.fetch_add(dropped, Ordering::Relaxed);
            tracing::warn!(
                dropped,
                "export queue full: dropped the oldest verdict records"
            );
        }
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Builds the record for `verdict` (this data plane's id, exported now) and enqueues it.
    pub fn export_verdict(&self, verdict: &Verdict) -> Result<(), ExportError> {
        let record = ExportRecord::from_verdict(
            verdict,
            &self.inner.options.data_plane_id,
            SystemTime::now(),
        );
        self.enqueue(&record)
    }

    /// The counters now.
    pub fn counters(&self) -> ExportCounters {
        let c = &self.inner.counters;
        let (pending_records, pending_bytes) = {
            let q = self.inner.queue();
            (q.pending_records(), q.pending_bytes())
        };
        ExportCounters {
            queued: c.queued.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            pending_records,
            pending_bytes,
        }
    }

    /// Fsyncs everything appended so far.
    pub async fn flush(&self) -> Result<(), ExportError> {
        sync_now(&self.inner).await
    }

    /// Stops the background tasks after the current attempt and fsyncs the queue. Pending
    /// records stay on disk for the next start.
    pub async fn shutdown(mut self) -> Result<(), ExportError> {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        sync_now(&self.inner).await
    }
}

async fn sync_now(inner: &Arc<Inner>) -> Result<(), ExportError> {
    let files = inner.queue().take_dirty();
    if files.is_empty() {
        return Ok(());
    }
    let dir = inner.options.queue_dir.clone();
    tokio::task::spawn_blocking(move || files.iter().try_for_each(File::sync_data))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
        .map_err(|source| ExportError::Io { path: dir, source })
}

async fn sync_loop(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut tick =
        tokio::time::interval(inner.options.fsync_interval.max(Duration::from_millis(1)));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = sync_now(&inner).await {
            tracing::warn!(error = %e, "export queue fsync failed");
        }
    }
}

/// The delay before retry number `attempt` (0-based): half of the capped exponential delay
/// plus a uniformly random part of the other half.
fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(20)).min(max);
    let half = exp / 2;
    half + half.mul_f64(fastrand::f64())
}

enum Outcome {
    Delivered,
    Rejected(String),
    Failed(String),
}

async fn post(inner: &Inner, client: &reqwest::Client, batch: &Batch) -> Outcome {
    let mut body =
        String::with_capacity(batch.lines.iter().map(|l| l.len() + 1).sum::<usize>() + 16);
    body.push_str("{\"records\":[");
    for (i, l) in batch.lines.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(l);
    }
    body.push_str("]}");
    let mut req = client
        .post(&inner.options.url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(var) = &inner.options.token_env {
        match std::env::var(var) {
            Ok(token) => req = req.bearer_auth(token),
            Err(_) => tracing::warn!(
                var,
                "export token variable is not set; posting without a token"
            ),
        }
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            if status.is_success() {
                return Outcome::Delivered;
            }
            let text = resp.text().await.unwrap_or_default();
            let text: String = text.chars().take(300).collect();
            if matches!(status.as_u16(), 400 | 413 | 422) {
                Outcome::Rejected(format!("HTTP {status}: {text}"))
            } else {
                Outcome::Failed(format!("HTTP {status}: {text}"))
            }
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

async fn send_loop(inner: Arc<Inner>, client: reqwest::Client, mut stop: watch::Receiver<bool>) {
    let mut attempt: u32 = 0;
    let mut isolate_until: Option<Pos> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let batch = {
            let mut q = inner.queue();
            // After a refused batch, its records go one at a time, so one bad record does
            // not take good ones down with it.
            if isolate_until.is_some_and(|end| q.cursor() >= end) {
                isolate_until = None;
            }
            let max_records = if isolate_until.is_some() {
                1
            } else {
                inner.options.batch_max_records
            };
            q.read_batch(max_records, inner.options.batch_max_bytes)
        };
        let batch = match batch {
            Ok(Some(b)) => b,
            Ok(None) => {
                tokio::select! {
                    _ = inner.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "export queue read failed");
                let d = backoff(
                    inner.options.backoff_base,
                    inner.options.backoff_max,
                    attempt,
                );
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
        };
        let c = &inner.counters;
        let outcome = if batch.lines.is_empty() {
            Outcome::Delivered
        } else {
            post(&inner, &client, &batch).await
        };
        if let Outcome::Rejected(why) = &outcome {
            if batch.lines.len() > 1 {
                tracing::warn!(reason = %why, "control plane refused a batch; resending its records one by one");
                isolate_until = Some(batch.end());
                continue;
            }
        }
        match outcome {
            Outcome::Delivered | Outcome::Rejected(_) => {
                let newly = match inner.queue().ack(&batch) {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::error!(error = %e, "export queue cursor update failed");
                        0
                    }
                };
                let corrupt = batch.corrupt.min(newly);
                c.dropped.fetch_add(corrupt, Ordering::Relaxed);
                if let Outcome::Rejected(why) = &outcome {
                    c.rejected.fetch_add(newly - corrupt, Ordering::Relaxed);
                    tracing::error!(records = newly - corrupt, reason = %why, "control plane refused export records; not retrying them");
                } else {
                    c.delivered.fetch_add(newly - corrupt, Ordering::Relaxed);
                }
                attempt = 0;
            }
            Outcome::Failed(why) => {
                c.failures.fetch_add(1, Ordering::Relaxed);
                let d = backoff(
                    inner.options.backoff_base,
                    inner.options.backoff_max,
                    attempt,
                );
                tracing::warn!(attempt, retry_in_ms = d.as_millis() as u64, reason = %why, "export POST failed");
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        for attempt in 0..30 {
            let exp = base.saturating_mul(1 << attempt.min(20)).min(max);
            let d = backoff(base, max, attempt);
            assert!(d >= exp / 2 && d <= exp, "attempt {attempt}: {d:?}");
        }
        let many: std::collections::HashSet<_> = (0..50).map(|_| backoff(base, max, 3)).collect();
        assert!(many.len() > 1, "jitter varies the delay");
    }

    #[test]
    fn prometheus_text_has_every_counter() {
        let c = ExportCounters {
            queued: 5,
            dropped: 2,
            ..Default::default()
        };
        let t = c.to_prometheus();
        assert!(t.contains("warden_export_queued_total 5\n"));
        assert!(t.contains("warden_export_dropped_total 2\n"));
        assert_eq!(t.matches("# TYPE").count(), 7);
    }
}
