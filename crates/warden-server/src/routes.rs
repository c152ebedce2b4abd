//! Data-plane routes: health, readiness, metrics, and the invoke route behind the front door.

use crate::app::App;
use crate::error::ApiError;
use crate::frontdoor::{token_window, Refusal};
use crate::indexer::IndexEvent;
use crate::ratelimit::LimitKind;
use crate::{now_rfc3339, now_secs};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::{header, HeaderMap, Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use warden_agent::{AgentError, Invocation, ScreenSource};
use warden_auth::SigV4Request;
use warden_core::{AgentId, Decision, Principal, Reason, SessionId, Verdict, VerdictMode};
use warden_store::VerdictRow;

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/v1/agents/{agent_id}/sessions/{session_id}/invoke",
            post(invoke),
        )
        .route(
            "/v1/tools/{action_group}/invoke",
            post(crate::toolapi::invoke_tool),
        )
        .route("/v1/inspect", post(crate::toolapi::inspect))
        .route(
            "/agents/{agent_id}/agentAliases/{alias_id}/sessions/{session_id}/text",
            post(invoke_agent_bedrock),
        )
        .route(
            "/guardrail/{id}/version/{version}/apply",
            post(crate::guardapi::apply_versioned),
        )
        .route(
            "/v1/guardrails/{id}/apply",
            post(crate::guardapi::apply_latest),
        )
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    if app.ready.load(std::sync::atomic::Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

pub(crate) fn request_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

async fn fallback(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route for `{} {}`",
        req.method(),
        req.uri().path()
    ))
    .with_request_id(&request_id())
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "`{}` is not allowed on `{}`",
            req.method(),
            req.uri().path()
        ),
    )
    .with_request_id(&request_id())
}

/// The InvokeAgent-like request body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InvokeBody {
    input_text: Option<String>,
    #[serde(default)]
    session_state: SessionState,
    #[serde(default)]
    enable_trace: bool,
    #[serde(default)]
    end_session: bool,
    /// InvokeAgent members that tune Bedrock's own service and have no effect here; accepted
    /// so unchanged clients work.
    #[serde(default)]
    memory_id: Option<String>,
    #[serde(default)]
    streaming_configurations: Option<Value>,
    #[serde(default)]
    prompt_creation_configurations: Option<Value>,
    #[serde(default)]
    bedrock_model_configurations: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SessionState {
    #[serde(default)]
    session_attributes: BTreeMap<String, String>,
    #[serde(default)]
    prompt_session_attributes: BTreeMap<String, String>,
    #[serde(default)]
    invocation_id: Option<String>,
    #[serde(default)]
    return_control_invocation_results: Option<Value>,
    #[serde(default)]
    files: Option<Value>,
    #[serde(default)]
    knowledge_base_configurations: Option<Value>,
    #[serde(default)]
    conversation_history: Option<Value>,
}

impl InvokeBody {
    /// InvokeAgent members this build does not implement get a precise refusal instead of
    /// being ignored.
    fn unsupported(&self) -> Option<&'static str> {
        let st = &self.session_state;
        if st.files.is_some() {
            Some("`sessionState.files` is not supported: Warden agents have no code interpreter")
        } else if st.knowledge_base_configurations.is_some() {
            Some("`sessionState.knowledgeBaseConfigurations` is not supported: Warden agents have no knowledge bases")
        } else if st.conversation_history.is_some() {
            Some("`sessionState.conversationHistory` is not supported by this build")
        } else {
            None
        }
    }
}

/// Session attributes that name a tenant; the front door overwrites them with the
/// authenticated tenant.
const TENANT_ATTRIBUTES: &[&str] = &["tenantId", "tenant_id", "tenant"];

/// What is audited about one data-plane decision.
pub(crate) struct Decided<'a> {
    pub request_id: &'a str,
    pub route: &'static str,
    pub principal: Option<&'a Principal>,
    pub agent: &'a str,
    pub session: &'a str,
    pub status: StatusCode,
    pub outcome: &'a str,
    pub extra: Value,
}

