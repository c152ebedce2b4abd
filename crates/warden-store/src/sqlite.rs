//! The embedded SQLite backend (WAL mode, numbered migrations, one serialized connection).

use crate::*;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

/// Numbered schema migrations; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: kill switch, usage, sessions, verdicts.
    "CREATE TABLE killswitch (
        scope TEXT PRIMARY KEY,
        enabled INTEGER NOT NULL,
        reason TEXT NOT NULL,
        actor TEXT NOT NULL,
        updated_at TEXT NOT NULL
     );
     CREATE TABLE killswitch_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scope TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        reason TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        audited INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
     INSERT INTO meta (key, value) VALUES ('killswitch_generation', 0);
     CREATE TABLE usage (
        tenant TEXT NOT NULL,
        window INTEGER NOT NULL,
        tokens INTEGER NOT NULL,
        PRIMARY KEY (tenant, window)
     );
     CREATE TABLE sessions (
        tenant TEXT NOT NULL,
        agent TEXT NOT NULL,
        session TEXT NOT NULL,
        data TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, agent, session)
     );
     CREATE INDEX sessions_updated ON sessions (updated_at);
     CREATE TABLE verdicts (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        invocation_id TEXT NOT NULL,
        tenant TEXT NOT NULL,
        agent TEXT NOT NULL,
        session TEXT NOT NULL,
        decision TEXT NOT NULL,
        confidence REAL NOT NULL,
        rules TEXT NOT NULL,
        reason TEXT NOT NULL,
        decided_at TEXT NOT NULL
     );
     CREATE INDEX verdicts_tenant ON verdicts (tenant, seq);",
];

/// SQLite-backed [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Backend(e.to_string()))?;
        }
        let conn = Connection::open(path).map_err(backend)?;
        Self::init(conn)
    }

    /// An in-memory database, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(backend)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(backend)?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::Corrupt(format!(
                "database schema version {version} is newer than this build ({known})"
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute_batch(sql).map_err(backend)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
        }
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Backend("connection lock poisoned".into()))?;
        f(&mut conn).map_err(backend)
    }
}

fn parse_scope(s: &str) -> Result<KillScope, StoreError> {
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("kill-switch scope: {e}")))
}

impl KillSwitchStore for SqliteStore {
    fn flip(&self, flip: &KillFlip) -> Result<u64, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO killswitch (scope, enabled, reason, actor, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (scope) DO UPDATE SET enabled = ?2, reason = ?3, actor = ?4, updated_at = ?5",
                params![flip.scope.to_string(), flip.enabled, flip.reason, flip.actor, flip.at],
            )?;
            tx.execute(
                "INSERT INTO killswitch_events (scope, enabled, reason, actor, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![flip.scope.to_string(), flip.enabled, flip.reason, flip.actor, flip.at],
            )?;
            tx.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'killswitch_generation'",
                [],
            )?;
            let generation: i64 = tx.query_row(
                "SELECT value FROM meta WHERE key = 'killswitch_generation'",
                [],
                |r| r.get(0),
            )?;
            tx.commit()?;
            Ok(generation as u64)
        })
    }

    fn entries(&self) -> Result<Vec<KillEntry>, StoreError> {
        let rows = self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT scope, enabled, reason, actor, updated_at FROM killswitch ORDER BY scope",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })?;
        rows.into_iter()
            .map(|(scope, enabled, reason, actor, updated_at)| {
                Ok(KillEntry {
                    scope: parse_scope(&scope)?,
                    enabled,
                    reason,
                    actor,
                    updated_at,
                })
            })
            .collect()
    }

    fn generation(&self) -> Result<u64, StoreError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT value FROM meta WHERE key = 'killswitch_generation'",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|g| g as u64)
    }

    fn unaudited_flips(&self) -> Result<Vec<(i64, KillFlip)>, StoreError> {
        let rows = self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, scope, enabled, reason, actor, at FROM killswitch_events WHERE audited = 0 ORDER BY id",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })?;
        rows.into_iter()
            .map(|(id, scope, enabled, reason, actor, at)| {
                Ok((
                    id,
                    KillFlip {
                        scope: parse_scope(&scope)?,
                        enabled,
                        reason,
                        actor,
                        at,
                    },
                ))
            })
            .collect()
    }

    fn mark_audited(&self, ids: &[i64]) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            for id in ids {
                tx.execute(
                    "UPDATE killswitch_events SET audited = 1 WHERE id = ?1",
                    [id],
                )?;
            }
            tx.commit()
        })
    }
}

