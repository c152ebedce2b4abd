//! Fuzz target: the trace parser over arbitrary text never panics; whatever it accepts the
//! detector evaluates without panicking, and observation links point at earlier steps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_detect::{evaluate, parse_trace, Evidence, StepKind};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(trace) = parse_trace(text) {
        for (i, s) in trace.steps.iter().enumerate() {
            if let StepKind::Observation { of: Some(o), .. } = s.kind {
                assert!(o < i);
            }
        }
        let findings = evaluate(&Evidence {
            steps: trace.steps,
            ..Evidence::default()
        });
        for f in findings {
            assert!((0.0..=1.0).contains(&f.confidence));
        }
    }
});
