//! The AWS Secrets Manager provider through the real AWS SDK for Rust, against a local HTTP
//! server on 127.0.0.1 that speaks Secrets Manager's awsJson1.1 wire format.
#![cfg(feature = "aws")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use warden_config::SecretsConfig;
use warden_core::TenantId;
use warden_secrets::{from_config, AwsOptions, AwsProvider, SecretError, SecretProvider};

const ACCESS_KEY: &str = "AKIDWARDENTEST000001";
const ACME_VALUE: &str = "acme-aws-value-91c2";

#[derive(Debug, Clone)]
struct Seen {
    target: String,
    authorization: String,
    secret_id: String,
}

#[derive(Clone, Default)]
struct Fake {
    /// Secret id → SecretString (or `None` for a binary-only secret).
    secrets: Arc<HashMap<String, Option<String>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn amz_json(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let secret_id = req["SecretId"].as_str().unwrap_or("").to_string();
    fake.seen.lock().unwrap().push(Seen {
        target: header("x-amz-target"),
        authorization: header("authorization"),
        secret_id: secret_id.clone(),
    });
    if header("x-amz-target") != "secretsmanager.GetSecretValue" {
        return amz_json(
            StatusCode::BAD_REQUEST,
            json!({"__type": "UnknownOperationException", "message": "unknown operation"}),
        );
    }
    let arn = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{secret_id}-AbCdEf");
    match fake.secrets.get(&secret_id) {
        Some(Some(s)) => amz_json(
            StatusCode::OK,
            json!({
                "ARN": arn, "Name": secret_id, "SecretString": s,
                "VersionId": "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1",
                "VersionStages": ["AWSCURRENT"], "CreatedDate": 1.523477145713E9
            }),
        ),
        Some(None) => amz_json(
            StatusCode::OK,
            json!({
                "ARN": arn, "Name": secret_id, "SecretBinary": "AAECAwQ=",
                "VersionId": "EXAMPLE1-90ab-cdef-fedc-ba987SECRET2",
                "VersionStages": ["AWSCURRENT"], "CreatedDate": 1.523477145713E9
            }),
        ),
        None => amz_json(
            StatusCode::BAD_REQUEST,
            json!({
                "__type": "ResourceNotFoundException",
                "message": "Secrets Manager can't find the specified secret."
            }),
        ),
    }
}

/// Starts the fake service; credentials come from the default chain via env vars.
async fn start(secrets: &[(&str, Option<&str>)]) -> (Fake, String) {
    std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
    std::env::set_var(
        "AWS_SECRET_ACCESS_KEY",
        "wardenTestSecretAccessKey0000000000000000",
    );
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/warden-test-config");
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/warden-test-credentials",
    );
    let fake = Fake {
        secrets: Arc::new(
            secrets
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
        ),
        seen: Arc::default(),
    };
    let app = Router::new()
        .route("/", post(handle))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, url)
}

fn options(url: &str) -> AwsOptions {
    AwsOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(url.to_string()),
        ..AwsOptions::default()
    }
}

fn t(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

/// Runs against a local server speaking the Secrets Manager wire format: the value comes
/// back, the request was a SigV4-signed GetSecretValue for the templated id.
#[tokio::test]
async fn reads_secret_string_with_a_sigv4_signed_request() {
    let (fake, url) = start(&[("warden/acme/ORDERS_API_KEY", Some(ACME_VALUE))]).await;
    let p = AwsProvider::new(options(&url)).unwrap();
    let v = p.get(&t("acme"), "ORDERS_API_KEY").await.unwrap();
    assert_eq!(v.expose(), ACME_VALUE);
    assert!(!format!("{p:?}").contains(ACME_VALUE));
    assert_eq!(format!("{v:?}"), "[redacted]");

    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "secretsmanager.GetSecretValue");
    assert_eq!(seen[0].secret_id, "warden/acme/ORDERS_API_KEY");
    let auth = &seen[0].authorization;
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")),
        "{auth}"
    );
    assert!(
        auth.contains("/us-east-1/secretsmanager/aws4_request"),
        "{auth}"
    );
    assert!(
        auth.contains("SignedHeaders=") && auth.contains("Signature="),
        "{auth}"
    );
}

