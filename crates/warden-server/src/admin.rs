//! The admin API on its own listener and runtime: kill switch, verdict index, audit check.
//! Every route needs the admin token (`Authorization: Bearer <token>`).

use crate::app::App;
use crate::error::ApiError;
use crate::now_rfc3339;
use crate::routes::request_id;
use axum::extract::{Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::{header, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use warden_core::KillScope;
use warden_store::{KillFlip, VerdictFilter};

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/admin/v1/killswitch",
            get(killswitch_get).put(killswitch_put),
        )
        .route("/admin/v1/verdicts", get(verdicts))
        .route("/admin/v1/audit/verify", get(audit_verify))
        .fallback(|req: Request| async move {
            ApiError::not_found(format!(
                "no admin route for `{} {}`",
                req.method(),
                req.uri().path()
            ))
            .with_request_id(&request_id())
        })
        .layer(middleware::from_fn_with_state(app.clone(), require_admin))
        .with_state(app)
}

async fn require_admin(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let expected = app.config.admin.token.expose().as_bytes();
    if presented.as_bytes().ct_eq(expected).into() {
        next.run(req).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "admin token required",
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            "Bearer realm=\"warden-admin\"".into(),
        )
        .with_request_id(&request_id())
        .into_response()
    }
}

fn state_json(app: &App) -> Value {
    let snap = app.kill.load();
    let entries: Vec<Value> = snap
        .entries
        .iter()
        .map(|e| {
            json!({"scope": e.scope.to_string(), "enabled": e.enabled, "reason": e.reason,
                   "actor": e.actor, "updatedAt": e.updated_at})
        })
        .collect();
    json!({"generation": snap.generation, "entries": entries})
}

async fn killswitch_get(State(app): State<Arc<App>>) -> Response {
    Json(state_json(&app)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlipBody {
    scope: String,
    enabled: bool,
    #[serde(default)]
    reason: String,
}

async fn killswitch_put(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    let rid = request_id();
    let result: Result<Value, ApiError> = async {
        let body: FlipBody = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
        let scope: KillScope = body
            .scope
            .parse()
            .map_err(|e: warden_core::KillScopeError| ApiError::bad_request(e.to_string()))?;
        let reason = body.reason.trim().to_string();
        if body.enabled && reason.is_empty() {
            return Err(ApiError::bad_request(
                "`reason` is required when engaging the kill switch",
            ));
        }
        if reason.chars().count() > 500 {
            return Err(ApiError::bad_request(
                "`reason` is longer than 500 characters",
            ));
        }
        let flip = KillFlip {
            scope: scope.clone(),
            enabled: body.enabled,
            reason,
            actor: "admin-api".into(),
            at: now_rfc3339(),
        };
        let store = app.store.clone();
        let f = flip.clone();
        tokio::task::spawn_blocking(move || store.flip(&f))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        let a = app.clone();
        tokio::task::spawn_blocking(move || a.kill.refresh(a.store.as_ref()))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        app.update_kill_metrics();
        // The flip is in force; now make sure it is audited before answering.
        app.audit_pending_flips().await;
        let store = app.store.clone();
        let pending = tokio::task::spawn_blocking(move || store.unaudited_flips())
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        if !pending.is_empty() {
            return Err(ApiError::internal(
                "kill switch changed but the audit append failed; it will be retried",
            ));
        }
        Ok(state_json(&app))
    }
    .await;
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.with_request_id(&rid).into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerdictQuery {
    tenant: Option<String>,
    decision: Option<String>,
    limit: Option<usize>,
}

async fn verdicts(
    State(app): State<Arc<App>>,
    query: Result<Query<VerdictQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let rid = request_id();
    let Ok(Query(q)) = query else {
        return ApiError::bad_request("query parameters are `tenant`, `decision`, `limit`")
            .with_request_id(&rid)
            .into_response();
    };
    let filter = VerdictFilter {
        tenant: q.tenant,
        decision: q.decision,
        limit: q.limit.unwrap_or(100),
    };
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || store.list_verdicts(&filter)).await {
        Ok(Ok(rows)) => {
            let rows: Vec<Value> = rows
                .into_iter()
                .map(|r| {
                    json!({"invocationId": r.invocation_id, "tenantId": r.tenant, "agentId": r.agent,
                           "sessionId": r.session, "decision": r.decision, "confidence": r.confidence,
                           "rules": r.rules, "reason": r.reason, "decidedAt": r.decided_at})
                })
                .collect();
            Json(json!({"verdicts": rows})).into_response()
        }
        Ok(Err(e)) => ApiError::internal(e).with_request_id(&rid).into_response(),
        Err(e) => ApiError::internal(e).with_request_id(&rid).into_response(),
    }
}

async fn audit_verify(State(app): State<Arc<App>>) -> Response {
    let dir = app.audit.dir().to_path_buf();
    match tokio::task::spawn_blocking(move || warden_audit::verify_path(&dir)).await {
        Ok(Ok(r)) => Json(
            json!({"ok": true, "segments": r.segments, "records": r.records,
                                 "lastSeq": r.last_seq, "lastHash": r.last_hash}),
        )
        .into_response(),
        Ok(Err(bad)) => (
            StatusCode::CONFLICT,
            Json(
                json!({"ok": false, "firstBad": {"file": bad.file.display().to_string(),
                "line": bad.line, "seq": bad.seq, "reason": bad.reason}}),
            ),
        )
            .into_response(),
        Err(e) => ApiError::internal(e)
            .with_request_id(&request_id())
            .into_response(),
    }
}
