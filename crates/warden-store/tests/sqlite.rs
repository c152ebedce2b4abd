//! Runs the storage conformance suite against SQLite: in memory, and on disk in WAL mode
//! with two connections (a CLI and a server sharing one data directory).

mod in_memory {
    warden_store::store_conformance_tests!(warden_store::SqliteStore::in_memory().unwrap());
}

mod on_disk {
    warden_store::store_conformance_tests!({
        let dir = tempfile::tempdir().unwrap();
        let store = warden_store::SqliteStore::open(&dir.path().join("warden.db")).unwrap();
        std::mem::forget(dir);
        store
    });
}

#[test]
fn a_second_connection_sees_flips_and_generation() {
    use warden_store::{KillFlip, KillSwitchStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warden.db");
    let server = warden_store::SqliteStore::open(&path).unwrap();
    let cli = warden_store::SqliteStore::open(&path).unwrap();
    let before = server.generation().unwrap();
    cli.flip(&KillFlip {
        scope: "agent:support".parse().unwrap(),
        enabled: true,
        reason: "incident 42".into(),
        actor: "cli".into(),
        at: "2026-11-22T00:00:00Z".into(),
    })
    .unwrap();
    assert_eq!(server.generation().unwrap(), before + 1);
    assert!(server.entries().unwrap()[0].enabled);
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warden.db");
    drop(warden_store::SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = warden_store::SqliteStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("newer than this build"), "{err}");
}
