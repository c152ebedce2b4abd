//! The control-plane receiver: `POST /v1/verdicts` and `GET /v1/verdicts` over a [`VerdictStore`].
//!
//! `POST` takes `{"records":[ExportRecord...]}`. Every record is checked strictly before any
//! is stored: an unknown field, a missing field, a bad id, confidence or timestamp answers
//! 400 with `{"error": "..."}` naming the record index and field, and stores nothing.
//! Storing is idempotent on (dataPlaneId, invocationId). `GET` takes `tenant`, `decision`,
//! `limit` (1..=1000, default 100) and `since` (RFC 3339) and answers `{"verdicts":[...]}`,
//! newest first. When a token is configured both routes require `Authorization: Bearer`.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use warden_core::{Decision, Sensitive};

use crate::store::{VerdictQuery, VerdictStore};
use crate::{parse_rfc3339_ms, ExportRecord};

/// The most records one POST may carry.
pub const MAX_BATCH_RECORDS: usize = 1000;
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Receiver settings.
#[derive(Debug, Clone, Default)]
pub struct ConsoleOptions {
    /// When set, every request must carry `Authorization: Bearer <token>`.
    pub token: Option<Sensitive<String>>,
}

#[derive(Debug, Clone)]
struct AppState {
    store: Arc<VerdictStore>,
    options: Arc<ConsoleOptions>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    records: Vec<ExportRecord>,
}

/// The receiver's routes.
pub fn console_router(store: Arc<VerdictStore>, options: ConsoleOptions) -> Router {
    Router::new()
        .route("/v1/verdicts", get(list).post(receive))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(AppState {
            store,
            options: Arc::new(options),
        })
}

/// Serves the receiver on `listener` until `shutdown` completes.
pub async fn serve_console(
    listener: tokio::net::TcpListener,
    store: Arc<VerdictStore>,
    options: ConsoleOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, console_router(store, options))
        .with_graceful_shutdown(shutdown)
        .await
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `Some(401 response)` when a token is configured and the request lacks it.
fn unauthorized_request(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let token = state.options.token.as_ref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), token.expose().as_bytes()) => None,
        Some(_) => Some(unauthorized("the bearer token is not valid")),
        None => Some(unauthorized("an `Authorization: Bearer` token is required")),
    }
}

fn unauthorized(msg: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, msg);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Parses and checks a batch; the error names the JSON path at fault.
fn parse_batch(body: &[u8]) -> Result<Vec<ExportRecord>, String> {
    if body.is_empty() {
        return Err("the body is empty; expected {\"records\":[...]}".to_string());
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err("body: expected a JSON object {\"records\":[...]}".to_string());
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let batch: Batch = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            format!("body: {inner}")
        } else {
            format!("{path}: {inner}")
        }
    })?;
    de.end().map_err(|e| format!("body: {e}"))?;
    if batch.records.len() > MAX_BATCH_RECORDS {
        return Err(format!(
            "records: {} records, more than {MAX_BATCH_RECORDS} in one batch",
            batch.records.len()
        ));
    }
    for (i, r) in batch.records.iter().enumerate() {
        r.validate()
            .map_err(|e| format!("records[{i}].{}: {}", e.field, e.reason))?;
    }
    Ok(batch.records)
}

async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = unauthorized_request(&state, &headers) {
        return r;
    }
    let records = match parse_batch(&body) {
        Ok(r) => r,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let accepted = records.len();
    let store = Arc::clone(&state.store);
    let res = tokio::task::spawn_blocking(move || store.insert_batch(&records, now_ms())).await;
    match res {
        Ok(Ok(inserted)) => (
            StatusCode::OK,
            Json(json!({ "accepted": accepted, "inserted": inserted })),
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "storing exported verdicts failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storing the records failed",
            )
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storing the records failed",
        ),
    }
}

