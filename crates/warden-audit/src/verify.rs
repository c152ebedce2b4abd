//! Offline verification of an audit log: every record's hash, the chain, sequence numbers,
//! segment digests and the `HEAD` marker. Reports the first bad record.

use crate::writer::list_segments;
use crate::{canonical_json, digest_name, segment_name, GENESIS};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// A clean log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub segments: usize,
    pub records: u64,
    pub last_seq: u64,
    pub last_hash: String,
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    pub file: PathBuf,
    /// 1-based line in `file`; 0 when the problem is the file as a whole.
    pub line: u64,
    pub seq: Option<u64>,
    pub reason: String,
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

struct Chain {
    seq: u64,
    prev: String,
    records: u64,
    /// When verifying a lone segment that does not start the log, the first record's
    /// predecessor is unknown.
    anchored: bool,
}

/// Verifies a log directory (all segments, digests and `HEAD`) or a single segment file.
pub fn verify_path(path: &Path) -> Result<VerifyReport, BadRecord> {
    let whole = |file: &Path, reason: String| BadRecord {
        file: file.to_path_buf(),
        line: 0,
        seq: None,
        reason,
    };
    if path.is_file() {
        let mut chain = Chain {
            seq: 0,
            prev: GENESIS.into(),
            records: 0,
            anchored: false,
        };
        verify_segment(path, &mut chain, true)?;
        return Ok(VerifyReport {
            segments: 1,
            records: chain.records,
            last_seq: chain.seq,
            last_hash: chain.prev,
        });
    }
    let segments =
        list_segments(path).map_err(|e| whole(path, format!("cannot read directory: {e}")))?;
    if segments.is_empty() {
        return Err(whole(path, "no audit segments found".into()));
    }
    // HEAD is read before the segments: a writer appending meanwhile only moves the
    // segments ahead of it, never behind.
    let head = path.join("HEAD");
    let head_text = std::fs::read_to_string(&head).ok();
    let mut chain = Chain {
        seq: 0,
        prev: GENESIS.into(),
        records: 0,
        anchored: true,
    };
    for (i, n) in segments.iter().enumerate() {
        let expected = i as u64 + 1;
        if *n != expected {
            return Err(whole(
                &path.join(segment_name(expected)),
                "segment is missing: records were dropped".into(),
            ));
        }
        let file = path.join(segment_name(*n));
        let last = i + 1 == segments.len();
        verify_segment(&file, &mut chain, last)?;
        if !last {
            check_digest(path, *n, &file, &chain)?;
        }
    }
    if let Some(text) = head_text {
        let mut parts = text.split_whitespace();
        let (Some(seq), Some(hash)) = (
            parts.next().and_then(|s| s.parse::<u64>().ok()),
            parts.next(),
        ) else {
            return Err(whole(&head, "HEAD is not `SEQ HASH`".into()));
        };
        if chain.seq < seq {
            return Err(BadRecord {
                file: path.join(segment_name(*segments.last().unwrap_or(&1))),
                line: 0,
                seq: Some(chain.seq + 1),
                reason: format!(
                    "records {}..={seq} were dropped from the end of the log (HEAD names seq {seq})",
                    chain.seq + 1
                ),
            });
        }
        if chain.seq == seq && chain.prev != hash {
            return Err(whole(
                &head,
                format!("HEAD hash does not match record {seq}"),
            ));
        }
    }
    Ok(VerifyReport {
        segments: segments.len(),
        records: chain.records,
        last_seq: chain.seq,
        last_hash: chain.prev,
    })
}

fn check_digest(dir: &Path, n: u64, file: &Path, chain: &Chain) -> Result<(), BadRecord> {
    let digest_path = dir.join(digest_name(n));
    let bad = |reason: String| BadRecord {
        file: digest_path.clone(),
        line: 0,
        seq: None,
        reason,
    };
    let text = std::fs::read_to_string(&digest_path)
        .map_err(|e| bad(format!("closed segment has no readable digest: {e}")))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("digest is not JSON: {e}")))?;
    let bytes = std::fs::read(file).map_err(|e| bad(e.to_string()))?;
    if v["sha256"].as_str() != Some(&hex::encode(Sha256::digest(&bytes))) {
        return Err(bad(format!(
            "{} does not match its digest",
            segment_name(n)
        )));
    }
    if v["last_seq"].as_u64() != Some(chain.seq) || v["last_hash"].as_str() != Some(&chain.prev) {
        return Err(bad("digest names a different last record".into()));
    }
    Ok(())
}

/// Checks one segment. In the newest segment (`tail`), a final line without its newline is a
/// record still being written (or torn by a crash, which the writer cuts on restart) and is
/// not judged; anywhere else it is damage.
fn verify_segment(file: &Path, chain: &mut Chain, tail: bool) -> Result<(), BadRecord> {
    let f = std::fs::File::open(file).map_err(|e| BadRecord {
        file: file.to_path_buf(),
        line: 0,
        seq: None,
        reason: format!("cannot open: {e}"),
    })?;
    let mut reader = BufReader::new(f);
    let mut i = 0usize;
    loop {
        let mut line = Vec::new();
        let n = reader.read_until(b'\n', &mut line);
        let lineno = i as u64 + 1;
        let bad = |seq: Option<u64>, reason: String| BadRecord {
            file: file.to_path_buf(),
            line: lineno,
            seq,
            reason,
        };
        let n = n.map_err(|e| bad(None, format!("read error: {e}")))?;
        if n == 0 {
            break;
        }
        i += 1;
        if line.last() != Some(&b'\n') {
            if tail {
                break;
            }
            return Err(bad(None, "last record is cut off".into()));
        }
        line.pop();
        let text = std::str::from_utf8(&line).map_err(|_| bad(None, "not UTF-8".into()))?;
        let mut v: Value =
            serde_json::from_str(text).map_err(|e| bad(None, format!("not a JSON record: {e}")))?;
        let seq = v.get("seq").and_then(Value::as_u64);
        let obj = v
            .as_object()
            .ok_or_else(|| bad(seq, "record is not an object".into()))?;
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        if keys != ["data", "hash", "kind", "prev", "seq", "ts"] {
            return Err(bad(seq, format!("unexpected fields {keys:?}")));
        }
        if canonical_json(&v) != text {
            return Err(bad(
                seq,
                "record is not in canonical form: it was edited".into(),
            ));
        }
        let hash = obj
            .get("hash")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(seq, "`hash` is not a string".into()))?;
        let prev = obj
            .get("prev")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(seq, "`prev` is not a string".into()))?;
        let seq = seq.ok_or_else(|| bad(None, "`seq` is not a number".into()))?;
        if let Some(o) = v.as_object_mut() {
            o.remove("hash");
        }
        let computed = hex::encode(Sha256::digest(canonical_json(&v).as_bytes()));
        if computed != hash {
            return Err(bad(
                Some(seq),
                "hash mismatch: the record's content was changed".into(),
            ));
        }
        if chain.anchored || chain.records > 0 {
            let expected = chain.seq + 1;
            if seq < expected {
                return Err(bad(
                    Some(seq),
                    format!("expected seq {expected}: record is out of order or duplicated"),
                ));
            }
            if seq > expected {
                return Err(bad(
                    Some(seq),
                    format!("expected seq {expected}: records {expected}..{seq} were dropped"),
                ));
            }
            if prev != chain.prev {
                return Err(bad(
                    Some(seq),
                    "`prev` does not match the previous record's hash: the chain was broken".into(),
                ));
            }
        }
        chain.seq = seq;
        chain.prev = hash;
        chain.records += 1;
    }
    Ok(())
}