impl App {
    /// Appends the decision to the audit log and waits for its group commit. A failed append
    /// fails the request.
    pub(crate) async fn audit_decision(&self, d: Decided<'_>) -> Result<(), ApiError> {
        let (tenant, subject, method) = match d.principal {
            Some(p) => (
                p.tenant.as_str().to_string(),
                p.subject.clone(),
                match &p.method {
                    warden_core::AuthMethod::Jwt { alg, .. } => format!("jwt:{alg}"),
                    warden_core::AuthMethod::SigV4 { .. } => "sigv4".to_string(),
                },
            ),
            None => (String::new(), String::new(), String::new()),
        };
        let record = json!({
            "requestId": d.request_id, "route": d.route, "tenant": tenant, "subject": subject,
            "auth": method, "agent": d.agent, "session": d.session,
            "status": d.status.as_u16(), "outcome": d.outcome, "detail": d.extra,
        });
        match self
            .audit
            .append("frontdoor.decision", now_rfc3339(), record)
            .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ApiError::internal(format!("audit append failed: {e}"))),
            Err(_) => Err(ApiError::internal("audit writer stopped")),
        }
    }

    pub(crate) fn count(&self, route: &str, tenant: &str, outcome: &str, started: Instant) {
        self.metrics
            .requests
            .with_label_values(&[route, tenant, outcome])
            .inc();
        self.metrics
            .latency
            .with_label_values(&[route])
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Where a data-plane request ended, for [`App::finish`].
pub(crate) struct Finish<'a> {
    pub route: &'static str,
    pub request_id: &'a str,
    pub started: Instant,
    pub principal: Option<&'a Principal>,
    pub agent: &'a str,
    pub session: &'a str,
    /// Route-specific fields for the audit record of a refusal.
    pub extra: Value,
}

impl App {
    /// Ends a data-plane request: counts it, and for a refusal or failure appends its audit
    /// record first (successful decisions were audited by the route before this point) and
    /// renders the error with `render`. A failed audit append turns into a 500.
    pub(crate) async fn finish(
        &self,
        f: Finish<'_>,
        result: Result<(Value, &'static str), Failure>,
        render: fn(ApiError) -> Response,
    ) -> Response {
        let tenant = f.principal.map(|p| p.tenant.as_str()).unwrap_or("");
        match result {
            Ok((body, outcome)) => {
                self.count(f.route, tenant, outcome, f.started);
                let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
                if let Ok(v) = f.request_id.parse() {
                    resp.headers_mut().insert("x-request-id", v);
                }
                resp
            }
            Err((err, outcome)) => {
                let err = err.with_request_id(f.request_id);
                let mut extra = f.extra;
                extra["message"] = Value::String(err.message.clone());
                let audited = self
                    .audit_decision(Decided {
                        request_id: f.request_id,
                        route: f.route,
                        principal: f.principal,
                        agent: f.agent,
                        session: f.session,
                        status: err.status,
                        outcome: err.code,
                        extra,
                    })
                    .await;
                self.count(f.route, tenant, outcome.unwrap_or(err.code), f.started);
                match audited {
                    Ok(()) => render(err),
                    Err(e) => render(e.with_request_id(f.request_id)),
                }
            }
        }
    }
}

fn refusal_error(app: &App, refusal: &Refusal) -> ApiError {
    match refusal {
        Refusal::Auth(e) => {
            app.metrics
                .auth_failures
                .with_label_values(&[e.code()])
                .inc();
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
                .with_header(header::WWW_AUTHENTICATE, e.www_authenticate())
        }
        Refusal::Killed(engaged, _) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "kill_switch",
            format!(
                "kill switch engaged for scope `{}`: {}",
                engaged.scope, engaged.reason
            ),
        ),
        Refusal::Limited(l, _) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "tenant {} rate limit exceeded; retry after {} s",
                l.kind.as_str(),
                l.retry_after_secs
            ),
        )
        .with_header(header::RETRY_AFTER, l.retry_after_secs.to_string()),
    }
}

fn content_type_is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let mime = v.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("application/json")
        })
        .unwrap_or(false)
}

async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than {limit} bytes"),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(too_large());
        }
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

/// `POST /v1/agents/{agentId}/sessions/{sessionId}/invoke`.
async fn invoke(
    State(app): State<Arc<App>>,
    Path(path): Path<(String, String)>,
    req: Request,
) -> Response {
    detached(invoke_task(app, path, req)).await
}

