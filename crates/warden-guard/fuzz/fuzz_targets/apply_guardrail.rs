//! Fuzz target: arbitrary bytes as an ApplyGuardrail JSON request; parsing either fails with a
//! typed error or the mapped response serialises to JSON.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warden_guard::bedrock::{apply_guardrail, ApplyGuardrailRequest};
use warden_guard::{Guardrail, GuardrailSpec};

fn guard() -> &'static Guardrail {
    static G: OnceLock<Guardrail> = OnceLock::new();
    G.get_or_init(|| {
        let spec: GuardrailSpec =
            toml::from_str(include_str!("../../benches/full_guardrail.toml")).expect("spec");
        Guardrail::compile("fuzz", &spec).expect("compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = ApplyGuardrailRequest::from_json(data) {
        let resp = apply_guardrail(guard(), &req, 0).expect("validated request applies");
        let _ = serde_json::to_vec(&resp).expect("serialises");
    }
});
