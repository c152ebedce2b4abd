//! Append-only, hash-chained audit log.
//!
//! Every record is one line of canonical JSON (keys sorted, no insignificant whitespace)
//! carrying its sequence number, the previous record's SHA-256 and its own. Records live in
//! numbered segment files; a closed segment gets a digest file (CloudTrail log-file-validation
//! style) and a `HEAD` file names the newest record, so a dropped tail is detected too.
//! Writes go through one writer thread that commits in groups: every caller waiting on a
//! group is answered only after the group is written (and fsynced, with `Durability::Fsync`).

mod canonical;
mod verify;
mod writer;

pub use canonical::canonical_json;
pub use verify::{verify_path, BadRecord, VerifyReport};
pub use writer::{AppendError, AuditLog, AuditOptions, Durability, PendingAppend};

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// File name of segment `n`.
pub fn segment_name(n: u64) -> String {
    format!("audit-{n:06}.jsonl")
}

/// File name of the digest of segment `n`.
pub fn digest_name(n: u64) -> String {
    format!("audit-{n:06}.digest")
}
