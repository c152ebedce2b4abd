//! Fuzz target: a guardrail with every scanner on scans arbitrary bytes (lossy UTF-8) as each
//! source; findings must lie on char boundaries inside the text and never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warden_guard::{Guardrail, GuardrailSpec, ScanContext, Source};

fn guard() -> &'static Guardrail {
    static G: OnceLock<Guardrail> = OnceLock::new();
    G.get_or_init(|| {
        let spec: GuardrailSpec =
            toml::from_str(include_str!("../../benches/full_guardrail.toml")).expect("spec");
        Guardrail::compile("fuzz", &spec).expect("compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let g = guard();
    for source in [Source::Input, Source::Output, Source::ToolOutput] {
        let cx = ScanContext::new(source).with_instructions(
            "You are a customer support agent for Example Corp. Only look up orders of the signed-in customer.",
        );
        let a = g.scan_with(&text, cx);
        for f in &a.findings {
            assert!(f.span.start <= f.span.end && f.span.end <= text.len());
            assert!(text.is_char_boundary(f.span.start) && text.is_char_boundary(f.span.end));
        }
        if !a.intervened() {
            assert_eq!(a.output_text, text);
        }
    }
});
