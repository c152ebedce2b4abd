//! Criterion benchmark of the front-door decision (authenticate + kill switch + rate limit)
//! in process, for HS256 and RS256 bearer tokens and SigV4.

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use warden_auth::{Authenticator, SigV4Request};
use warden_config::{AuthConfig, KeySource, PublicKeyAlg, RateLimit, RateLimitConfig};
use warden_core::{AgentId, Sensitive};
use warden_server::frontdoor::FrontDoor;
use warden_server::killswitch::KillSwitch;
use warden_server::ratelimit::RateLimits;
use warden_store::{KillFlip, SqliteStore, Store};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../warden-auth/tests/keys");

fn front(keys: Vec<KeySource>) -> FrontDoor {
    let cfg = AuthConfig {
        tenant_claim: "tenant_id".into(),
        subject_claim: "sub".into(),
        issuer: Some("https://auth.example.com/".into()),
        audience: Some("warden".into()),
        leeway_secs: 60,
        max_token_bytes: 8192,
        jwks_refresh_secs: 300,
        keys,
        aws_keys: vec![],
    };
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    // A realistic snapshot: some other scopes engaged.
    for scope in ["tenant:other", "agent:legacy"] {
        store
            .flip(&KillFlip {
                scope: scope.parse().unwrap(),
                enabled: true,
                reason: "bench".into(),
                actor: "bench".into(),
                at: "t".into(),
            })
            .unwrap();
    }
    let kill = Arc::new(KillSwitch::default());
    kill.refresh(store.as_ref()).unwrap();
    FrontDoor {
        auth: Authenticator::from_config(&cfg).unwrap(),
        kill,
        // Limits high enough never to refuse inside the benchmark.
        limits: RateLimits::new(RateLimitConfig {
            default: RateLimit {
                requests_per_minute: u32::MAX,
                burst: u32::MAX,
                tokens_per_minute: u64::MAX / 4,
            },
            tenants: BTreeMap::new(),
        }),
        store,
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

fn bench(c: &mut Criterion) {
    let hs = b"0123456789abcdef0123456789abcdef".to_vec();
    let rs_pub = std::fs::read(format!("{KEYS}/rs256.pub")).unwrap();
    let rs_key = std::fs::read(format!("{KEYS}/rs256.key")).unwrap();
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
                pem: rs_pub,
                origin: "rs256.pub".into(),
            },
            token(
                Algorithm::RS256,
                &EncodingKey::from_rsa_pem(&rs_key).unwrap(),
            ),
        ),
    ];
    let agent = AgentId::new("support").unwrap();
    let mut group = c.benchmark_group("frontdoor_decide");
    for (name, key, token) in cases {
        let front = front(vec![key]);
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        headers.insert(
            http::header::CONTENT_TYPE,
            "application/json".parse().unwrap(),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let req = SigV4Request {
            method: "POST",
            path: "/v1/agents/support/sessions/s/invoke",
            query: "",
            headers: &headers,
            body: b"{}",
            now,
        };
        front.decide(&req, Some(&agent)).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                front
                    .decide(std::hint::black_box(&req), Some(&agent))
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
