//! Verifier tests for every supported algorithm, JWKS key sets, and SigV4 edge cases.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use warden_auth::{AuthError, JwtVerifier, SigV4Request, SigV4Verifier};
use warden_config::{AuthConfig, AwsKey, KeySource, PublicKeyAlg};
use warden_core::{Sensitive, TenantId};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{KEYS}/{name}")).unwrap()
}

fn config(keys: Vec<KeySource>) -> AuthConfig {
    AuthConfig {
        tenant_claim: "org".into(),
        subject_claim: "sub".into(),
        issuer: None,
        audience: None,
        leeway_secs: 30,
        max_token_bytes: 4096,
        jwks_refresh_secs: 300,
        keys,
        aws_keys: vec![AwsKey {
            access_key_id: "AKIATESTKEY000000001".into(),
            secret: Sensitive::new("test-secret".into()),
            tenant: TenantId::new("acme").unwrap(),
        }],
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: Value) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&h, &claims, key).unwrap()
}

/// The error of a verification that must fail.
fn err<T: std::fmt::Debug>(r: Result<T, AuthError>) -> AuthError {
    r.expect_err("verification must fail")
}

fn claims() -> Value {
    json!({"sub": "u1", "org": "acme", "exp": now() + 60})
}

#[test]
fn every_public_key_algorithm_verifies_and_is_bound_to_its_key() {
    let cases = [
        (
            PublicKeyAlg::Rs256,
            Algorithm::RS256,
            "rs256",
            EncodingKey::from_rsa_pem(&read("rs256.key")).unwrap(),
        ),
        (
            PublicKeyAlg::Es256,
            Algorithm::ES256,
            "es256",
            EncodingKey::from_ec_pem(&read("es256.key")).unwrap(),
        ),
        (
            PublicKeyAlg::EdDsa,
            Algorithm::EdDSA,
            "ed25519",
            EncodingKey::from_ed_pem(&read("ed25519.key")).unwrap(),
        ),
    ];
    for (kind, alg, file, enc) in cases {
        let v = JwtVerifier::from_config(&config(vec![KeySource::PublicKey {
            kid: Some("k1".into()),
            alg: kind,
            pem: read(&format!("{file}.pub")),
            origin: file.into(),
        }]))
        .unwrap();
        let p = v.verify(&token(alg, Some("k1"), &enc, claims())).unwrap();
        assert_eq!(p.tenant.as_str(), "acme", "{file}");
        assert_eq!(p.subject, "u1");
        // The same key material used as an HMAC secret under the key's kid is refused.
        let forged = token(
            Algorithm::HS256,
            Some("k1"),
            &EncodingKey::from_secret(&read(&format!("{file}.pub"))),
            claims(),
        );
        assert!(
            matches!(v.verify(&forged), Err(AuthError::AlgorithmMismatch { .. })),
            "{file}"
        );
        // Without a kid, no HS256 key exists at all.
        let forged = token(
            Algorithm::HS256,
            None,
            &EncodingKey::from_secret(&read(&format!("{file}.pub"))),
            claims(),
        );
        assert!(
            matches!(v.verify(&forged), Err(AuthError::NoKeyForAlg(_))),
            "{file}"
        );
    }
}

#[test]
fn bad_pem_is_a_precise_startup_error() {
    let err = JwtVerifier::from_config(&config(vec![KeySource::PublicKey {
        kid: None,
        alg: PublicKeyAlg::Rs256,
        pem: b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n".to_vec(),
        origin: "bad.pem".into(),
    }]))
    .unwrap_err();
    assert!(
        err[0].contains("auth.keys[0]") && err[0].contains("bad.pem"),
        "{err:?}"
    );
}

#[test]
fn jwks_file_keys_verify_by_kid_and_symmetric_keys_are_ignored() {
    let v = JwtVerifier::from_config(&config(vec![KeySource::JwksFile {
        path: format!("{KEYS}/jwks.json").into(),
    }]))
    .unwrap();
    let rs = EncodingKey::from_rsa_pem(&read("rs256.key")).unwrap();
    let ec = EncodingKey::from_ec_pem(&read("es256.key")).unwrap();
    let ed = EncodingKey::from_ed_pem(&read("ed25519.key")).unwrap();
    assert!(v
        .verify(&token(Algorithm::RS256, Some("rsa-jwks"), &rs, claims()))
        .is_ok());
    assert!(v
        .verify(&token(Algorithm::ES256, Some("ec-jwks"), &ec, claims()))
        .is_ok());
    assert!(v
        .verify(&token(Algorithm::EdDSA, Some("ed-jwks"), &ed, claims()))
        .is_ok());
    let sym = token(
        Algorithm::HS256,
        Some("sym"),
        &EncodingKey::from_secret(b"secret"),
        claims(),
    );
    assert_eq!(err(v.verify(&sym)), AuthError::UnknownKid("sym".into()));
    // Signed by the RSA key but naming the EC key: refused.
    assert!(v
        .verify(&token(Algorithm::RS256, Some("ec-jwks"), &rs, claims()))
        .is_err());
}

