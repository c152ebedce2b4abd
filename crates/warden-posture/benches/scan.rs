//! Criterion benchmarks: scanning 10,000 generated policies from disk (the ≤ 2 s target), the
//! in-memory per-policy cost, and the end-to-end vulnerable stack.

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;
use std::time::Duration;
use warden_posture::{scan_paths, scan_source, ScanOptions};

#[path = "support/policygen.rs"]
#[allow(dead_code)]
mod policygen;

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("warden-posture-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    policygen::write_set(&dir, 10_000, policygen::SEED).expect("write policy set");
    let opts = ScanOptions::default();
    // Warm the catalogue once (parsed lazily on first use).
    let _ = scan_source(
        "warm.json",
        r#"{"Version":"2012-10-17","Statement":[]}"#,
        &opts,
    );

    let mut g = c.benchmark_group("posture");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("scan_10k_policies_from_disk", |b| {
        b.iter(|| {
            let r = scan_paths(std::slice::from_ref(&dir), &opts);
            assert_eq!(r.files_scanned, 10_000);
            r.findings.len()
        })
    });
    let mut rng = policygen::Rng::new(policygen::SEED);
    let texts: Vec<String> = (0..1000).map(|i| policygen::policy(&mut rng, i)).collect();
    g.bench_function("scan_1k_policies_in_memory", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| scan_source("p.json", t, &opts).findings.len())
                .sum::<usize>()
        })
    });
    let stack = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/stacks/vulnerable-support-agent.yaml");
    g.bench_function("scan_vulnerable_stack", |b| {
        b.iter(|| {
            scan_paths(std::slice::from_ref(&stack), &opts)
                .findings
                .len()
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
