//! The control plane's verdict store: SQLite (WAL), one row per (data plane, invocation).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};
use warden_core::Decision;

use crate::ExportRecord;

/// The most rows one query returns.
pub const MAX_QUERY_LIMIT: usize = 1000;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("verdict store `{path}`: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("verdict store `{path}`: stored row {id} is damaged: {reason}")]
    Damaged {
        path: String,
        id: i64,
        reason: String,
    },
}

/// Filters for [`VerdictStore::query`]; results are newest (`decidedAt`) first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VerdictQuery {
    pub tenant: Option<String>,
    pub decision: Option<Decision>,
    /// Only records decided at or after this time (Unix milliseconds).
    pub since_ms: Option<i64>,
    /// At most this many (clamped to 1..=[`MAX_QUERY_LIMIT`]).
    pub limit: usize,
}

/// Exported verdicts received from data planes.
#[derive(Debug)]
pub struct VerdictStore {
    path: String,
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS verdicts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    data_plane_id   TEXT NOT NULL,
    invocation_id   TEXT NOT NULL,
    tenant_id       TEXT NOT NULL,
    decision        TEXT NOT NULL,
    decided_at_ms   INTEGER NOT NULL,
    received_at_ms  INTEGER NOT NULL,
    record          TEXT NOT NULL,
    UNIQUE (data_plane_id, invocation_id)
);
CREATE INDEX IF NOT EXISTS verdicts_decided ON verdicts (decided_at_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS verdicts_tenant ON verdicts (tenant_id, decided_at_ms DESC);
";

impl VerdictStore {
    /// Opens (or creates) the database file in WAL mode.
    pub fn open(path: &Path) -> Result<VerdictStore, StoreError> {
        let shown = path.display().to_string();
        let err = |source| StoreError::Sqlite {
            path: shown.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(VerdictStore {
            path: shown,
            conn: Mutex::new(conn),
        })
    }

    /// An in-memory store (tests, demos).
    pub fn open_in_memory() -> Result<VerdictStore, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: ":memory:".into(),
            source,
        };
        let conn = Connection::open_in_memory().map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(VerdictStore {
            path: ":memory:".into(),
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // SQLite rolls back an unfinished transaction; the connection stays usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Stores the records in one transaction; a record whose (dataPlaneId, invocationId) is
    /// already stored is skipped. Returns how many were new. Callers validate first.
    pub fn insert_batch(
        &self,
        records: &[ExportRecord],
        received_at_ms: i64,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let mut inserted = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO verdicts (data_plane_id, invocation_id, tenant_id, \
                     decision, decided_at_ms, received_at_ms, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| self.err(e))?;
            for r in records {
                let json = serde_json::to_string(r).map_err(|e| StoreError::Damaged {
                    path: self.path.clone(),
                    id: 0,
                    reason: e.to_string(),
                })?;
                inserted += stmt
                    .execute(params![
                        r.data_plane_id,
                        r.invocation_id,
                        r.tenant_id,
                        r.decision.as_str(),
                        r.decided_at_ms(),
                        received_at_ms,
                        json
                    ])
                    .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(inserted)
    }

    /// Records matching the query, newest first.
    pub fn query(&self, q: &VerdictQuery) -> Result<Vec<ExportRecord>, StoreError> {
        let limit = q.limit.clamp(1, MAX_QUERY_LIMIT) as i64;
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, record FROM verdicts \
                 WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR decision = ?2) \
                 AND (?3 IS NULL OR decided_at_ms >= ?3) \
                 ORDER BY decided_at_ms DESC, id DESC LIMIT ?4",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(
                params![q.tenant, q.decision.map(|d| d.as_str()), q.since_ms, limit],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)),
            )
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, json) = row.map_err(|e| self.err(e))?;
            let rec = serde_json::from_str(&json).map_err(|e| StoreError::Damaged {
                path: self.path.clone(),
                id,
                reason: e.to_string(),
            })?;
            out.push(rec);
        }
        Ok(out)
    }

    /// How many records are stored.
    pub fn count(&self) -> Result<u64, StoreError> {
        let conn = self.conn();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM verdicts", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(n as u64)
    }

    /// The stored record for (data plane, invocation), if any.
    pub fn get(
        &self,
        data_plane_id: &str,
        invocation_id: &str,
    ) -> Result<Option<ExportRecord>, StoreError> {
        let conn = self.conn();
        let row: Option<(i64, String)> = conn
            .query_row(
                "SELECT id, record FROM verdicts WHERE data_plane_id = ?1 AND invocation_id = ?2",
                params![data_plane_id, invocation_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(|(id, json)| {
            serde_json::from_str(&json).map_err(|e| StoreError::Damaged {
                path: self.path.clone(),
                id,
                reason: e.to_string(),
            })
        })
        .transpose()
    }
}