#[test]
fn jwks_refresh_replaces_keys_and_keeps_them_on_bad_documents() {
    let v = JwtVerifier::from_config(&config(vec![KeySource::JwksUrl {
        url: "https://idp.example/jwks".into(),
    }]))
    .unwrap();
    assert_eq!(v.jwks_urls(), ["https://idp.example/jwks"]);
    let rs = EncodingKey::from_rsa_pem(&read("rs256.key")).unwrap();
    let t = token(Algorithm::RS256, Some("rsa-jwks"), &rs, claims());
    assert_eq!(
        err(v.verify(&t)),
        AuthError::UnknownKid("rsa-jwks".into()),
        "not fetched yet"
    );
    assert_eq!(
        v.install_jwks("https://idp.example/jwks", &read("jwks.json"))
            .unwrap(),
        3
    );
    assert!(v.verify(&t).is_ok());
    assert!(v
        .install_jwks("https://idp.example/jwks", b"{not json")
        .is_err());
    assert!(v
        .install_jwks("https://idp.example/jwks", br#"{"keys": []}"#)
        .is_err());
    assert!(
        v.verify(&t).is_ok(),
        "a failed refresh keeps the previous keys"
    );
    assert!(v
        .install_jwks(
            "https://idp.example/jwks",
            br#"{"keys": [{"kty":"oct","kid":"x","k":"AA"}]}"#
        )
        .is_err());
}

#[test]
fn leeway_bounds_expiry_and_not_before() {
    let secret = b"0123456789abcdef0123456789abcdef".to_vec();
    let v = JwtVerifier::from_config(&config(vec![KeySource::Hs256 {
        kid: None,
        secret: Sensitive::new(secret.clone()),
    }]))
    .unwrap();
    let enc = EncodingKey::from_secret(&secret);
    let t = |exp: i64, nbf: i64| {
        token(
            Algorithm::HS256,
            None,
            &enc,
            json!({"org": "acme", "exp": now() as i64 + exp, "nbf": now() as i64 + nbf}),
        )
    };
    assert!(
        v.verify(&t(-10, -100)).is_ok(),
        "expired 10 s ago is within the 30 s leeway"
    );
    assert_eq!(err(v.verify(&t(-120, -200))), AuthError::Expired);
    assert!(
        v.verify(&t(600, 10)).is_ok(),
        "nbf 10 s ahead is within the leeway"
    );
    assert_eq!(err(v.verify(&t(600, 120))), AuthError::NotYetValid);
    let no_exp = token(Algorithm::HS256, None, &enc, json!({"org": "acme"}));
    assert_eq!(
        err(v.verify(&no_exp)),
        AuthError::MissingClaim("exp".into())
    );
}

fn signed(body: &[u8], amz_date: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "127.0.0.1:8080".parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    warden_auth::sigv4_sign_for_tests(
        "AKIATESTKEY000000001",
        "test-secret",
        "POST",
        "/v1/x/a%3Ab",
        &mut headers,
        body,
        amz_date,
    );
    headers
}

#[test]
fn sigv4_verifies_and_refuses_tampering_skew_and_unknown_keys() {
    let v = SigV4Verifier::from_config(&config(vec![]));
    let at = 1_795_000_000u64; // 2026-11-18T11:06:40Z
    let date = "20261118T110640Z";
    let body = br#"{"inputText":"hi"}"#;
    let headers = signed(body, date);
    let req = |headers: &http::HeaderMap, body: &'static [u8], now| SigV4Request {
        method: "POST",
        path: "/v1/x/a%3Ab",
        query: "",
        headers: Box::leak(Box::new(headers.clone())),
        body,
        now,
    };
    let p = v.verify(&req(&headers, body, at)).unwrap();
    assert_eq!(p.tenant.as_str(), "acme");
    assert_eq!(
        err(v.verify(&req(&headers, b"{\"inputText\":\"hI\"}", at))),
        AuthError::SigV4Mismatch
    );
    assert_eq!(
        err(v.verify(&req(&headers, body, at + 16 * 60))),
        AuthError::SigV4Skew
    );
    let mut other_host = headers.clone();
    other_host.insert("host", "evil:1".parse().unwrap());
    assert_eq!(
        err(v.verify(&req(&other_host, body, at))),
        AuthError::SigV4Mismatch
    );
    let mut unknown = headers.clone();
    let auth = unknown["authorization"]
        .to_str()
        .unwrap()
        .replace("AKIATESTKEY000000001", "AKIAOTHERKEY00000001");
    unknown.insert("authorization", auth.parse().unwrap());
    assert_eq!(
        err(v.verify(&req(&unknown, body, at))),
        AuthError::UnknownAccessKey
    );
    for bad in [
        "AWS4-HMAC-SHA256 Credential=AKIATESTKEY000000001/20261118/us-east-1/bedrock/aws4_request, SignedHeaders=x-amz-date, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIATESTKEY000000001/2026/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIATESTKEY000000001, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 SignedHeaders=host",
    ] {
        let mut h = headers.clone();
        h.insert("authorization", bad.parse().unwrap());
        assert!(matches!(v.verify(&req(&h, body, at)), Err(AuthError::SigV4Malformed(_))), "{bad}");
    }
}
