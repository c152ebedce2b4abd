//! Bedrock `ApplyGuardrail`-compatible routes: `POST /guardrail/{id}/version/{version}/apply`
//! (the path boto3's `bedrock-runtime` client calls) and `POST /v1/guardrails/{id}/apply`.
//! Same front door as every data-plane route; errors in the AWS rest-json shape
//! (`x-amzn-ErrorType` header, `message` body) plus Warden's `error` object.

use crate::app::App;
use crate::error::ApiError;
use crate::now_rfc3339;
use crate::routes::{admit, request_id, Decided, Finish};
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use warden_core::Principal;
use warden_guard::bedrock::{apply_guardrail, ApplyGuardrailRequest};

/// Guardrail versions Warden serves: one live definition, addressable as `DRAFT` or `1`.
const VERSIONS: &[&str] = &["DRAFT", "1"];

pub(crate) async fn apply_versioned(
    State(app): State<Arc<App>>,
    Path((id, version)): Path<(String, String)>,
    req: Request,
) -> Response {
    apply(app, id, Some(version), req).await
}

pub(crate) async fn apply_latest(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    apply(app, id, None, req).await
}

fn aws_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 | 415 => "ValidationException",
        401 | 403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        _ => "InternalServerException",
    }
}

/// The AWS rest-json error shape (`x-amzn-ErrorType`, top-level `message`) that AWS SDKs
/// parse, with Warden's `error` object alongside.
pub(crate) fn aws_error(err: ApiError) -> Response {
    let kind = aws_type(err.status);
    let body = json!({
        "message": err.message,
        "__type": kind,
        "error": {"code": kind, "message": err.message, "requestId": err.request_id},
    });
    let mut resp = (err.status, axum::Json(body)).into_response();
    let headers = resp.headers_mut();
    headers.insert("x-amzn-errortype", HeaderValue::from_static(kind));
    for (name, value) in &err.headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name.clone(), v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&err.request_id) {
        headers.insert("x-request-id", v);
    }
    resp
}

async fn apply(app: Arc<App>, id: String, version: Option<String>, req: Request) -> Response {
    let started = Instant::now();
    let rid = request_id();
    let (parts, body) = req.into_parts();
    let mut principal: Option<Principal> = None;
    let result: Result<serde_json::Value, (ApiError, Option<&'static str>)> = async {
        let (principal, bytes) = admit(&app, &parts, body, None, &mut principal).await?;
        let guard = app.config.guardrails.get(&id).ok_or_else(|| {
            (
                ApiError::not_found(format!(
                    "no guardrail `{}`",
                    id.chars().take(64).collect::<String>()
                )),
                None,
            )
        })?;
        if let Some(v) = &version {
            if !VERSIONS.contains(&v.as_str()) {
                return Err((
                    ApiError::not_found(format!(
                        "guardrail `{id}` has no version `{}`; use DRAFT or 1",
                        v.chars().take(16).collect::<String>()
                    )),
                    None,
                ));
            }
        }
        let request = ApplyGuardrailRequest::from_json(&bytes)
            .map_err(|e| (ApiError::bad_request(e.to_string()), None))?;
        let latency = started.elapsed().as_millis() as u64;
        let response = apply_guardrail(&guard.compiled, &request, latency)
            .map_err(|e| (ApiError::bad_request(e.to_string()), None))?;
        let intervened = response.action != warden_guard::bedrock::ApplyAction::None;
        let value = serde_json::to_value(&response).map_err(|e| (ApiError::internal(e), None))?;
        let rules = rules_from_assessments(&value);
        if intervened {
            app.metrics
                .guard_interventions
                .with_label_values(&[id.as_str(), "apply"])
                .inc();
        }
        app.audit_decision(Decided {
            request_id: &rid,
            route: "apply_guardrail",
            principal: Some(&principal),
            agent: "",
            session: "",
            status: StatusCode::OK,
            outcome: if intervened { "intervened" } else { "none" },
            extra: json!({"guardrail": id, "rules": rules, "at": now_rfc3339()}),
        })
        .await
        .map_err(|e| (e, None))?;
        Ok(value)
    }
    .await;
    let result = result.map(|body| {
        let outcome = if body["action"] == "NONE" {
            "none"
        } else {
            "intervened"
        };
        (body, outcome)
    });
    app.finish(
        Finish {
            route: "apply_guardrail",
            request_id: &rid,
            started,
            principal: principal.as_ref(),
            agent: "",
            session: "",
            extra: json!({"guardrail": id.chars().take(64).collect::<String>()}),
        },
        result,
        aws_error,
    )
    .await
}

/// The rule ids (as in verdicts) of everything that acted, read off the Bedrock assessments.
fn rules_from_assessments(response: &serde_json::Value) -> Vec<String> {
    let mut rules: Vec<String> = Vec::new();
    let mut add = |r: String| {
        if !rules.contains(&r) {
            rules.push(r);
        }
    };
    let acted = |v: &serde_json::Value| v["action"].as_str().is_some_and(|a| a != "NONE");
    for a in response["assessments"].as_array().into_iter().flatten() {
        for t in a["topicPolicy"]["topics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| acted(t))
        {
            add(format!("guard.topic.{}", t["name"].as_str().unwrap_or("?")));
        }
        for f in a["contentPolicy"]["filters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| acted(f))
        {
            add(format!(
                "guard.content.{}",
                f["type"].as_str().unwrap_or("?").to_ascii_lowercase()
            ));
        }
        if a["wordPolicy"]["customWords"]
            .as_array()
            .into_iter()
            .flatten()
            .any(acted)
        {
            add("guard.word".into());
        }
        if a["wordPolicy"]["managedWordLists"]
            .as_array()
            .into_iter()
            .flatten()
            .any(acted)
        {
            add("guard.profanity".into());
        }
        for e in a["sensitiveInformationPolicy"]["piiEntities"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| acted(e))
        {
            add(format!("guard.pii.{}", e["type"].as_str().unwrap_or("?")));
        }
        for r in a["sensitiveInformationPolicy"]["regexes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| acted(r))
        {
            add(format!("guard.regex.{}", r["name"].as_str().unwrap_or("?")));
        }
    }
    rules
}