/// Runs a request to its end on its own task: a client that disconnects mid-invocation
/// does not cut the loop short, so its cells are released, its memory saved and its
/// decision audited as for any other request.
async fn detached(task: impl std::future::Future<Output = Response> + Send + 'static) -> Response {
    match tokio::spawn(task).await {
        Ok(r) => r,
        Err(e) => ApiError::internal(format!("invocation task failed: {e}")).into_response(),
    }
}

async fn invoke_task(
    app: Arc<App>,
    (agent_raw, session_raw): (String, String),
    req: Request,
) -> Response {
    let started = Instant::now();
    let request_id = request_id();
    let (parts, body) = req.into_parts();
    let mut principal: Option<Principal> = None;
    let result = invoke_inner(
        &app,
        &request_id,
        &agent_raw,
        &session_raw,
        parts,
        body,
        &mut principal,
    )
    .await;
    let agent = agent_raw.chars().take(128).collect::<String>();
    let session = session_raw.chars().take(128).collect::<String>();
    app.finish(
        Finish {
            route: "invoke",
            request_id: &request_id,
            started,
            principal: principal.as_ref(),
            agent: &agent,
            session: &session,
            extra: json!({}),
        },
        result,
        IntoResponse::into_response,
    )
    .await
}

pub(crate) type Failure = (ApiError, Option<&'static str>);

/// The answer when the detector stopped an invocation and the agent has no guardrail message.
const STOPPED_MESSAGE: &str = "This request was stopped by a security check.";

/// Everything the verdict is made of.
pub(crate) struct VerdictInputs<'a> {
    pub findings: &'a [warden_detect::Finding],
    pub judge: warden_detect::JudgeOutcome,
    pub guard_blocked: bool,
    /// Front-door, guard and broker reasons (they come first in the verdict).
    pub other_reasons: Vec<Reason>,
    pub checks: Vec<String>,
    pub observation: warden_detect::ObservationMode,
    pub tenant: &'a str,
    pub agent: &'a str,
    pub session: &'a str,
    pub invocation: &'a str,
    pub started_at: String,
}

/// Rules first: the detector's findings fused by `warden_detect::fuse`, then the guard and
/// front-door signals. A guard block is a block with confidence 1.0; a front-door or broker
/// override (tenant replaced) is at least a warn. The detector in `report` mode records its
/// decision but the verdict's `mode` says `report`.
pub(crate) fn fuse_verdict(app: &App, v: VerdictInputs<'_>) -> Verdict {
    let mode = match app.config.detector.mode {
        warden_config::EnforceMode::Enforce => VerdictMode::Enforce,
        warden_config::EnforceMode::Report => VerdictMode::Report,
    };
    let checks = v.checks;
    let cx = warden_detect::VerdictContext {
        mode,
        observation: v.observation,
        tenant_id: v.tenant.to_string(),
        agent_id: v.agent.to_string(),
        session_id: v.session.to_string(),
        invocation_id: v.invocation.to_string(),
        started_at: v.started_at,
        decided_at: now_rfc3339(),
        checks,
    };
    let mut verdict = warden_detect::fuse(v.findings, v.judge, &cx);
    let has_other = !v.other_reasons.is_empty();
    let other_warn = v
        .other_reasons
        .iter()
        .any(|r| !r.rule.starts_with("guard."));
    let mut reasons = v.other_reasons;
    // Detector reasons lead when they decide; the guard's when it blocked.
    if v.guard_blocked {
        reasons.append(&mut verdict.reasons);
        verdict.reasons = reasons;
        if verdict.decision != Decision::Block {
            verdict.decision = Decision::Block;
            verdict.confidence = 1.0;
        }
    } else if has_other {
        verdict.reasons.append(&mut reasons);
        if other_warn && verdict.decision == Decision::Allow {
            verdict.decision = Decision::Warn;
            verdict.confidence = 1.0;
        }
    }
    verdict
}

