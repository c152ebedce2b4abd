//! The on-disk export queue: JSON-lines segment files plus a cursor file.
//!
//! Layout of the queue directory:
//! - `00000000000000000001.jsonl`, `...2.jsonl`: segments, one export record per line,
//!   appended in order; a new segment starts when the last one reaches the segment size.
//! - `cursor`: `"<segment> <offset>\n"`, the first byte not yet acknowledged (or dropped).
//!
//! Records before the cursor are done; segments wholly before it are deleted. Appends go to
//! the file at once (visible to a restarted process even if this one is killed) and are
//! fsynced in batches by the exporter. The cursor is rewritten (write + rename) after each
//! acknowledgement; losing the latest rewrite only means a batch is sent again, which the
//! receiver ignores (idempotent on data plane id + invocation id). At startup a partial last
//! line (a write cut short by a crash) is truncated away.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::ExportError;

/// A position in the queue: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub seg: u64,
    pub off: u64,
}

#[derive(Debug)]
struct Segment {
    seq: u64,
    len: u64,
}

/// Records read for sending. `ends[i]` is the offset just past line `i`.
#[derive(Debug)]
pub(crate) struct Batch {
    pub seg: u64,
    pub start: u64,
    pub ends: Vec<u64>,
    /// The raw JSON lines that parsed as records (without the newline).
    pub lines: Vec<String>,
    /// Lines that did not parse (a damaged file); acknowledging the batch skips them.
    pub corrupt: u64,
}

/// The queue state; the exporter keeps it behind a mutex.
#[derive(Debug)]
pub(crate) struct Queue {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    segments: VecDeque<Segment>,
    cursor: Pos,
    tail: Option<File>,
    pending_bytes: u64,
    pending_records: u64,
    dirty: bool,
    /// Former tails whose appends have not been fsynced yet.
    unsynced: Vec<File>,
}

