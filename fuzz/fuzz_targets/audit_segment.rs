//! Fuzzes the audit verifier on arbitrary segment bytes: a report or the first bad record,
//! never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("warden-fuzz-audit-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("audit-000001.jsonl");
    if std::fs::write(&file, data).is_ok() {
        let _ = warden_audit::verify_path(&file);
    }
});
