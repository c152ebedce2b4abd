//! Verdict-only export: the closed export record, a bounded on-disk queue with retries, and the control-plane receiver.
//!
//! - [`ExportRecord`]: the only shape that leaves a data plane (DESIGN.md §3 invariant 4).
//! - [`Exporter`]: `enqueue` appends to a durable on-disk queue; a background task posts
//!   batches to the control plane with retries, exponential backoff and jitter, and resumes
//!   from disk after a restart. The queue is bounded; when full the oldest records are dropped
//!   and counted.
//! - [`console_router`] / [`serve_console`]: the control-plane receiver, `POST /v1/verdicts`
//!   (strict validation, idempotent on data plane id + invocation id) and `GET /v1/verdicts`,
//!   stored in SQLite ([`VerdictStore`]).

mod console;
mod exporter;
mod queue;
mod record;
mod store;

use std::path::PathBuf;

pub use console::{console_router, serve_console, ConsoleOptions, MAX_BATCH_RECORDS};
pub use exporter::{ExportCounters, Exporter, ExporterOptions};
pub use record::{
    parse_rfc3339_ms, rfc3339, ExportRecord, RecordError, MAX_ID_LEN, MAX_REASON_CHARS, MAX_RULES,
    RECORD_KEYS, SCHEMA_VERSION,
};
pub use store::{StoreError, VerdictQuery, VerdictStore, MAX_QUERY_LIMIT};

/// Why the exporter could not start or accept a record.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("export queue `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("export queue `{path}` is damaged: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("export record is invalid: {0}")]
    Record(#[from] RecordError),
    #[error("export: control_plane_url `{url}` is not an http(s) URL")]
    BadUrl { url: String },
    #[error("export: data plane id `{id}`: {reason}")]
    BadDataPlaneId { id: String, reason: String },
    #[error("export: token_env names `{var}`, which is not set")]
    TokenEnvMissing { var: String },
    #[error("export: cannot build the HTTP client: {0}")]
    Client(String),
}
