//! Audit log tests: group commit, recovery, rotation, and tamper detection of every kind.

use serde_json::json;
use std::path::Path;
use warden_audit::{verify_path, AuditLog, AuditOptions, Durability};

fn open(dir: &Path, segment_bytes: u64) -> AuditLog {
    AuditLog::open(AuditOptions {
        dir: dir.to_path_buf(),
        durability: Durability::Fsync,
        segment_bytes,
    })
    .unwrap()
}

fn write_n(dir: &Path, n: u64, segment_bytes: u64) {
    let log = open(dir, segment_bytes);
    for i in 0..n {
        let seq = log
            .append_blocking(
                "test.event",
                format!("2026-11-22T00:00:{:02}Z", i % 60),
                json!({"i": i, "tenant": "acme"}),
            )
            .unwrap();
        assert_eq!(seq, i + 1);
    }
}

fn lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn rewrite(file: &Path, lines: &[String]) {
    std::fs::write(file, lines.join("\n") + "\n").unwrap();
}

#[test]
fn concurrent_appends_are_group_committed_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), 1 << 20);
    let pending: Vec<_> = (0..500)
        .map(|i| log.append("test.event", "2026-11-22T00:00:00Z".into(), json!({"i": i})))
        .collect();
    let seqs: Vec<u64> = pending
        .into_iter()
        .map(|p| p.recv().unwrap().unwrap())
        .collect();
    assert_eq!(seqs, (1..=500).collect::<Vec<_>>());
    drop(log);
    assert_eq!(verify_path(dir.path()).unwrap().records, 500);
}

#[test]
fn clean_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 50, 1 << 20);
    let report = verify_path(dir.path()).unwrap();
    assert_eq!(report.records, 50);
    assert_eq!(report.last_seq, 50);
}

#[test]
fn reopening_continues_the_chain_and_the_lock_is_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 5, 1 << 20);
    {
        let log = open(dir.path(), 1 << 20);
        let second = AuditLog::open(AuditOptions {
            dir: dir.path().to_path_buf(),
            durability: Durability::Batch,
            segment_bytes: 1 << 20,
        });
        assert!(matches!(second, Err(warden_audit::AppendError::Locked(_))));
        assert_eq!(log.append_blocking("x", "t".into(), json!({})).unwrap(), 6);
    }
    assert_eq!(verify_path(dir.path()).unwrap().records, 6);
}

#[test]
fn torn_tail_is_cut_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 3, 1 << 20);
    let seg = dir.path().join("audit-000001.jsonl");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(b"{\"data\":{\"partial");
    std::fs::write(&seg, bytes).unwrap();
    let log = open(dir.path(), 1 << 20);
    assert_eq!(log.append_blocking("x", "t".into(), json!({})).unwrap(), 4);
    drop(log);
    assert_eq!(verify_path(dir.path()).unwrap().records, 4);
}

#[test]
fn rotation_writes_digests_and_chains_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 100, 4096);
    let segs = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(segs > 4, "expected several segments, got {segs} files");
    assert_eq!(verify_path(dir.path()).unwrap().records, 100);
    // Reopen after rotation and keep chaining.
    write_more(dir.path());
    assert_eq!(verify_path(dir.path()).unwrap().records, 101);
}

fn write_more(dir: &Path) {
    let log = open(dir, 4096);
    log.append_blocking("more", "t".into(), json!({})).unwrap();
}

#[test]
fn changed_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 10, 1 << 20);
    let seg = dir.path().join("audit-000001.jsonl");
    let mut l = lines(&seg);
    l[4] = l[4].replace("\"tenant\":\"acme\"", "\"tenant\":\"evil\"");
    rewrite(&seg, &l);
    let bad = verify_path(dir.path()).unwrap_err();
    assert_eq!((bad.line, bad.seq), (5, Some(5)));
    assert!(bad.reason.contains("hash mismatch"), "{bad}");
}

#[test]
fn non_canonical_edit_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 3, 1 << 20);
    let seg = dir.path().join("audit-000001.jsonl");
    let mut l = lines(&seg);
    l[1] = l[1].replacen('{', "{ ", 1);
    rewrite(&seg, &l);
    let bad = verify_path(dir.path()).unwrap_err();
    assert_eq!(bad.line, 2);
    assert!(bad.reason.contains("canonical"), "{bad}");
}