/// `POST /agents/{agentId}/agentAliases/{agentAliasId}/sessions/{sessionId}/text`: Bedrock's
/// InvokeAgent, so boto3's `bedrock-agent-runtime` client works against Warden unchanged. The
/// answer is an AWS event stream (`trace` events when `enableTrace`, then one `chunk`); the
/// verdict travels in `x-warden-verdict*` headers. Aliases are not modelled: every alias runs
/// the configured agent.
async fn invoke_agent_bedrock(
    State(app): State<Arc<App>>,
    Path((agent_raw, _alias, session_raw)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    detached(invoke_agent_bedrock_task(app, agent_raw, session_raw, req)).await
}

async fn invoke_agent_bedrock_task(
    app: Arc<App>,
    agent_raw: String,
    session_raw: String,
    req: Request,
) -> Response {
    let started = Instant::now();
    let request_id = request_id();
    let (parts, body) = req.into_parts();
    let mut principal: Option<Principal> = None;
    let result = invoke_inner(
        &app,
        &request_id,
        &agent_raw,
        &session_raw,
        parts,
        body,
        &mut principal,
    )
    .await;
    let agent = agent_raw.chars().take(128).collect::<String>();
    let session = session_raw.chars().take(128).collect::<String>();
    match result {
        Ok((body, outcome)) => {
            let tenant = principal.as_ref().map(|p| p.tenant.as_str()).unwrap_or("");
            app.count("invoke_agent", tenant, outcome, started);
            let mut stream = Vec::new();
            if let Some(parts) = body["trace"].as_array() {
                for part in parts {
                    stream.extend(crate::eventstream::event("trace", part));
                }
            }
            if let Some(rc) = body.get("returnControl") {
                stream.extend(crate::eventstream::event("returnControl", rc));
            } else {
                stream.extend(crate::eventstream::chunk(
                    body["completion"].as_str().unwrap_or_default(),
                ));
            }
            let mut resp = (StatusCode::OK, stream).into_response();
            let h = resp.headers_mut();
            let mut set = |k: &'static str, v: String| {
                if let Ok(v) = http::HeaderValue::from_str(&v) {
                    h.insert(k, v);
                }
            };
            set("content-type", "application/vnd.amazon.eventstream".into());
            set(
                "x-amzn-bedrock-agent-content-type",
                "application/json".into(),
            );
            set("x-amz-bedrock-agent-session-id", session.clone());
            set("x-request-id", request_id.clone());
            set(
                "x-warden-verdict",
                body["verdict"]["decision"].as_str().unwrap_or("").into(),
            );
            set(
                "x-warden-verdict-confidence",
                body["verdict"]["confidence"].to_string(),
            );
            let rules: Vec<&str> = body["verdict"]["reasons"]
                .as_array()
                .map(|r| r.iter().filter_map(|x| x["rule"].as_str()).collect())
                .unwrap_or_default();
            set("x-warden-verdict-rules", rules.join(","));
            resp
        }
        Err(e) => {
            app.finish(
                Finish {
                    route: "invoke_agent",
                    request_id: &request_id,
                    started,
                    principal: principal.as_ref(),
                    agent: &agent,
                    session: &session,
                    extra: json!({}),
                },
                Err(e),
                bedrock_error,
            )
            .await
        }
    }
}

/// Front-door refusals are HTTP errors in AWS's shape; a failure while the agent runs is an
/// exception event in a 200 stream, as Bedrock delivers it once its stream has begun.
fn bedrock_error(err: ApiError) -> Response {
    let kind = match err.code {
        "tool_failed" | "tools_unavailable" | "timeout" => "dependencyFailedException",
        "agent_failed" => "badGatewayException",
        _ => return crate::guardapi::aws_error(err),
    };
    let mut resp = (
        StatusCode::OK,
        crate::eventstream::exception(kind, &err.message),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        http::HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&err.request_id) {
        h.insert("x-request-id", v);
    }
    resp
}

