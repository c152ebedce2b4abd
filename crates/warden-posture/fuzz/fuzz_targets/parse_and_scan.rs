//! Fuzz target: arbitrary bytes through the JSON/YAML/HCL/TOML parsers, the CloudFormation
//! intrinsic resolver and every rule. Must never panic, hang or blow the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_posture::{parse_document, scan_source, ScanOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_document(text);
    let opts = ScanOptions::default();
    // The first byte picks the front end so one corpus exercises all of them.
    let name = match data.first().map(|b| b % 5) {
        Some(0) => "policy.json",
        Some(1) => "template.yaml",
        Some(2) => "main.tf",
        Some(3) => "warden.toml",
        _ => "input",
    };
    let _ = scan_source(name, text, &opts);
});