fn io_err(path: &Path, source: std::io::Error) -> ExportError {
    ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Batch {
    /// The position just past the batch.
    pub fn end(&self) -> Pos {
        Pos {
            seg: self.seg,
            off: self.ends.last().copied().unwrap_or(self.start),
        }
    }
}

impl Queue {
    /// Opens (or creates) the queue in `dir`, recovering its state from disk.
    pub fn open(dir: &Path, max_bytes: u64, segment_bytes: u64) -> Result<Queue, ExportError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let mut seqs = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
            let entry = entry.map_err(|e| io_err(dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(stem) = name.strip_suffix(".jsonl") {
                if let Ok(seq) = stem.parse::<u64>() {
                    seqs.push(seq);
                }
            }
        }
        seqs.sort_unstable();
        let cursor_path = dir.join("cursor");
        let mut cursor = match std::fs::read_to_string(&cursor_path) {
            Ok(text) => parse_cursor(&text).ok_or_else(|| ExportError::Corrupt {
                path: cursor_path.clone(),
                reason: "expected `<segment> <offset>`".to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Pos { seg: 0, off: 0 },
            Err(e) => return Err(io_err(&cursor_path, e)),
        };
        let mut segments = VecDeque::new();
        for seq in seqs {
            let path = seg_path(dir, seq);
            if seq < cursor.seg {
                std::fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
                continue;
            }
            let len = std::fs::metadata(&path)
                .map_err(|e| io_err(&path, e))?
                .len();
            segments.push_back(Segment { seq, len });
        }
        match segments.front() {
            Some(first) if first.seq > cursor.seg => {
                cursor = Pos {
                    seg: first.seq,
                    off: 0,
                }
            }
            Some(first) if cursor.off > first.len => cursor.off = first.len,
            Some(_) => {}
            // No segments (all consumed and removed by hand): the next one starts at the
            // cursor's number, so the cursor never points past it.
            None => cursor.off = 0,
        }
        // A crash mid-append leaves a line without its newline at the end of the last segment.
        if let Some(last) = segments.back_mut() {
            let path = seg_path(dir, last.seq);
            let keep = complete_prefix_len(&path)?;
            if keep < last.len {
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| io_err(&path, e))?;
                f.set_len(keep).map_err(|e| io_err(&path, e))?;
                f.sync_data().map_err(|e| io_err(&path, e))?;
                last.len = keep;
                if cursor.seg == last.seq && cursor.off > keep {
                    cursor.off = keep;
                }
            }
        }
        let mut q = Queue {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes: segment_bytes.max(1),
            segments,
            cursor,
            tail: None,
            pending_bytes: 0,
            pending_records: 0,
            dirty: false,
            unsynced: Vec::new(),
        };
        for s in &q.segments {
            let from = if s.seq == q.cursor.seg {
                q.cursor.off
            } else {
                0
            };
            q.pending_bytes += s.len - from;
            q.pending_records += count_lines(&seg_path(dir, s.seq), from)?;
        }
        if let Some(last) = q.segments.back() {
            let path = seg_path(dir, last.seq);
            q.tail = Some(
                OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(|e| io_err(&path, e))?,
            );
        }
        Ok(q)
    }

    /// The first position not yet acknowledged or dropped.
    pub fn cursor(&self) -> Pos {
        self.cursor
    }

    pub fn pending_records(&self) -> u64 {
        self.pending_records
    }

    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes
    }

    /// Appends one record line (without newline). Returns how many records were dropped to
    /// make room (the oldest first; the new record itself if it alone exceeds the bound).
    pub fn append(&mut self, line: &str) -> Result<u64, ExportError> {
        let len = line.len() as u64 + 1;
        if len > self.max_bytes {
            return Ok(1);
        }
        let mut dropped = 0;
        if self.pending_bytes + len > self.max_bytes {
            // Free at least 1/64 of the bound at a time, so a queue that stays full does
            // not rewrite the cursor on every append.
            let need = (self.pending_bytes + len - self.max_bytes).max(self.max_bytes / 64);
            dropped = self.drop_oldest(need)?;
        }
        let need_new = match self.segments.back() {
            None => true,
            Some(s) => s.len >= self.segment_bytes,
        };
        if need_new {
            let seq = self
                .segments
                .back()
                .map_or(self.cursor.seg.max(1), |s| s.seq + 1);
            let path = seg_path(&self.dir, seq);
            if let Some(old) = self.tail.take() {
                // The previous tail is complete; the next fsync round covers it too.
                self.unsynced.push(old);
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| io_err(&path, e))?;
            self.segments.push_back(Segment { seq, len: 0 });
            if self.segments.len() == 1 {
                // The first segment: record where reading starts, so a stale cursor file
                // from an earlier life of the directory cannot skip the new records.
                self.cursor = Pos { seg: seq, off: 0 };
                self.write_cursor()?;
            }
            self.tail = Some(f);
        }
        let seg = self.segments.back_mut().expect("a tail segment exists");
        let path = seg_path(&self.dir, seg.seq);
        let tail = self.tail.as_mut().expect("the tail file is open");
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        tail.write_all(&buf).map_err(|e| io_err(&path, e))?;
        seg.len += len;
        self.pending_bytes += len;
        self.pending_records += 1;
        self.dirty = true;
        Ok(dropped)
    }

    /// Handles to fsync outside the lock: segments closed since the last call, and the
    /// tail if anything was appended to it.
    pub fn take_dirty(&mut self) -> Vec<File> {
        let mut files = std::mem::take(&mut self.unsynced);
        if std::mem::take(&mut self.dirty) {
            if let Some(f) = self.tail.as_ref().and_then(|f| f.try_clone().ok()) {
                files.push(f);
            }
        }
        files
    }

    /// Advances the cursor over the oldest records until at least `bytes` are freed.
    fn drop_oldest(&mut self, bytes: u64) -> Result<u64, ExportError> {
        let mut freed = 0;
        let mut dropped = 0;
        while freed < bytes && self.pending_records > 0 {
            let before = freed;
            self.skip_exhausted_head()?;
            let Some(head) = self.segments.front() else {
                break;
            };
            let path = seg_path(&self.dir, head.seq);
            let mut r = reader_at(&path, self.cursor.off)?;
            let mut line = Vec::new();
            let limit = head.len;
            while freed < bytes && self.cursor.off < limit {
                line.clear();
                let n = r
                    .read_until(b'\n', &mut line)
                    .map_err(|e| io_err(&path, e))? as u64;
                if n == 0 {
                    break;
                }
                self.cursor.off += n;
                freed += n;
                dropped += 1;
                self.pending_bytes = self.pending_bytes.saturating_sub(n);
                self.pending_records = self.pending_records.saturating_sub(1);
            }
            if freed == before {
                // Nothing left to read: the counts were off; what is on disk wins.
                self.pending_records = 0;
                self.pending_bytes = 0;
                break;
            }
        }
        self.skip_exhausted_head()?;
        self.write_cursor()?;
        Ok(dropped)
    }

    /// Deletes head segments the cursor has passed, except the last (the tail).
    fn skip_exhausted_head(&mut self) -> Result<(), ExportError> {
        while self.segments.len() > 1 {
            let head = &self.segments[0];
            if self.cursor.seg == head.seq && self.cursor.off < head.len {
                break;
            }
            let path = seg_path(&self.dir, head.seq);
            std::fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
            self.segments.pop_front();
            self.cursor = Pos {
                seg: self.segments[0].seq,
                off: 0,
            };
        }
        Ok(())
    }

    /// Reads up to `max_records` lines / about `max_bytes` from the head, within one segment.
    pub fn read_batch(
        &mut self,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<Option<Batch>, ExportError> {
        if self.pending_records == 0 {
            return Ok(None);
        }
        self.skip_exhausted_head()?;
        let Some(head) = self.segments.front() else {
            return Ok(None);
        };
        let path = seg_path(&self.dir, head.seq);
        let mut r = reader_at(&path, self.cursor.off)?;
        let mut batch = Batch {
            seg: head.seq,
            start: self.cursor.off,
            ends: Vec::new(),
            lines: Vec::new(),
            corrupt: 0,
        };
        let mut off = self.cursor.off;
        let mut bytes = 0;
        let mut line = Vec::new();
        while off < head.len && batch.ends.len() < max_records && (bytes < max_bytes) {
            line.clear();
            let n = r
                .read_until(b'\n', &mut line)
                .map_err(|e| io_err(&path, e))? as u64;
            if n == 0 {
                break;
            }
            off += n;
            bytes += n;
            batch.ends.push(off);
            let text = std::str::from_utf8(&line).ok().map(str::trim_end);
            match text.filter(|t| serde_json::from_str::<crate::ExportRecord>(t).is_ok()) {
                Some(t) => batch.lines.push(t.to_string()),
                None => batch.corrupt += 1,
            }
        }
        if batch.ends.is_empty() {
            return Ok(None);
        }
        Ok(Some(batch))
    }

    /// Marks a batch done. Returns how many of its records were still pending (records the
    /// bound dropped meanwhile are not counted twice).
    pub fn ack(&mut self, batch: &Batch) -> Result<u64, ExportError> {
        let end = batch.end();
        if end <= self.cursor {
            return Ok(0);
        }
        let from = if self.cursor.seg == batch.seg {
            self.cursor.off
        } else {
            batch.start
        };
        let newly = batch.ends.iter().filter(|&&e| e > from).count() as u64;
        self.pending_bytes -= end.off - from;
        self.pending_records = self.pending_records.saturating_sub(newly);
        self.cursor = end;
        self.skip_exhausted_head()?;
        self.write_cursor()?;
        Ok(newly)
    }

    fn write_cursor(&self) -> Result<(), ExportError> {
        let path = self.dir.join("cursor");
        let tmp = self.dir.join("cursor.tmp");
        std::fs::write(&tmp, format!("{} {}\n", self.cursor.seg, self.cursor.off))
            .map_err(|e| io_err(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))
    }
}

fn seg_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.jsonl"))
}

fn parse_cursor(text: &str) -> Option<Pos> {
    let mut it = text.split_whitespace();
    let seg = it.next()?.parse().ok()?;
    let off = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some(Pos { seg, off })
}

fn reader_at(path: &Path, off: u64) -> Result<BufReader<File>, ExportError> {
    let mut f = File::open(path).map_err(|e| io_err(path, e))?;
    f.seek(SeekFrom::Start(off)).map_err(|e| io_err(path, e))?;
    Ok(BufReader::new(f))
}

/// The length of the file up to and including its last newline.
fn complete_prefix_len(path: &Path) -> Result<u64, ExportError> {
    let mut r = reader_at(path, 0)?;
    let mut keep = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = r
            .read_until(b'\n', &mut line)
            .map_err(|e| io_err(path, e))? as u64;
        if n == 0 || line.last() != Some(&b'\n') {
            return Ok(keep);
        }
        keep += n;
    }
}

