//! Criterion benchmarks for token verification: HS256, RS256, ES256, EdDSA and SigV4.

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use warden_auth::{JwtVerifier, SigV4Request, SigV4Verifier};
use warden_config::{AuthConfig, AwsKey, KeySource, PublicKeyAlg};
use warden_core::{Sensitive, TenantId};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");

fn config(keys: Vec<KeySource>) -> AuthConfig {
    AuthConfig {
        tenant_claim: "tenant_id".into(),
        subject_claim: "sub".into(),
        issuer: Some("https://auth.example.com/".into()),
        audience: Some("warden".into()),
        leeway_secs: 60,
        max_token_bytes: 8192,
        jwks_refresh_secs: 300,
        keys,
        aws_keys: vec![AwsKey {
            access_key_id: "AKIAWARDENEXAMPLE01".into(),
            secret: Sensitive::new("secret-key-for-bench".into()),
            tenant: TenantId::new("acme").unwrap(),
        }],
    }
}

fn token(alg: Algorithm, key: &EncodingKey) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"sub": "user-1", "tenant_id": "acme", "iss": "https://auth.example.com/",
        "aud": "warden", "exp": now + 3600, "iat": now});
    jsonwebtoken::encode(&Header::new(alg), &claims, key).unwrap()
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{KEYS}/{name}")).unwrap()
}

fn bench(c: &mut Criterion) {
    let hs = b"0123456789abcdef0123456789abcdef".to_vec();
    let cases = [
        (
            "HS256",
            KeySource::Hs256 {
                kid: None,
                secret: Sensitive::new(hs.clone()),
            },
            token(Algorithm::HS256, &EncodingKey::from_secret(&hs)),
        ),
        (
            "RS256",
            KeySource::PublicKey {
                kid: None,
                alg: PublicKeyAlg::Rs256,
                pem: read("rs256.pub"),
                origin: "rs256.pub".into(),
            },
            token(
                Algorithm::RS256,
                &EncodingKey::from_rsa_pem(&read("rs256.key")).unwrap(),
            ),
        ),
        (
            "ES256",
            KeySource::PublicKey {
                kid: None,
                alg: PublicKeyAlg::Es256,
                pem: read("es256.pub"),
                origin: "es256.pub".into(),
            },
            token(
                Algorithm::ES256,
                &EncodingKey::from_ec_pem(&read("es256.key")).unwrap(),
            ),
        ),
        (
            "EdDSA",
            KeySource::PublicKey {
                kid: None,
                alg: PublicKeyAlg::EdDsa,
                pem: read("ed25519.pub"),
                origin: "ed25519.pub".into(),
            },
            token(
                Algorithm::EdDSA,
                &EncodingKey::from_ed_pem(&read("ed25519.key")).unwrap(),
            ),
        ),
    ];
    let mut group = c.benchmark_group("jwt_verify");
    for (name, key, token) in cases {
        let verifier = JwtVerifier::from_config(&config(vec![key])).unwrap();
        verifier.verify(&token).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| verifier.verify(std::hint::black_box(&token)).unwrap())
        });
    }
    group.finish();

    let cfg = config(vec![]);
    let verifier = SigV4Verifier::from_config(&cfg);
    let body = br#"{"inputText":"Where is my order A-1043?"}"#;
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "127.0.0.1:8080".parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    let now = time::OffsetDateTime::now_utc();
    let amz = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    warden_auth::sigv4_sign_for_tests(
        "AKIAWARDENEXAMPLE01",
        "secret-key-for-bench",
        "POST",
        "/v1/agents/support/sessions/s1/invoke",
        &mut headers,
        body,
        &amz,
    );
    let req = SigV4Request {
        method: "POST",
        path: "/v1/agents/support/sessions/s1/invoke",
        query: "",
        headers: &headers,
        body,
        now: now.unix_timestamp() as u64,
    };
    verifier.verify(&req).unwrap();
    c.bench_function("sigv4_verify", |b| {
        b.iter(|| verifier.verify(std::hint::black_box(&req)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
