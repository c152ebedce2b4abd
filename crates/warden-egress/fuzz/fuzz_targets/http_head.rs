//! Fuzz target: the bounded HTTP request-head parser must never panic or exceed its bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_egress::http::{parse_request_head, split_host_port, HeadParse};

fuzz_target!(|data: &[u8]| {
    if let HeadParse::Complete(h) = parse_request_head(data, 4096) {
        assert!(h.head_len <= data.len() && h.head_len <= 4096);
        assert!(h.request_line_len <= h.head_len);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = split_host_port(s);
    }
});
