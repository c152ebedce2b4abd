//! Export hot paths: building a record from a verdict, the durable enqueue, and the
//! receiver's SQLite batch insert.

use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use warden_core::{Decision, Reason, Verdict, VerdictMode};
use warden_export::{ExportRecord, Exporter, ExporterOptions, VerdictStore};

fn verdict(i: u64) -> Verdict {
    Verdict {
        decision: Decision::Block,
        confidence: 0.9,
        reasons: vec![
            Reason {
                rule: "guard.input.pii".into(),
                message: "Input contains an email address.".into(),
                evidence: vec!["step:1".into()],
            },
            Reason {
                rule: "gap.undeclared-host".into(),
                message: "Tool reached a host it did not declare.".into(),
                evidence: vec!["egress:3".into()],
            },
        ],
        mode: VerdictMode::Enforce,
        checks: vec!["frontdoor".into(), "guard:input".into()],
        tenant_id: "acme".into(),
        agent_id: "support".into(),
        session_id: "sess-1".into(),
        invocation_id: format!("inv-{i}"),
        started_at: "2026-11-22T03:00:00Z".into(),
        decided_at: "2026-11-22T03:00:01.250Z".into(),
    }
}

fn benches(c: &mut Criterion) {
    let v = verdict(1);
    c.bench_function("record_from_verdict_and_serialize", |b| {
        b.iter(|| {
            let r = ExportRecord::from_verdict(&v, "dp-1", SystemTime::UNIX_EPOCH);
            serde_json::to_string(&r).unwrap()
        })
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: records stay queued, so this measures the append alone
    // (including dropping the oldest once the 64 MiB bound is reached).
    let mut o = ExporterOptions::new(
        "http://127.0.0.1:1/v1/verdicts",
        dir.path().join("export"),
        "dp-1",
    );
    o.backoff_base = Duration::from_secs(30);
    o.queue_max_bytes = 64 * 1024 * 1024;
    let exporter = rt.block_on(async { Exporter::start(o).unwrap() });
    let record = ExportRecord::from_verdict(&v, "dp-1", SystemTime::UNIX_EPOCH);
    c.bench_function("exporter_enqueue_durable_append", |b| {
        b.iter(|| exporter.enqueue(&record).unwrap())
    });
    drop(exporter);

    let store = VerdictStore::open(&dir.path().join("console.db")).unwrap();
    let mut next = 0u64;
    c.bench_function("store_insert_batch_100", |b| {
        b.iter_batched(
            || {
                let batch: Vec<ExportRecord> = (next..next + 100)
                    .map(|i| {
                        ExportRecord::from_verdict(&verdict(i), "dp-1", SystemTime::UNIX_EPOCH)
                    })
                    .collect();
                next += 100;
                batch
            },
            |batch| store.insert_batch(&batch, 0).unwrap(),
            BatchSize::SmallInput,
        )
    });
}

criterion_group! {
    name = export;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = benches
}
criterion_main!(export);
