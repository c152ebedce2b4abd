//! The audit writer: one thread that owns the active segment and commits appends in groups.

use crate::{canonical_json, digest_name, segment_name, GENESIS};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How hard a group commit tries to reach the disk before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fdatasync` after every group, before any caller in it is answered.
    Fsync,
    /// Written to the OS before answering; a separate thread `fdatasync`s every 100 ms, so a
    /// crash of the process loses nothing and a power loss at most the last 100 ms.
    Batch,
}

/// Where and how the log is written.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub dir: PathBuf,
    pub durability: Durability,
    /// A segment is closed (and digested) once it grows past this many bytes.
    pub segment_bytes: u64,
}

/// Why an append failed. The request that depended on it must fail too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("audit log is closed")]
    Closed,
    #[error("audit write failed: {0}")]
    Io(String),
    #[error("audit log is locked by another process: {0}")]
    Locked(String),
    #[error("audit log is damaged: {0}")]
    Damaged(String),
}

struct Request {
    kind: String,
    ts: String,
    data: Value,
    reply: oneshot::Sender<Result<u64, AppendError>>,
}

/// An append waiting for its group commit; `wait()` blocks, `.await` suspends.
pub type PendingAppend = oneshot::Receiver<Result<u64, AppendError>>;

/// A handle to the audit writer thread. Cloning shares the same writer; when the last clone
/// is dropped, pending records are committed, the file is synced and the lock released.
#[derive(Clone, Debug)]
pub struct AuditLog {
    inner: std::sync::Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: Option<mpsc::Sender<Request>>,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: PathBuf,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct State {
    opts: AuditOptions,
    _lock: File,
    segment: u64,
    file: File,
    size: u64,
    seq: u64,
    prev: String,
    failed: Option<String>,
    dirty: bool,
    /// SHA-256 of the active segment's bytes so far, for its digest at rotation.
    hasher: Sha256,
    /// Batch durability: the thread that fsyncs the active segment every 100 ms, off the
    /// commit path.
    syncer: Option<Arc<Syncer>>,
    head: File,
}

impl AuditLog {
    /// Opens (or creates) the log in `opts.dir`, recovering the chain head from the newest
    /// segment. Only one process may hold the log open: the lock is exclusive.
    pub fn open(opts: AuditOptions) -> Result<AuditLog, AppendError> {
        let io = |e: std::io::Error| AppendError::Io(e.to_string());
        std::fs::create_dir_all(&opts.dir).map_err(io)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(opts.dir.join("LOCK"))
            .map_err(io)?;
        fs2::FileExt::try_lock_exclusive(&lock)
            .map_err(|e| AppendError::Locked(format!("{}: {e}", opts.dir.display())))?;
        let segments = list_segments(&opts.dir).map_err(io)?;
        let segment = segments.last().copied().unwrap_or(1);
        let path = opts.dir.join(segment_name(segment));
        let (seq, prev, size) = recover(&path)?;
        let (seq, prev) = if seq == 0 && segment > 1 {
            // The newest segment is empty: the chain continues from the previous digest.
            read_digest_head(&opts.dir, segment - 1)?
        } else {
            (seq, prev)
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let mut hasher = Sha256::new();
        hasher.update(std::fs::read(&path).map_err(io)?);
        let head = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(opts.dir.join("HEAD"))
            .map_err(io)?;
        let dir = opts.dir.clone();
        let mut state = State {
            opts,
            _lock: lock,
            segment,
            file,
            size,
            seq,
            prev,
            failed: None,
            dirty: false,
            hasher,
            syncer: None,
            head,
        };
        if state.opts.durability == Durability::Batch {
            let syncer = Arc::new(Syncer {
                file: Mutex::new(state.file.try_clone().map_err(io)?),
                dirty: AtomicBool::new(false),
                failed: Mutex::new(None),
                stop: AtomicBool::new(false),
            });
            let s2 = syncer.clone();
            std::thread::Builder::new()
                .name("warden-audit-sync".into())
                .spawn(move || s2.run())
                .map_err(io)?;
            state.syncer = Some(syncer);
        }
        let (tx, rx) = mpsc::channel::<Request>();
        let thread = std::thread::Builder::new()
            .name("warden-audit".into())
            .spawn(move || state.run(rx))
            .map_err(io)?;
        Ok(AuditLog {
            inner: std::sync::Arc::new(Inner {
                tx: Some(tx),
                thread: Some(thread),
                dir,
            }),
        })
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Queues a record; the returned receiver resolves with its sequence number once the
    /// group holding it is committed.
    pub fn append(&self, kind: &str, ts: String, data: Value) -> PendingAppend {
        let (reply, rx) = oneshot::channel();
        let req = Request {
            kind: kind.to_string(),
            ts,
            data,
            reply,
        };
        let sent = match &self.inner.tx {
            Some(tx) => tx.send(req).map_err(|mpsc::SendError(req)| req),
            None => Err(req),
        };
        if let Err(req) = sent {
            let _ = req.reply.send(Err(AppendError::Closed));
        }
        rx
    }

    /// Appends and blocks until committed.
    pub fn append_blocking(&self, kind: &str, ts: String, data: Value) -> Result<u64, AppendError> {
        self.append(kind, ts, data)
            .recv()
            .unwrap_or(Err(AppendError::Closed))
    }
}

pub(crate) fn list_segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name
            .strip_prefix("audit-")
            .and_then(|s| s.strip_suffix(".jsonl"))
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Reads the last complete record of a segment. A torn final line (a crash mid-write, never
/// acknowledged to anyone) is cut off.
fn recover(path: &Path) -> Result<(u64, String, u64), AppendError> {
    let io = |e: std::io::Error| AppendError::Io(e.to_string());
    let Ok(file) = File::open(path) else {
        return Ok((0, GENESIS.to_string(), 0));
    };
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let mut last: Option<String> = None;
    let mut good_len = 0u64;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(io)?;
        if n == 0 {
            break;
        }
        if !line.ends_with('\n') {
            break;
        }
        good_len += n as u64;
        last = Some(line.trim_end().to_string());
    }
    let total = std::fs::metadata(path).map_err(io)?.len();
    if total != good_len {
        let f = OpenOptions::new().write(true).open(path).map_err(io)?;
        f.set_len(good_len).map_err(io)?;
    }
    match last {
        None => Ok((0, GENESIS.to_string(), good_len)),
        Some(l) => {
            let v: Value = serde_json::from_str(&l).map_err(|e| {
                AppendError::Damaged(format!("last record of {}: {e}", path.display()))
            })?;
            let seq = v["seq"].as_u64();
            let hash = v["hash"].as_str();
            match (seq, hash) {
                (Some(s), Some(h)) => Ok((s, h.to_string(), good_len)),
                _ => Err(AppendError::Damaged(format!(
                    "last record of {} lacks seq or hash",
                    path.display()
                ))),
            }
        }
    }
}

fn read_digest_head(dir: &Path, segment: u64) -> Result<(u64, String), AppendError> {
    let path = dir.join(digest_name(segment));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| AppendError::Damaged(format!("{}: {e}", path.display())))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| AppendError::Damaged(format!("{}: {e}", path.display())))?;
    match (v["last_seq"].as_u64(), v["last_hash"].as_str()) {
        (Some(s), Some(h)) => Ok((s, h.to_string())),
        _ => Err(AppendError::Damaged(format!(
            "{} lacks last_seq/last_hash",
            path.display()
        ))),
    }
}

/// Builds the canonical line (with its hash) for one record.
pub(crate) fn encode_record(
    seq: u64,
    ts: &str,
    kind: &str,
    data: Value,
    prev: &str,
) -> (String, String) {
    let mut body = json!({"seq": seq, "ts": ts, "kind": kind, "data": data, "prev": prev});
    let hash = hex::encode(Sha256::digest(canonical_json(&body).as_bytes()));
    body["hash"] = Value::String(hash.clone());
    (canonical_json(&body), hash)
}

impl State {
    fn run(&mut self, rx: mpsc::Receiver<Request>) {
        loop {
            let first = match rx.recv() {
                Ok(r) => r,
                Err(_) => break,
            };
            let mut batch = vec![first];
            while batch.len() < 4096 {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
        self.dirty = true;
        self.sync();
        if let Some(syncer) = &self.syncer {
            syncer.stop.store(true, Ordering::Release);
        }
    }

    /// Syncs inline (fsync durability, rotation, shutdown).
    fn sync(&mut self) {
        if self.dirty && self.failed.is_none() {
            if let Err(e) = self.file.sync_data() {
                self.failed = Some(e.to_string());
            }
            self.dirty = false;
        }
    }

    fn commit(&mut self, batch: Vec<Request>) {
        if let Some(syncer) = &self.syncer {
            if self.failed.is_none() {
                self.failed = syncer
                    .failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
            }
        }
        if let Some(f) = &self.failed {
            let err = AppendError::Io(f.clone());
            for r in batch {
                let _ = r.reply.send(Err(err.clone()));
            }
            return;
        }
        let mut buf = String::with_capacity(batch.len() * 300);
        let mut seqs = Vec::with_capacity(batch.len());
        let (mut seq, mut prev) = (self.seq, self.prev.clone());
        for r in &batch {
            seq += 1;
            let (line, hash) = encode_record(seq, &r.ts, &r.kind, r.data.clone(), &prev);
            buf.push_str(&line);
            buf.push('\n');
            prev = hash;
            seqs.push(seq);
        }
        let result = self.write(buf.as_bytes());
        match result {
            Ok(()) => {
                self.seq = seq;
                self.prev = prev;
                self.write_head();
                for (r, s) in batch.into_iter().zip(seqs) {
                    let _ = r.reply.send(Ok(s));
                }
                if self.size >= self.opts.segment_bytes {
                    if let Err(e) = self.rotate() {
                        self.failed = Some(e);
                    }
                }
            }
            Err(e) => {
                // The chain state on disk is now uncertain: fail closed for every later append.
                self.failed = Some(e.clone());
                for r in batch {
                    let _ = r.reply.send(Err(AppendError::Io(e.clone())));
                }
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.file.write_all(bytes).map_err(|e| e.to_string())?;
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        self.dirty = true;
        match (&self.opts.durability, &self.syncer) {
            (Durability::Batch, Some(syncer)) => syncer.dirty.store(true, Ordering::Release),
            _ => self.sync(),
        }
        match &self.failed {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }

    fn rotate(&mut self) -> Result<(), String> {
        self.sync();
        let digest = json!({
            "segment": segment_name(self.segment),
            "sha256": hex::encode(self.hasher.finalize_reset()),
            "last_seq": self.seq,
            "last_hash": self.prev,
        });
        let digest_path = self.opts.dir.join(digest_name(self.segment));
        let mut f = File::create(&digest_path).map_err(|e| e.to_string())?;
        f.write_all(canonical_json(&digest).as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| e.to_string())?;
        self.segment += 1;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.opts.dir.join(segment_name(self.segment)))
            .map_err(|e| e.to_string())?;
        self.size = 0;
        if let Some(syncer) = &self.syncer {
            let clone = self.file.try_clone().map_err(|e| e.to_string())?;
            *syncer.file.lock().unwrap_or_else(|p| p.into_inner()) = clone;
        }
        Ok(())
    }
}

/// Fsyncs the active segment every 100 ms while it has unsynced writes (batch durability).
struct Syncer {
    file: Mutex<File>,
    dirty: AtomicBool,
    failed: Mutex<Option<String>>,
    stop: AtomicBool,
}

impl Syncer {
    fn run(&self) {
        while !self.stop.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(100));
            if self.dirty.swap(false, Ordering::AcqRel) {
                let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(e) = file.sync_data() {
                    *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    return;
                }
            }
        }
    }
}

impl State {
    /// Records the newest committed record in `HEAD` (fixed width, overwritten in place), so
    /// `verify` can tell when records were dropped from the end of the log.
    fn write_head(&mut self) {
        let head = format!("{:020} {}\n", self.seq, self.prev);
        let _ = self.head.seek(SeekFrom::Start(0));
        let _ = self.head.write_all(head.as_bytes());
    }
}