#[test]
fn dropped_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 10, 1 << 20);
    let seg = dir.path().join("audit-000001.jsonl");
    let mut l = lines(&seg);
    l.remove(3);
    rewrite(&seg, &l);
    let bad = verify_path(dir.path()).unwrap_err();
    assert_eq!((bad.line, bad.seq), (4, Some(5)));
    assert!(bad.reason.contains("dropped"), "{bad}");
}

#[test]
fn dropped_tail_is_detected_through_head() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 10, 1 << 20);
    let seg = dir.path().join("audit-000001.jsonl");
    let mut l = lines(&seg);
    l.truncate(7);
    rewrite(&seg, &l);
    let bad = verify_path(dir.path()).unwrap_err();
    assert!(bad.reason.contains("8..=10 were dropped"), "{bad}");
}

#[test]
fn reordered_records_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 10, 1 << 20);
    let seg = dir.path().join("audit-000001.jsonl");
    let mut l = lines(&seg);
    l.swap(5, 6);
    rewrite(&seg, &l);
    let bad = verify_path(dir.path()).unwrap_err();
    assert_eq!(bad.line, 6);
    assert!(
        bad.reason.contains("dropped") || bad.reason.contains("order"),
        "{bad}"
    );
}

#[test]
fn inserted_record_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 10, 1 << 20);
    let seg = dir.path().join("audit-000001.jsonl");
    let mut l = lines(&seg);
    // A well-formed record with a valid own hash, spliced in with a forged seq chain.
    let forged = l[2].clone();
    l.insert(3, forged);
    rewrite(&seg, &l);
    let bad = verify_path(dir.path()).unwrap_err();
    assert_eq!(bad.line, 4);
    assert!(bad.reason.contains("out of order or duplicated"), "{bad}");
}

#[test]
fn recomputed_hash_still_breaks_the_chain() {
    // An attacker who edits a record and recomputes its own hash breaks the next `prev`.
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 5, 1 << 20);
    let seg = dir.path().join("audit-000001.jsonl");
    let mut l = lines(&seg);
    let mut v: serde_json::Value = serde_json::from_str(&l[1]).unwrap();
    v["data"]["tenant"] = json!("evil");
    v.as_object_mut().unwrap().remove("hash");
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            warden_audit::canonical_json(&v).as_bytes(),
        ))
    };
    v["hash"] = json!(hash);
    l[1] = warden_audit::canonical_json(&v);
    rewrite(&seg, &l);
    let bad = verify_path(dir.path()).unwrap_err();
    assert_eq!(bad.line, 3);
    assert!(bad.reason.contains("chain was broken"), "{bad}");
}

#[test]
fn tampered_closed_segment_fails_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 60, 4096);
    let digest = dir.path().join("audit-000001.digest");
    let mut d = std::fs::read_to_string(&digest).unwrap();
    d = d.replace("\"last_seq\":", "\"last_seq\":1");
    std::fs::write(&digest, d).unwrap();
    let bad = verify_path(dir.path()).unwrap_err();
    assert!(bad.file.ends_with("audit-000001.digest"), "{bad}");
}

#[test]
fn missing_segment_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 60, 4096);
    std::fs::remove_file(dir.path().join("audit-000002.jsonl")).unwrap();
    let bad = verify_path(dir.path()).unwrap_err();
    assert!(bad.reason.contains("segment is missing"), "{bad}");
}

#[test]
fn batch_durability_commits_rotates_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = AuditLog::open(AuditOptions {
            dir: dir.path().to_path_buf(),
            durability: Durability::Batch,
            segment_bytes: 4096,
        })
        .unwrap();
        for i in 0..80u64 {
            assert_eq!(
                log.append_blocking("batch", "t".into(), json!({"i": i}))
                    .unwrap(),
                i + 1
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let report = verify_path(dir.path()).unwrap();
    assert_eq!(report.records, 80);
    assert!(report.segments > 2);
}
