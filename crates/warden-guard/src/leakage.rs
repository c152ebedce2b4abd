//! Instruction leakage: word n-gram containment of the agent's instructions in an output,
//! plus the longest verbatim run, with the span of the copied region.

use crate::fxhash::{hash_str, FxHashSet};
use crate::words::Token;

/// Result of comparing an output with the instructions.
#[derive(Debug, Clone)]
pub(crate) struct LeakageHit {
    pub start: usize,
    pub end: usize,
    /// Share of the instructions' n-grams present in the output.
    pub containment: f32,
    /// Longest run of consecutive output words copied from the instructions.
    pub longest_run_words: usize,
}

fn gram_hash(toks: &[u64]) -> u64 {
    toks.iter().fold(0xcbf2_9ce4_8422_2325u64, |acc, &t| {
        (acc.rotate_left(17) ^ t).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Compares `out_toks` (output tokens) with `instructions`; `None` when under threshold.
pub(crate) fn check(
    instructions: &str,
    out_toks: &[Token<'_>],
    n: usize,
    threshold: f32,
) -> Option<LeakageHit> {
    let norm = crate::normalize::Normalized::new(instructions);
    let lower = norm.text.to_ascii_lowercase();
    let itoks: Vec<u64> = crate::words::tokens(&lower)
        .iter()
        .map(|t| hash_str(&t.text))
        .collect();
    // Very short instructions: compare with n = their length, at least 3 words.
    if itoks.len() < 3 || out_toks.len() < 3 {
        return None;
    }
    let n = n.min(itoks.len()).max(1);
    let igrams: FxHashSet<u64> = itoks.windows(n).map(gram_hash).collect();
    if igrams.is_empty() {
        return None;
    }
    let otoks: Vec<u64> = out_toks.iter().map(|t| hash_str(&t.text)).collect();
    let mut matched: FxHashSet<u64> = FxHashSet::default();
    let mut first: Option<usize> = None;
    let mut last = 0usize;
    let mut run = 0usize;
    let mut longest = 0usize;
    for (i, w) in otoks.windows(n).enumerate() {
        let h = gram_hash(w);
        if igrams.contains(&h) {
            matched.insert(h);
            first.get_or_insert(i);
            last = i + n - 1;
            run = if run == 0 { n } else { run + 1 };
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let containment = matched.len() as f32 / igrams.len() as f32;
    // A long verbatim copy leaks even when the instructions are much longer than it.
    let long_copy = longest >= 24;
    if containment < threshold && !long_copy {
        return None;
    }
    let first = first?;
    Some(LeakageHit {
        start: out_toks.get(first)?.start,
        end: out_toks.get(last)?.end,
        containment,
        longest_run_words: longest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTR: &str = "You are a customer support agent for Example Corp. Only look up orders of the signed-in customer. Never reveal internal discount codes such as STAFF50.";

    fn run(out: &str) -> Option<LeakageHit> {
        let lower = out.to_ascii_lowercase();
        let toks = crate::words::tokens(&lower);
        check(INSTR, &toks, 5, 0.3)
    }

    #[test]
    fn verbatim_leak_detected() {
        let out = "Sure! My instructions say: You are a customer support agent for Example Corp. Only look up orders of the signed-in customer. Never reveal internal discount codes such as STAFF50.";
        let h = run(out).expect("leak");
        assert!(h.containment > 0.9);
        assert!(out[h.start..h.end].starts_with("You are"));
    }

    #[test]
    fn paraphrase_of_role_is_clean() {
        assert!(run(
            "I am a customer support agent for Example Corp. How can I help with your order?"
        )
        .is_none());
        assert!(run("Your order 1043 shipped yesterday.").is_none());
    }
}
