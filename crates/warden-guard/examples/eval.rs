//! Evaluator: runs a guardrail with every PII type and secrets on over a labelled JSONL corpus
//! (from the `corpus` example) and reports per-type precision, recall and F1, plus throughput.
//! A predicted span counts as a true positive when it overlaps a gold span of the same type.
//!
//! `cargo run -p warden-guard --release --example eval -- CORPUS.jsonl [PREDICTIONS_OUT.jsonl]`

use std::collections::BTreeMap;
use std::io::{BufRead as _, Write as _};
use std::time::Instant;

use warden_guard::{FindingKind, Guardrail, GuardrailSpec, PiiType, Source};

#[derive(serde::Deserialize)]
struct Record {
    id: u64,
    source: String,
    text: String,
    spans: Vec<Span>,
}

#[derive(serde::Deserialize, serde::Serialize, Clone)]
struct Span {
    start: usize,
    end: usize,
    #[serde(rename = "type")]
    kind: String,
}

fn guard() -> Guardrail {
    let mut spec = GuardrailSpec::default();
    for t in PiiType::ALL {
        spec.pii.insert(
            t.name().to_owned(),
            warden_guard::ActionSpec::Both(warden_guard::ConfigAction::Anonymize),
        );
    }
    spec.secrets = Some(warden_guard::SecretsSpec::default());
    spec.decode = Some(warden_guard::DecodeSpec::default());
    Guardrail::compile("eval", &spec).expect("eval guardrail compiles")
}

fn label(k: &FindingKind) -> Option<String> {
    match k {
        FindingKind::Pii(t) => Some(t.name().to_owned()),
        FindingKind::Secret(s) => Some(s.name().to_owned()),
        _ => None,
    }
}

/// Per-type (tp, fp, fn) with overlap matching.
fn score(gold: &[Span], pred: &[Span], table: &mut BTreeMap<String, (u64, u64, u64)>) {
    let mut used = vec![false; gold.len()];
    for p in pred {
        let hit = gold
            .iter()
            .enumerate()
            .find(|(i, g)| !used[*i] && g.kind == p.kind && p.start < g.end && g.start < p.end);
        let e = table.entry(p.kind.clone()).or_default();
        if let Some((i, _)) = hit {
            used[i] = true;
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    for (i, g) in gold.iter().enumerate() {
        if !used[i] {
            table.entry(g.kind.clone()).or_default().2 += 1;
        }
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "corpus.jsonl".into());
    let pred_out = args.get(2).cloned();
    let g = guard();
    let f = std::io::BufReader::new(std::fs::File::open(&path)?);
    let mut records = Vec::new();
    for line in f.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(&line) {
            Ok(r) => records.push(r),
            Err(e) => eprintln!("skipping bad line: {e}"),
        }
    }
    let bytes: usize = records.iter().map(|r| r.text.len()).sum();
    // warm up
    for r in records.iter().take(50) {
        let _ = g.scan(&r.text, Source::Input);
    }
    let mut table: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    let mut preds_all = Vec::with_capacity(records.len());
    let t0 = Instant::now();
    for r in &records {
        let source = if r.source == "tool_output" {
            Source::ToolOutput
        } else {
            Source::Input
        };
        let a = g.scan(&r.text, source);
        preds_all.push(a);
    }
    let elapsed = t0.elapsed();
    let mut out = pred_out
        .as_ref()
        .map(|p| std::fs::File::create(p).map(std::io::BufWriter::new))
        .transpose()?;
    for (r, a) in records.iter().zip(&preds_all) {
        let pred: Vec<Span> = a
            .findings
            .iter()
            .filter_map(|f| {
                label(&f.kind).map(|kind| Span {
                    start: f.span.start,
                    end: f.span.end,
                    kind,
                })
            })
            .collect();
        score(&r.spans, &pred, &mut table);
        if let Some(o) = out.as_mut() {
            let line = serde_json::json!({"id": r.id, "spans": pred});
            writeln!(o, "{line}")?;
        }
    }
    println!(
        "warden-guard on {path}: {} records, {} bytes",
        records.len(),
        bytes
    );
    println!("| type | tp | fp | fn | precision | recall | F1 |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let (mut tp_all, mut fp_all, mut fn_all) = (0, 0, 0);
    for (k, (tp, fp, fn_)) in &table {
        let p = if tp + fp > 0 {
            *tp as f64 / (tp + fp) as f64
        } else {
            0.0
        };
        let r = if tp + fn_ > 0 {
            *tp as f64 / (tp + fn_) as f64
        } else {
            0.0
        };
        let f1 = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        println!("| {k} | {tp} | {fp} | {fn_} | {p:.3} | {r:.3} | {f1:.3} |");
        tp_all += tp;
        fp_all += fp;
        fn_all += fn_;
    }
    let p = tp_all as f64 / (tp_all + fp_all).max(1) as f64;
    let r = tp_all as f64 / (tp_all + fn_all).max(1) as f64;
    println!(
        "| **micro** | {tp_all} | {fp_all} | {fn_all} | {p:.3} | {r:.3} | {:.3} |",
        2.0 * p * r / (p + r).max(f64::MIN_POSITIVE)
    );
    let secs = elapsed.as_secs_f64();
    println!(
        "scan time {:.1} ms total, {:.1} µs/record, {:.1} MB/s (one thread)",
        secs * 1e3,
        secs * 1e6 / records.len().max(1) as f64,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}
