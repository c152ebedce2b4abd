//! Fuzz target: the TLS ClientHello SNI parser must never panic and must be prefix-monotone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_egress::sni::{parse_client_hello, SniParse};

fuzz_target!(|data: &[u8]| {
    let r = parse_client_hello(data);
    if let SniParse::ClientHello { sni: Some(name) } = &r {
        assert!(name.len() <= 253);
        assert!(!name.bytes().any(|b| b.is_ascii_uppercase()));
    }
    // A complete verdict on a prefix must not change when more bytes arrive.
    if data.len() > 1 {
        let p = parse_client_hello(&data[..data.len() / 2]);
        if matches!(p, SniParse::ClientHello { .. }) {
            assert_eq!(p, r);
        }
    }
});