/// The front door for any data-plane route: method, content type, bounded body, then
/// authentication, kill switch and rate limit. Returns the principal and the body.
pub(crate) async fn admit(
    app: &Arc<App>,
    parts: &http::request::Parts,
    body: Body,
    agent: Option<&AgentId>,
    principal_out: &mut Option<Principal>,
) -> Result<(Principal, Bytes), Failure> {
    let limits = &app.config.limits;
    if parts.method != Method::POST {
        return Err((
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "use POST",
            ),
            None,
        ));
    }
    if !content_type_is_json(&parts.headers) {
        return Err((
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as `Content-Type: application/json`",
            ),
            None,
        ));
    }
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > limits.max_header_bytes {
        return Err((
            ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                format!(
                    "request headers are larger than {} bytes",
                    limits.max_header_bytes
                ),
            ),
            None,
        ));
    }
    // A client that trickles its body is cut off instead of holding the task.
    let bytes = tokio::time::timeout(
        Duration::from_millis(limits.request_timeout_ms),
        read_body(body, &parts.headers, limits.max_body_bytes),
    )
    .await
    .map_err(|_| {
        (
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            ),
            None,
        )
    })?
    .map_err(|e| (e, None))?;
    let sig = SigV4Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &bytes,
        now: now_secs(),
    };
    match app.front.decide(&sig, agent) {
        Ok(p) => {
            *principal_out = Some(p.clone());
            Ok((p, bytes))
        }
        Err(refusal) => {
            *principal_out = refusal.principal().cloned();
            if let Refusal::Limited(l, p) = &refusal {
                app.metrics
                    .ratelimit_refusals
                    .with_label_values(&[p.tenant.as_str(), l.kind.as_str()])
                    .inc();
            }
            let outcome = match &refusal {
                Refusal::Auth(_) => "unauthorized",
                Refusal::Killed(..) => "kill_switch",
                Refusal::Limited(l, _) if l.kind == LimitKind::Tokens => "rate_limited_tokens",
                Refusal::Limited(..) => "rate_limited",
            };
            Err((refusal_error(app, &refusal), Some(outcome)))
        }
    }
}

