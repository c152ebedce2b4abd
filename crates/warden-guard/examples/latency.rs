//! Latency and throughput harness (one thread): p50/p99/max of individual full-guardrail scans
//! of ~2 KB prompts, and MB/s over a ~1 MB mixed text. Complements the criterion bench with
//! percentiles.
//!
//! `cargo run -p warden-guard --release --example latency -- [ITERATIONS]`

use std::time::Instant;

use warden_guard::{Guardrail, GuardrailSpec, ScanContext, Source};

/// The "everything on" guardrail used by benches, fuzzing and this harness.
pub const FULL_SPEC: &str = include_str!("../benches/full_guardrail.toml");

/// Deterministic mixed text of about `n` bytes: prose, PII, numbers, code and JSON.
pub fn mixed_text(n: usize) -> String {
    const PARTS: &[&str] = &[
        "Hello, my name is Jane Smith and I ordered a blue kettle last week. ",
        "My order A-1043 has not arrived yet; the tracking number is 1Z999AA10123456784. ",
        "You can reach me at jane.smith@example.com or call (415) 555-2671 after 5pm. ",
        "The app shows version 2.14.3 and request id 550e8400-e29b-41d4-a716-446655440000. ",
        "{\"order\":\"ORD-2024-00017\",\"status\":\"shipped\",\"updated\":\"2024-05-06T12:34:56Z\"} ",
        "Please refund card 4111 1111 1111 1111 and send the receipt to my office. ",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. ",
        "The server at 10.0.3.17 returned HTTP 502 twice; retrying in 30 seconds. ",
        "fn main() { let total: u64 = items.iter().map(|i| i.price).sum(); println!(\"{total}\"); } ",
        "Could you also check whether the warranty covers water damage? Thanks a lot! ",
    ];
    let mut s = String::with_capacity(n + 128);
    let mut i = 0usize;
    while s.len() < n {
        s.push_str(PARTS[i % PARTS.len()]);
        i = i.wrapping_mul(7).wrapping_add(3);
    }
    s
}

fn main() {
    let iters: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let spec: GuardrailSpec = toml::from_str(FULL_SPEC).expect("full spec parses");
    let g = Guardrail::compile("full", &spec).expect("full spec compiles");
    let instructions = "You are a customer support agent for Example Corp. Only look up orders of the signed-in customer.";

    let prompt = mixed_text(2048);
    for _ in 0..200 {
        let _ = g.scan(&prompt, Source::Input);
    }
    for (label, source) in [
        ("input", Source::Input),
        ("output+instructions", Source::Output),
    ] {
        let mut samples = Vec::with_capacity(iters);
        for _ in 0..iters {
            let t = Instant::now();
            let a = g.scan_with(
                &prompt,
                ScanContext::new(source).with_instructions(instructions),
            );
            std::hint::black_box(&a);
            samples.push(t.elapsed().as_nanos() as u64);
        }
        samples.sort_unstable();
        let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize] as f64 / 1e3;
        let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64 / 1e3;
        println!(
            "2 KB prompt ({label}, {} bytes, {iters} scans): mean {mean:.1} µs, p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
            prompt.len(),
            pct(0.5),
            pct(0.99),
            pct(1.0)
        );
    }

    let big = mixed_text(1 << 20);
    let _ = g.scan(&big, Source::Input);
    // Best of several runs: the machine is shared, and the minimum is the least disturbed.
    let mut secs = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        std::hint::black_box(g.scan(&big, Source::Input));
        secs = secs.min(t.elapsed().as_secs_f64());
    }
    println!(
        "1 MB mixed text ({} bytes): {:.1} ms per scan (best of 7), {:.1} MB/s",
        big.len(),
        secs * 1e3,
        big.len() as f64 / secs / 1e6
    );
}