fn parse_query(params: &[(String, String)]) -> Result<VerdictQuery, String> {
    let mut q = VerdictQuery {
        limit: 100,
        ..VerdictQuery::default()
    };
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in params {
        if seen.contains(&k.as_str()) {
            return Err(format!("query parameter `{k}` is given more than once"));
        }
        seen.push(k);
        match k.as_str() {
            "tenant" => {
                crate::record::check_id("tenant", v).map_err(|e| format!("query parameter {e}"))?;
                q.tenant = Some(v.clone());
            }
            "decision" => {
                q.decision = Some(match v.as_str() {
                    "allow" => Decision::Allow,
                    "warn" => Decision::Warn,
                    "block" => Decision::Block,
                    _ => {
                        return Err(format!(
                            "query parameter `decision` is `{}`, expected allow, warn or block",
                            v.chars().take(40).collect::<String>()
                        ))
                    }
                })
            }
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=crate::MAX_QUERY_LIMIT).contains(&n) => q.limit = n,
                _ => {
                    return Err(format!(
                        "query parameter `limit` is `{}`, expected a number in 1..={}",
                        v.chars().take(40).collect::<String>(),
                        crate::MAX_QUERY_LIMIT
                    ))
                }
            },
            "since" => {
                q.since_ms = Some(parse_rfc3339_ms(v).ok_or_else(|| {
                    format!(
                        "query parameter `since` is `{}`, expected an RFC 3339 time",
                        v.chars().take(40).collect::<String>()
                    )
                })?)
            }
            other => {
                return Err(format!(
                    "unknown query parameter `{}` (expected tenant, decision, limit, since)",
                    other.chars().take(40).collect::<String>()
                ))
            }
        }
    }
    Ok(q)
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Some(r) = unauthorized_request(&state, &headers) {
        return r;
    }
    let params = match query {
        Ok(Query(p)) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("query string: {e}")),
    };
    let q = match parse_query(&params) {
        Ok(q) => q,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let store = Arc::clone(&state.store);
    match tokio::task::spawn_blocking(move || store.query(&q)).await {
        Ok(Ok(verdicts)) => Json(json!({ "verdicts": verdicts })).into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "reading exported verdicts failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "reading the records failed",
            )
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reading the records failed",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let rec = r#"{"schemaVersion":1,"dataPlaneId":"dp","tenantId":"acme","agentId":"a","sessionId":"s","invocationId":"i","decision":"allow","confidence":1.0,"mode":"enforce","rules":[],"reason":"","startedAt":"2026-01-01T00:00:00Z","decidedAt":"2026-01-01T00:00:00Z","exportedAt":"2026-01-01T00:00:00Z"#;
        let ok = format!("{{\"records\":[{rec}\"}}]}}");
        assert_eq!(parse_batch(ok.as_bytes()).unwrap().len(), 1);
        let extra = format!("{{\"records\":[{rec}\",\"prompt\":\"hi\"}}]}}");
        let e = parse_batch(extra.as_bytes()).unwrap_err();
        assert!(e.starts_with("records[0]"), "{e}");
        assert!(e.contains("unknown field `prompt`"), "{e}");
        let e = parse_batch(br#"{"records":[],"more":1}"#).unwrap_err();
        assert!(e.contains("unknown field `more`"), "{e}");
        let e = parse_batch(br#"{"records":[]} trailing"#).unwrap_err();
        assert!(e.starts_with("body:"), "{e}");
    }

    #[test]
    fn query_parameters_are_strict() {
        let p = |s: &[(&str, &str)]| {
            parse_query(
                &s.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        let q = p(&[("tenant", "acme"), ("decision", "block"), ("limit", "5")]).unwrap();
        assert_eq!(q.tenant.as_deref(), Some("acme"));
        assert_eq!(q.limit, 5);
        assert!(p(&[("decision", "maybe")])
            .unwrap_err()
            .contains("`decision`"));
        assert!(p(&[("limit", "0")]).unwrap_err().contains("`limit`"));
        assert!(p(&[("since", "now")]).unwrap_err().contains("`since`"));
        assert!(p(&[("tenantt", "x")]).unwrap_err().contains("`tenantt`"));
        assert!(p(&[("limit", "1"), ("limit", "2")]).is_err());
    }
}
