//! Session memory: the cost of one turn's load + save of a session holding a full window of
//! 20 exchanges in the embedded SQLite store, and the bytes an idle session occupies.
//!
//! `cargo bench -p warden-server --bench sessions`
//!
//! An idle session holds no process memory: it lives only in the store, so its cost is the
//! store's bytes. The figure is printed once before the timings (database file size after
//! writing 10,000 idle sessions, divided by 10,000; WAL checkpointed).

use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;
use warden_agent::Exchange;
use warden_core::{AgentId, SessionId, TenantId};
use warden_server::sessions::{load, save, SessionMemory};
use warden_store::{SessionKey, SqliteStore, Store};

fn memory(exchanges: usize) -> SessionMemory {
    let mut m = SessionMemory::default();
    for i in 0..exchanges {
        m.remember(
            Exchange {
                user: format!("Where is my order A-{:04}? It was due last week and I need it.", 1000 + i),
                assistant: format!(
                    "Order A-{:04} has shipped and is arriving Tuesday. The carrier is UPS; you will get an e-mail with the tracking link once it is out for delivery.",
                    1000 + i
                ),
            },
            20,
        );
    }
    m
}

fn key(i: usize) -> SessionKey {
    SessionKey {
        tenant: TenantId::new("acme").unwrap(),
        agent: AgentId::new("support").unwrap(),
        session: SessionId::new(format!("session-{i:06}")).unwrap(),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Bytes per idle session (one exchange each, the common case of a short conversation;
    // and a full 20-exchange window).
    for exchanges in [1usize, 20] {
        let path = dir.path().join(format!("idle-{exchanges}.db"));
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        let base = std::fs::metadata(&path).unwrap().len();
        let m = memory(exchanges);
        let n = 10_000;
        rt.block_on(async {
            for i in 0..n {
                save(&store, &key(i), &m).await.unwrap();
            }
        });
        drop(store);
        // Reopening checkpoints nothing by itself; measure the main file plus its WAL.
        let wal = path.with_extension("db-wal");
        let total = std::fs::metadata(&path).unwrap().len()
            + std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0)
            - base;
        println!(
            "idle session with {exchanges} exchange(s): {} bytes in the store ({} sessions, {} bytes of JSON each), 0 bytes of process memory",
            total / n as u64,
            n,
            serde_json::to_string(&m).unwrap().len()
        );
    }

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("turn.db")).unwrap());
    let k = key(1);
    rt.block_on(save(&store, &k, &memory(20))).unwrap();
    c.bench_function("session_turn_load_and_save_20_exchanges", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut m = load(&store, &k, 3600).await.unwrap();
                m.remember(
                    Exchange {
                        user: "And the other one?".into(),
                        assistant: "It is being packed.".into(),
                    },
                    20,
                );
                save(&store, &k, &m).await.unwrap();
            })
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
