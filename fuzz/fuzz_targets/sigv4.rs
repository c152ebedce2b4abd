//! Fuzzes SigV4 verification with an arbitrary `Authorization` header, date and body.

#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_auth::{SigV4Request, SigV4Verifier};
use warden_config::{AuthConfig, AwsKey};
use warden_core::{Sensitive, TenantId};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let (auth, date, body) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let verifier = SigV4Verifier::from_config(&AuthConfig {
        tenant_claim: "tenant_id".into(),
        subject_claim: "sub".into(),
        issuer: None,
        audience: None,
        leeway_secs: 60,
        max_token_bytes: 8192,
        jwks_refresh_secs: 300,
        keys: vec![],
        aws_keys: vec![AwsKey {
            access_key_id: "AKIAFUZZ000000000001".into(),
            secret: Sensitive::new("fuzz-secret".into()),
            tenant: TenantId::new("acme").expect("valid"),
        }],
    });
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = auth.parse() {
        headers.insert(http::header::AUTHORIZATION, v);
    }
    if let Ok(v) = date.parse() {
        headers.insert("x-amz-date", v);
    }
    headers.insert("host", http::HeaderValue::from_static("127.0.0.1"));
    let req = SigV4Request { method: "POST", path: "/v1/x", query: "a=b&c", headers: &headers, body: body.as_bytes(), now: 1_795_000_000 };
    let _ = verifier.verify(&req);
});
