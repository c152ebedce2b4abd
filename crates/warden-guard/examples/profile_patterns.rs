//! Profiling helper: time of each built-in candidate regex (find_iter) over ~1 MB mixed text.
//!
//! `cargo run -p warden-guard --release --example profile_patterns`

use std::time::Instant;

#[path = "latency.rs"]
#[allow(dead_code)]
mod latency;

fn main() {
    let text = latency::mixed_text(1 << 20);
    let mut rows = Vec::new();
    for (name, pat) in warden_guard::builtin_pattern_sources() {
        let re = regex::Regex::new(&pat).expect("compiles");
        let t = Instant::now();
        let n = re.find_iter(&text).count();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        rows.push((ms, name, n));
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (ms, name, n) in rows {
        println!("{ms:8.2} ms  {name:<16} {n} matches");
    }
}
