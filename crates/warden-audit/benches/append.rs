//! Criterion benchmark: audit appends through the group-commit writer.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use warden_audit::{AuditLog, AuditOptions, Durability};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("audit_append");
    for (name, durability) in [("batch", Durability::Batch), ("fsync", Durability::Fsync)] {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(AuditOptions {
            dir: dir.path().into(),
            durability,
            segment_bytes: 64 << 20,
        })
        .unwrap();
        let record = json!({"decision": "allow", "tenant": "acme", "agent": "support", "status": 200, "request_id": "01J0000000000000000000000"});
        // 256 concurrent appends per iteration, as a loaded server would issue them.
        group.throughput(Throughput::Elements(256));
        group.bench_function(format!("{name}_x256"), |b| {
            b.iter(|| {
                let pending: Vec<_> = (0..256)
                    .map(|_| {
                        log.append(
                            "frontdoor.decision",
                            "2026-11-22T00:00:00Z".into(),
                            record.clone(),
                        )
                    })
                    .collect();
                for p in pending {
                    p.recv().unwrap().unwrap();
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