impl UsageStore for SqliteStore {
    fn add_tokens(&self, tenant: &TenantId, window: u64, tokens: u64) -> Result<u64, StoreError> {
        self.with(|conn| {
            conn.query_row(
                "INSERT INTO usage (tenant, window, tokens) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, window) DO UPDATE SET tokens = tokens + ?3
                 RETURNING tokens",
                params![tenant.as_str(), window as i64, tokens as i64],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|t| t as u64)
    }

    fn tokens(&self, tenant: &TenantId, window: u64) -> Result<u64, StoreError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT tokens FROM usage WHERE tenant = ?1 AND window = ?2",
                params![tenant.as_str(), window as i64],
                |r| r.get::<_, i64>(0),
            )
            .optional()
        })
        .map(|t| t.unwrap_or(0) as u64)
    }
}

impl SessionStore for SqliteStore {
    fn load_session(
        &self,
        key: &SessionKey,
        now: u64,
        idle_secs: u64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = self.with(|conn| {
            conn.query_row(
                "SELECT data, updated_at FROM sessions WHERE tenant = ?1 AND agent = ?2 AND session = ?3",
                params![key.tenant.as_str(), key.agent.as_str(), key.session.as_str()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()
        })?;
        Ok(row.and_then(|(data, updated_at)| {
            let updated_at = updated_at as u64;
            (now.saturating_sub(updated_at) <= idle_secs)
                .then_some(SessionRecord { data, updated_at })
        }))
    }

    fn save_session(&self, key: &SessionKey, record: &SessionRecord) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO sessions (tenant, agent, session, data, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant, agent, session) DO UPDATE SET data = ?4, updated_at = ?5",
                params![
                    key.tenant.as_str(),
                    key.agent.as_str(),
                    key.session.as_str(),
                    record.data,
                    record.updated_at as i64
                ],
            )
            .map(|_| ())
        })
    }

    fn delete_session(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.with(|conn| {
            conn.execute(
                "DELETE FROM sessions WHERE tenant = ?1 AND agent = ?2 AND session = ?3",
                params![
                    key.tenant.as_str(),
                    key.agent.as_str(),
                    key.session.as_str()
                ],
            )
        })
        .map(|n| n > 0)
    }

    fn expire_sessions(&self, cutoff: u64) -> Result<usize, StoreError> {
        self.with(|conn| {
            conn.execute(
                "DELETE FROM sessions WHERE updated_at < ?1",
                [cutoff as i64],
            )
        })
    }
}

impl VerdictIndex for SqliteStore {
    fn insert_verdicts(&self, rows: &[VerdictRow]) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO verdicts (invocation_id, tenant, agent, session, decision, confidence, rules, reason, decided_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                for v in rows {
                    stmt.execute(params![
                        v.invocation_id,
                        v.tenant,
                        v.agent,
                        v.session,
                        v.decision,
                        v.confidence,
                        v.rules.join(","),
                        v.reason,
                        v.decided_at
                    ])?;
                }
            }
            tx.commit()
        })
    }

    fn list_verdicts(&self, filter: &VerdictFilter) -> Result<Vec<VerdictRow>, StoreError> {
        let limit = if filter.limit == 0 {
            100
        } else {
            filter.limit.min(10_000)
        };
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT invocation_id, tenant, agent, session, decision, confidence, rules, reason, decided_at
                 FROM verdicts
                 WHERE (?1 IS NULL OR tenant = ?1) AND (?2 IS NULL OR decision = ?2)
                 ORDER BY seq DESC LIMIT ?3",
            )?;
            let rows = stmt
                .query_map(params![filter.tenant, filter.decision, limit as i64], |r| {
                    let rules: String = r.get(6)?;
                    Ok(VerdictRow {
                        invocation_id: r.get(0)?,
                        tenant: r.get(1)?,
                        agent: r.get(2)?,
                        session: r.get(3)?,
                        decision: r.get(4)?,
                        confidence: r.get(5)?,
                        rules: if rules.is_empty() {
                            Vec::new()
                        } else {
                            rules.split(',').map(str::to_string).collect()
                        },
                        reason: r.get(7)?,
                        decided_at: r.get(8)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }
}