/// Runs against a local server speaking the Secrets Manager wire format: globex asks for its
/// own id, never acme's, and a missing secret is a precise `Missing` error.
#[tokio::test]
async fn tenants_are_isolated_and_missing_is_precise() {
    let (fake, url) = start(&[("warden/acme/ORDERS_API_KEY", Some(ACME_VALUE))]).await;
    let p = AwsProvider::new(options(&url)).unwrap();
    let err = p.get(&t("globex"), "ORDERS_API_KEY").await.unwrap_err();
    assert!(matches!(err, SecretError::Missing { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("globex") && msg.contains("warden/globex/ORDERS_API_KEY"),
        "{msg}"
    );
    assert!(!msg.contains(ACME_VALUE) && !format!("{err:?}").contains(ACME_VALUE));
    let ids: Vec<String> = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.secret_id.clone())
        .collect();
    assert_eq!(ids, vec!["warden/globex/ORDERS_API_KEY"]);

    let err = p
        .fetch_all(&t("acme"), &["ORDERS_API_KEY".into(), "OTHER".into()])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`OTHER`"), "{err}");
}

/// Runs against a local server speaking the Secrets Manager wire format: a binary-only
/// secret is refused with an error naming the secret id.
#[tokio::test]
async fn binary_secret_is_a_precise_error() {
    let (_fake, url) = start(&[("warden/acme/CERT", None)]).await;
    let p = AwsProvider::new(options(&url)).unwrap();
    let err = p.get(&t("acme"), "CERT").await.unwrap_err();
    assert!(matches!(err, SecretError::AwsBinary { .. }), "{err}");
    assert!(err.to_string().contains("warden/acme/CERT"), "{err}");
    assert!(err.to_string().contains("SecretBinary"), "{err}");
}

/// Runs against a local server speaking the Secrets Manager wire format: values are cached
/// for the TTL; a zero TTL fetches every time; a custom template is honoured.
#[tokio::test]
async fn cache_and_template() {
    let (fake, url) = start(&[
        ("warden/acme/ORDERS_API_KEY", Some(ACME_VALUE)),
        ("prod.acme.ORDERS_API_KEY", Some("templated")),
    ])
    .await;
    let p = AwsProvider::new(options(&url)).unwrap();
    for _ in 0..3 {
        p.get(&t("acme"), "ORDERS_API_KEY").await.unwrap();
    }
    assert_eq!(
        fake.seen.lock().unwrap().len(),
        1,
        "cached after the first get"
    );

    let p = AwsProvider::new(AwsOptions {
        cache_ttl: Duration::ZERO,
        id_template: "prod.{tenant}.{name}".into(),
        ..options(&url)
    })
    .unwrap();
    for _ in 0..2 {
        assert_eq!(
            p.get(&t("acme"), "ORDERS_API_KEY").await.unwrap().expose(),
            "templated"
        );
    }
    assert_eq!(fake.seen.lock().unwrap().len(), 3);
}

#[test]
fn bad_templates_and_endpoints_are_refused() {
    for bad in [
        "warden/{name}",
        "{tenant}{name}",
        "{tenant}/{name}/{stage}",
        "{tenant}/{name}/{name}",
    ] {
        let err = AwsProvider::new(AwsOptions {
            id_template: bad.into(),
            ..AwsOptions::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains(bad), "{bad}: {err}");
    }
    assert!(AwsProvider::new(AwsOptions {
        endpoint_url: Some("ftp://x".into()),
        ..AwsOptions::default()
    })
    .is_err());
}

/// `from_config` builds the AWS provider with the configured region (no request is made).
#[tokio::test]
async fn from_config_builds_the_aws_provider() {
    let p = from_config(
        &SecretsConfig::Aws {
            region: Some("eu-west-1".into()),
        },
        std::path::Path::new("."),
    )
    .unwrap();
    assert!(p.describe().contains("eu-west-1"), "{}", p.describe());
    assert!(p.describe().contains("warden/{tenant}/{name}"));
}