async fn invoke_inner(
    app: &Arc<App>,
    request_id: &str,
    agent_raw: &str,
    session_raw: &str,
    parts: http::request::Parts,
    body: Body,
    principal_out: &mut Option<Principal>,
) -> Result<(Value, &'static str), Failure> {
    let limits = &app.config.limits;
    let agent_id = AgentId::new(agent_raw).ok();
    let now = now_secs();
    let (principal, bytes) = admit(app, &parts, body, agent_id.as_ref(), principal_out).await?;
    let Some(agent_id) = agent_id else {
        return Err((
            ApiError::not_found(format!("no agent `{}`", truncate(agent_raw))),
            None,
        ));
    };
    let Some(agent) = app.agents.get(&agent_id) else {
        return Err((ApiError::not_found(format!("no agent `{agent_id}`")), None));
    };
    let session_id = SessionId::new(session_raw).map_err(|e| {
        (
            ApiError::bad_request(format!("invalid sessionId: {e}")),
            None,
        )
    })?;
    let body: InvokeBody = serde_json::from_slice(&bytes).map_err(|e| {
        (
            ApiError::bad_request(format!("invalid JSON body: {e}")),
            None,
        )
    })?;
    if let Some(msg) = body.unsupported() {
        return Err((ApiError::bad_request(msg), None));
    }
    let _ = (
        &body.memory_id,
        &body.streaming_configurations,
        &body.prompt_creation_configurations,
        &body.bedrock_model_configurations,
    );
    let key = warden_store::SessionKey {
        tenant: principal.tenant.clone(),
        agent: agent_id.clone(),
        session: session_id.clone(),
    };
    // Returning results for a handed-back call resumes the paused invocation; `inputText`
    // is then ignored, as in Bedrock.
    let resuming = body
        .session_state
        .return_control_invocation_results
        .is_some()
        || body.session_state.invocation_id.is_some();
    let input = body.input_text.clone().unwrap_or_default();
    if !resuming && input.trim().is_empty() {
        if body.end_session {
            let ended = crate::sessions::end(&app.store, &key)
                .await
                .map_err(|e| (e, None))?;
            return Ok((
                json!({"sessionId": session_id.as_str(), "completion": "", "sessionEnded": true, "hadMemory": ended}),
                "session_ended",
            ));
        }
        return Err((
            ApiError::bad_request("`inputText` is required and must not be empty"),
            None,
        ));
    }
    let chars = input.chars().count();
    if !resuming && chars > limits.max_input_chars {
        return Err((
            ApiError::bad_request(format!(
                "`inputText` has {chars} characters; the limit is {}",
                limits.max_input_chars
            )),
            None,
        ));
    }
    let mut memory = crate::sessions::load(&app.store, &key, agent.config.session_idle_secs)
        .await
        .map_err(|e| (e, None))?;
    let resume = if resuming {
        let st = &body.session_state;
        let Some(pending) = memory.pending.clone() else {
            return Err((
                ApiError::bad_request(format!(
                    "session `{session_id}` has no call waiting for its result (return of control); it may have expired or belong to another session"
                )),
                None,
            ));
        };
        match &st.invocation_id {
            Some(id) if *id != pending.invocation_id => {
                return Err((
                    ApiError::bad_request(format!(
                        "`sessionState.invocationId` `{}` is not the invocation waiting in this session",
                        truncate(id)
                    )),
                    None,
                ))
            }
            _ => {}
        }
        let Some(results) = &st.return_control_invocation_results else {
            return Err((
                ApiError::bad_request(
                    "`sessionState.returnControlInvocationResults` is required with `invocationId`",
                ),
                None,
            ));
        };
        let result = crate::sessions::result_text(results, &pending).map_err(|e| {
            let err = match &e {
                crate::sessions::ResultError::Invalid(m) => ApiError::bad_request(m.clone()),
                crate::sessions::ResultError::Failed(_) => {
                    ApiError::new(StatusCode::FAILED_DEPENDENCY, "tool_failed", e.to_string())
                }
            };
            (err, None)
        })?;
        Some(warden_agent::Resume { pending, result })
    } else {
        None
    };

    // The trusted tenant replaces any tenant the client put into the session attributes.
    let mut reasons = Vec::new();
    let mut session_attributes = body.session_state.session_attributes;
    for key in TENANT_ATTRIBUTES {
        if let Some(v) = session_attributes.get(*key) {
            if v != principal.tenant.as_str() {
                reasons.push(Reason {
                    rule: "frontdoor.tenant-attribute-overridden".into(),
                    message: format!(
                        "session attribute `{key}` named another tenant; it was replaced by the authenticated tenant `{}`",
                        principal.tenant
                    ),
                    evidence: vec![format!("sessionAttributes.{key}")],
                });
            }
        }
    }
    session_attributes.insert("tenantId".into(), principal.tenant.to_string());

    let started_at = now_rfc3339();
    let history = &memory.exchanges[..];
    let resumed = resume.as_ref().map(|r| r.pending.clone());
    let invocation = Invocation {
        agent: &agent.config,
        tenant: &principal.tenant,
        subject: &principal.subject,
        invocation_id: request_id,
        session_id: session_id.as_str(),
        input_text: &input,
        session_attributes,
        prompt_session_attributes: body.session_state.prompt_session_attributes,
        started_at: &started_at,
        history,
        return_control: &agent.return_control,
        resume,
    };
    let timeout = Duration::from_millis(limits.request_timeout_ms);
    let screen = agent
        .screen
        .as_ref()
        .map(|s| s as &dyn warden_agent::Screen);
    let broker = app.broker.get().cloned();
    let runner = broker.as_ref().map(|b| crate::tools::BrokerRunner {
        broker: b.clone(),
        caller: warden_policy::Caller::from(&principal),
    });
    let observation = broker
        .as_ref()
        .map(|b| crate::tools::observation_mode(b.observation()))
        .unwrap_or(warden_detect::ObservationMode::Isolated);
    let mut check = crate::detection::DetectorCheck::new(
        &app.detector,
        resumed
            .as_ref()
            .map(|p| p.input_text.as_str())
            .unwrap_or(&input),
        &invocation.session_attributes,
        principal.tenant.as_str(),
        observation,
        &agent.return_control,
    );
    if let Some(p) = &resumed {
        check.prime(&p.trace.parts, &p.egress);
    }
    let tools = runner.as_ref().map(|r| r as &dyn warden_agent::ToolRunner);
    let run = match &agent.driver {
        crate::app::Driver::Loop(provider) => {
            tokio::time::timeout(
                timeout,
                invocation.run(provider.as_ref(), screen, tools, Some(&mut check)),
            )
            .await
        }
        #[cfg(feature = "bedrock-agent")]
        crate::app::Driver::BedrockAgent(remote) => {
            check = check.with_view(crate::remote::detector_view);
            tokio::time::timeout(
                timeout,
                remote.run(
                    &invocation,
                    body.end_session,
                    screen,
                    tools,
                    Some(&mut check),
                ),
            )
            .await
        }
    };
    let outcome = match run {
        Err(_) => {
            return Err((
                ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "timeout",
                    format!(
                        "the agent did not finish within {} ms",
                        limits.request_timeout_ms
                    ),
                ),
                None,
            ))
        }
        Ok(Err((e, _trace))) => {
            let err = match &e {
                AgentError::ToolsUnavailable(_) => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "tools_unavailable",
                    e.to_string(),
                ),
                AgentError::Tool(_) => {
                    ApiError::new(StatusCode::FAILED_DEPENDENCY, "tool_failed", e.to_string())
                }
                AgentError::Model(_) | AgentError::UnknownTool(_) | AgentError::MaxSteps(_) => {
                    ApiError::new(StatusCode::BAD_GATEWAY, "agent_failed", e.to_string())
                }
            };
            return Err((err, None));
        }
        Ok(Ok(o)) => o,
    };
    let tokens = outcome.usage.total();
    app.front.limits.charge_tokens(&principal.tenant, tokens);
    app.metrics
        .model_tokens
        .with_label_values(&[principal.tenant.as_str()])
        .inc_by(tokens);
    app.indexer.send(IndexEvent::Tokens {
        tenant: principal.tenant.clone(),
        window: token_window(now),
        tokens,
    });

    let (findings, summary) = check.finish(&outcome.trace);
    let judge = app.judge_outcome(&summary).await;
    let mut checks = vec!["frontdoor".to_string()];
    if let Some((rules, stage)) = &outcome.blocked {
        let stage = match stage {
            ScreenSource::Input => "input",
            ScreenSource::Output => "output",
            ScreenSource::ToolOutput => "tool output",
        };
        reasons.push(Reason {
            rule: rules.first().cloned().unwrap_or_else(|| "guard".into()),
            message: format!("the guardrail blocked the {stage}"),
            evidence: rules.clone(),
        });
    }
    if let Some(screen) = &agent.screen {
        checks.push(format!("guard:{}", screen.guardrail.name()));
    }
    for rule in &outcome.fired {
        if !reasons.iter().any(|r| &r.rule == rule) {
            reasons.push(Reason {
                rule: rule.clone(),
                message: "the guardrail anonymized content".into(),
                evidence: vec![],
            });
        }
    }
    reasons.extend(outcome.notes.iter().cloned());
    // Calls handed back to the caller ran outside the sandbox: the verdict says so.
    let handed_back: std::collections::BTreeSet<&str> = outcome
        .tool_calls
        .iter()
        .map(|c| c.action_group.as_str())
        .chain(
            outcome
                .returned
                .iter()
                .map(|p| p.call.action_group.as_str()),
        )
        .filter(|g| agent.return_control.contains(*g))
        .collect();
    for g in handed_back {
        checks.push(format!(
            "return-control:{g} (run by the caller outside the sandbox; its egress was not observed)"
        ));
    }
    if let Some(b) = &broker {
        checks.push(format!(
            "sandbox:{}",
            match b.observation() {
                warden_core::egress::Observation::Isolated => "isolated",
                warden_core::egress::Observation::Cooperative => "cooperative",
            }
        ));
    }
    let verdict = fuse_verdict(
        app,
        VerdictInputs {
            findings: &findings,
            judge,
            guard_blocked: outcome.blocked.is_some(),
            other_reasons: reasons,
            checks,
            observation,
            tenant: principal.tenant.as_str(),
            agent: agent_id.as_str(),
            session: session_id.as_str(),
            invocation: request_id,
            started_at,
        },
    );
    let decision = verdict.decision;
    // An enforced block withholds the agent's answer (the guard already replaced it when
    // the guard blocked); only the verdict and the configured message leave.
    let withheld = outcome.blocked.is_none()
        && (outcome.stopped.is_some()
            || (decision == Decision::Block && verdict.mode == VerdictMode::Enforce));
    let completion = if withheld {
        agent
            .screen
            .as_ref()
            .map(|s| {
                s.guardrail
                    .blocked_message(warden_guard::Source::Output)
                    .to_string()
            })
            .unwrap_or_else(|| STOPPED_MESSAGE.to_string())
    } else {
        outcome.completion.clone()
    };
    // Session memory: a completed answer is remembered (screened input and answer); a pause
    // stores the paused invocation; a blocked or stopped invocation leaves nothing to resume
    // and is not remembered.
    let returned = outcome.returned.clone().filter(|_| !withheld);
    memory.pending = returned.clone();
    let completed = outcome.returned.is_none()
        && !withheld
        && outcome.blocked.is_none()
        && outcome.stopped.is_none();
    if completed {
        memory.remember(
            warden_agent::Exchange {
                user: outcome.input.clone(),
                assistant: outcome.completion.clone(),
            },
            agent.config.memory_window,
        );
    }
    if body.end_session && returned.is_none() {
        crate::sessions::end(&app.store, &key)
            .await
            .map_err(|e| (e, None))?;
    } else {
        crate::sessions::save(&app.store, &key, &memory)
            .await
            .map_err(|e| (e, None))?;
    }

    let rules: Vec<String> = verdict.reasons.iter().map(|r| r.rule.clone()).collect();
    app.audit_decision(Decided {
        request_id,
        route: "invoke",
        principal: Some(&principal),
        agent: agent_id.as_str(),
        session: session_id.as_str(),
        status: StatusCode::OK,
        outcome: decision.as_str(),
        extra: json!({
            "verdict": {"decision": decision.as_str(), "confidence": verdict.confidence, "rules": rules},
            "usage": {"inputTokens": outcome.usage.input_tokens, "outputTokens": outcome.usage.output_tokens},
            "toolCalls": outcome.tool_calls.len(),
            "egressEvents": outcome.egress.len(),
        }),
    })
    .await
    .map_err(|e| (e, None))?;
    app.metrics
        .verdicts
        .with_label_values(&[decision.as_str()])
        .inc();
    app.export(&verdict);
    app.indexer.send(IndexEvent::Verdict(VerdictRow {
        invocation_id: request_id.to_string(),
        tenant: verdict.tenant_id.clone(),
        agent: verdict.agent_id.clone(),
        session: verdict.session_id.clone(),
        decision: decision.as_str().into(),
        confidence: verdict.confidence,
        rules,
        reason: verdict
            .reasons
            .first()
            .map(|r| r.message.clone())
            .unwrap_or_default(),
        decided_at: verdict.decided_at.clone(),
    }));
    let mut response = json!({
        "sessionId": session_id.as_str(),
        "completion": completion.clone(),
        "verdict": verdict,
        "usage": {"inputTokens": outcome.usage.input_tokens, "outputTokens": outcome.usage.output_tokens},
    });
    if let Some(p) = &returned {
        response["returnControl"] = crate::sessions::return_control_payload(agent_id.as_str(), p);
    }
    if body.end_session {
        response["sessionEnded"] = json!(returned.is_none());
    }
    if body.enable_trace {
        // After a resume, only the parts this request recorded (the caller saw the rest).
        let mut trace = outcome.trace;
        trace.drain(..outcome.resumed_parts.min(trace.len()));
        if withheld {
            // A withheld answer does not leave through the trace either.
            for part in &mut trace {
                if let Some(fr) = part
                    .pointer_mut("/trace/orchestrationTrace/observation/finalResponse")
                    .and_then(Value::as_object_mut)
                {
                    fr.insert("text".into(), Value::String(completion.clone()));
                }
            }
        }
        response["trace"] = Value::Array(trace);
        // The egress Warden observed for this invocation, as judged (hosts, ports, decisions,
        // sizes; never payload bytes): the evidence the verdict's references point into.
        response["egress"] = serde_json::to_value(&outcome.egress).unwrap_or(Value::Null);
    }
    Ok((response, decision.as_str()))
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
