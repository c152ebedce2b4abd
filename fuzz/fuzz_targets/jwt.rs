//! Fuzzes JWT verification: any input must yield a principal or a precise error, never a
//! panic, and must never verify without the key.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use warden_auth::JwtVerifier;
use warden_config::{AuthConfig, KeySource};
use warden_core::Sensitive;

fn verifier() -> &'static JwtVerifier {
    static V: OnceLock<JwtVerifier> = OnceLock::new();
    V.get_or_init(|| {
        JwtVerifier::from_config(&AuthConfig {
            tenant_claim: "tenant_id".into(),
            subject_claim: "sub".into(),
            issuer: None,
            audience: None,
            leeway_secs: 60,
            max_token_bytes: 8192,
            jwks_refresh_secs: 300,
            keys: vec![KeySource::Hs256 { kid: None, secret: Sensitive::new(vec![7u8; 32]) }],
            aws_keys: vec![],
        })
        .expect("static key")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = verifier().verify(token);
    }
});
