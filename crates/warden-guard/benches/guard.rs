//! Criterion benchmarks: the full guardrail (every scanner on) over a ~2 KB prompt as input and
//! as output with instructions, and throughput over ~1 MB of mixed text.
//!
//! `cargo bench -p warden-guard --bench guard`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warden_guard::{Guardrail, GuardrailSpec, ScanContext, Source};

#[path = "../examples/latency.rs"]
#[allow(dead_code)]
mod latency;

fn full() -> Guardrail {
    let spec: GuardrailSpec = toml::from_str(latency::FULL_SPEC).expect("full spec parses");
    Guardrail::compile("full", &spec).expect("full spec compiles")
}

fn bench(c: &mut Criterion) {
    let g = full();
    let prompt = latency::mixed_text(2048);
    let instructions = "You are a customer support agent for Example Corp. Only look up orders of the signed-in customer.";
    let mut grp = c.benchmark_group("guard");
    grp.throughput(Throughput::Bytes(prompt.len() as u64));
    grp.bench_function("full_2kb_input", |b| {
        b.iter(|| g.scan(&prompt, Source::Input))
    });
    grp.bench_function("full_2kb_output_with_instructions", |b| {
        b.iter(|| {
            g.scan_with(
                &prompt,
                ScanContext::new(Source::Output).with_instructions(instructions),
            )
        })
    });
    grp.bench_function("full_2kb_tool_output", |b| {
        b.iter(|| g.scan(&prompt, Source::ToolOutput))
    });
    grp.finish();

    let big = latency::mixed_text(1 << 20);
    let mut grp = c.benchmark_group("guard_throughput");
    grp.sample_size(10);
    grp.throughput(Throughput::Bytes(big.len() as u64));
    grp.bench_function("full_1mb_mixed_input", |b| {
        b.iter(|| g.scan(&big, Source::Input))
    });
    grp.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