fn count_lines(path: &Path, from: u64) -> Result<u64, ExportError> {
    let mut r = reader_at(path, from)?;
    let mut n = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)
            .map_err(|e| io_err(path, e))?
            == 0
        {
            return Ok(n);
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u32) -> String {
        let r = crate::ExportRecord {
            schema_version: 1,
            data_plane_id: "dp".into(),
            tenant_id: "acme".into(),
            agent_id: "a".into(),
            session_id: "s".into(),
            invocation_id: format!("inv-{i:04}"),
            decision: warden_core::Decision::Allow,
            confidence: 1.0,
            mode: warden_core::VerdictMode::Enforce,
            rules: vec![],
            reason: String::new(),
            started_at: "2026-01-01T00:00:00Z".into(),
            decided_at: "2026-01-01T00:00:00Z".into(),
            exported_at: "2026-01-01T00:00:00Z".into(),
        };
        serde_json::to_string(&r).unwrap()
    }

    #[test]
    fn append_read_ack_across_segments_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = Queue::open(dir.path(), 1 << 20, 600).unwrap();
        for i in 0..10 {
            assert_eq!(q.append(&rec(i)).unwrap(), 0);
        }
        assert_eq!(q.pending_records(), 10);
        let segs = std::fs::read_dir(dir.path()).unwrap().count();
        assert!(segs >= 3, "expected several segments, got {segs}");
        let b = q.read_batch(3, 1 << 20).unwrap().unwrap();
        assert_eq!(b.lines.len(), 3);
        assert!(b.lines[0].contains("inv-0000"));
        assert_eq!(q.ack(&b).unwrap(), 3);
        assert_eq!(q.ack(&b).unwrap(), 0, "a second ack changes nothing");
        drop(q);
        let mut q = Queue::open(dir.path(), 1 << 20, 600).unwrap();
        assert_eq!(q.pending_records(), 7);
        let mut seen = Vec::new();
        while let Some(b) = q.read_batch(4, 1 << 20).unwrap() {
            seen.extend(b.lines.iter().cloned());
            q.ack(&b).unwrap();
        }
        assert_eq!(seen.len(), 7);
        assert!(seen[0].contains("inv-0003") && seen[6].contains("inv-0009"));
        assert_eq!(q.pending_bytes(), 0);
    }

    #[test]
    fn sustained_appends_to_a_full_queue_keep_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let one = rec(0).len() as u64 + 1;
        let mut q = Queue::open(dir.path(), one * 7, one * 3).unwrap();
        let mut dropped = 0;
        for i in 0..3000 {
            dropped += q.append(&rec(i % 10_000)).unwrap();
            assert!(q.pending_bytes() <= one * 7);
        }
        assert_eq!(q.pending_records(), 7);
        assert_eq!(dropped, 3000 - 7);
    }

    #[test]
    fn segments_removed_by_hand_do_not_lose_new_records() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cursor"), "7 1234\n").unwrap();
        let mut q = Queue::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        q.append(&rec(1)).unwrap();
        drop(q);
        let mut q = Queue::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        assert_eq!(q.pending_records(), 1);
        let b = q.read_batch(10, 1 << 20).unwrap().unwrap();
        assert!(b.lines[0].contains("inv-0001"));
    }

    #[test]
    fn bound_drops_oldest_and_partial_line_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let one = rec(0).len() as u64 + 1;
        let mut q = Queue::open(dir.path(), one * 4, one * 2).unwrap();
        let mut dropped = 0;
        for i in 0..10 {
            dropped += q.append(&rec(i)).unwrap();
        }
        assert_eq!(dropped, 6);
        assert_eq!(q.pending_records(), 4);
        let b = q.read_batch(100, 1 << 20).unwrap().unwrap();
        assert!(b.lines[0].contains("inv-0006"), "{}", b.lines[0]);
        drop(q);
        // Simulate a crash mid-append.
        let last = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .max()
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&last).unwrap();
        f.write_all(b"{\"schemaVersion\":1,\"dataPl").unwrap();
        drop(f);
        let q = Queue::open(dir.path(), one * 4, one * 2).unwrap();
        assert_eq!(q.pending_records(), 4);
        assert_eq!(q.pending_bytes(), one * 4);
    }
}
