//! Fuzzes `warden.toml` loading: any text yields a config or a list of problems, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let env: BTreeMap<String, String> = BTreeMap::new();
        let _ = warden_config::load_str(text, std::path::Path::new("/nonexistent/warden.toml"), &env);
    }
});
