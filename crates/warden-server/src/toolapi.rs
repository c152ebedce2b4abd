//! `POST /v1/tools/{actionGroup}/invoke` (run one action-group call in the sandbox for an
//! external agent framework) and `POST /v1/inspect` (judge a trace and egress evidence from
//! an agent that runs elsewhere). Both sit behind the front door and answer with a verdict.

use crate::app::App;
use crate::error::ApiError;
use crate::now_rfc3339;
use crate::routes::{admit, fuse_verdict, request_id, Decided, Failure, Finish, VerdictInputs};
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use warden_agent::{ToolCall, TraceBuilder};
use warden_core::{Principal, Reason, SessionId};
use warden_detect::{Context, Evidence, ObservationMode};

/// The caller-controlled fields of a Lambda action-group event.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ToolBody {
    session_id: String,
    #[serde(default)]
    api_path: Option<String>,
    #[serde(default)]
    http_method: Option<String>,
    #[serde(default)]
    function: Option<String>,
    #[serde(default)]
    parameters: Parameters,
    #[serde(default)]
    request_body: Option<Value>,
    /// What the caller's agent said it was doing (compared with what the tool did).
    #[serde(default)]
    rationale: Option<String>,
    /// The user's request, for the injection rule.
    #[serde(default)]
    input_text: Option<String>,
    #[serde(default)]
    session_attributes: BTreeMap<String, String>,
}

/// Parameters as Bedrock sends them (`[{"name","type","value"}]`) or as a map of strings.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Parameters {
    #[default]
    None,
    List(Vec<Param>),
    Map(BTreeMap<String, String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Param {
    name: String,
    #[serde(default, rename = "type")]
    _type: Option<String>,
    value: String,
}

impl Parameters {
    fn pairs(self) -> Vec<(String, String)> {
        match self {
            Parameters::None => Vec::new(),
            Parameters::List(v) => v.into_iter().map(|p| (p.name, p.value)).collect(),
            Parameters::Map(m) => m.into_iter().collect(),
        }
    }
}

pub(crate) async fn invoke_tool(
    State(app): State<Arc<App>>,
    Path(action_group): Path<String>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let rid = request_id();
    let (parts, body) = req.into_parts();
    let mut principal: Option<Principal> = None;
    let result = tool_inner(&app, &rid, &action_group, parts, body, &mut principal).await;
    let tool = action_group.chars().take(128).collect::<String>();
    app.finish(
        Finish {
            route: "tool",
            request_id: &rid,
            started,
            principal: principal.as_ref(),
            agent: &tool,
            session: "",
            extra: json!({"tool": tool}),
        },
        result,
        IntoResponse::into_response,
    )
    .await
}

async fn tool_inner(
    app: &Arc<App>,
    rid: &str,
    action_group: &str,
    parts: http::request::Parts,
    body: axum::body::Body,
    principal_out: &mut Option<Principal>,
) -> Result<(Value, &'static str), Failure> {
    let (principal, bytes) = admit(app, &parts, body, None, principal_out).await?;
    let body: ToolBody = serde_json::from_slice(&bytes).map_err(|e| {
        (
            ApiError::bad_request(format!("invalid JSON body: {e}")),
            None,
        )
    })?;
    let session = SessionId::new(&body.session_id).map_err(|e| {
        (
            ApiError::bad_request(format!("invalid sessionId: {e}")),
            None,
        )
    })?;
    let Some(broker) = app.broker.get().cloned() else {
        return Err((
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "tools_unavailable",
                "no tools are configured in this server",
            ),
            None,
        ));
    };
    let mut attrs = body.session_attributes;
    attrs.insert("tenantId".into(), principal.tenant.to_string());
    let call = ToolCall {
        action_group: action_group.to_string(),
        api_path: body.api_path,
        http_method: body.http_method,
        function: body.function,
        parameters: body.parameters.pairs(),
        request_body: body.request_body,
    };
    let input = body.input_text.unwrap_or_default();
    let started_at = now_rfc3339();
    let req = warden_broker::ToolRequest {
        caller: warden_policy::Caller::from(&principal),
        tenant: principal.tenant.clone(),
        agent: crate::tools::agent_ref("external"),
        session_id: session.to_string(),
        invocation_id: rid.to_string(),
        input_text: input.clone(),
        session_attributes: attrs.clone(),
        prompt_session_attributes: BTreeMap::new(),
        call: warden_policy::CallRequest {
            tool: call.action_group.clone(),
            api_path: call.api_path.clone(),
            http_method: call.http_method.clone(),
            function: call.function.clone(),
            parameters: call.parameters.clone(),
            request_body: call.request_body.clone(),
        },
    };
    let result = broker.invoke(&req).await;
    let (response, egress, notes, status_code) = match result {
        Ok(r) => {
            let notes = crate::tools::override_notes(&r.authorized);
            (Some(r.response), r.egress, notes, "ok")
        }
        Err(warden_broker::ToolFailure::Refused(refusal)) => {
            let code = refusal.code();
            let status = match code {
                "unknown_tool" | "unknown_operation" => StatusCode::NOT_FOUND,
                "policy_denied" | "tenant_mismatch" => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            return Err((ApiError::new(status, code, refusal.to_string()), None));
        }
        Err(e @ warden_broker::ToolFailure::FunctionError { .. }) => {
            (None, e.egress().to_vec(), Vec::new(), e.code())
        }
        Err(e) => {
            return Err((
                ApiError::new(StatusCode::FAILED_DEPENDENCY, e.code(), e.to_string()),
                None,
            ))
        }
    };
    // The caller's side of the story as a Bedrock trace, then the detector over it.
    let mut trace = TraceBuilder::new("external", session.as_str(), true);
    if let Some(r) = &body.rationale {
        trace.rationale(r);
    }
    trace.invocation_input(&call, "LAMBDA");
    if let Some(r) = &response {
        trace.tool_observation(&r.body);
    }
    let trace = trace.finish();
    let observation = crate::tools::observation_mode(broker.observation());
    let steps = warden_detect::steps_from_values(&trace)
        .map(|t| t.steps)
        .unwrap_or_default();
    let evidence = Evidence {
        steps,
        egress: egress.clone(),
        tools: app.detector.tools.clone(),
        context: Context {
            user_input: input,
            session_attributes: attrs,
            tenant: principal.tenant.to_string(),
            observation,
            observed_tools: [action_group.to_string()].into_iter().collect(),
        },
    };
    let findings = warden_detect::evaluate(&evidence);
    let judge = app.judge_outcome(&summary(&evidence, &findings)).await;
    let mut reasons: Vec<Reason> = notes;
    if response.is_none() {
        reasons.push(Reason {
            rule: "tool.error".into(),
            message: format!("the `{action_group}` handler raised an error"),
            evidence: vec![],
        });
    }
    let verdict = fuse_verdict(
        app,
        VerdictInputs {
            findings: &findings,
            judge,
            guard_blocked: false,
            other_reasons: reasons,
            checks: vec!["frontdoor".into(), "broker".into()],
            observation,
            tenant: principal.tenant.as_str(),
            agent: "external",
            session: session.as_str(),
            invocation: rid,
            started_at,
        },
    );
    let decision = verdict.decision;
    app.audit_decision(Decided {
        request_id: rid,
        route: "tool",
        principal: Some(&principal),
        agent: action_group,
        session: session.as_str(),
        status: StatusCode::OK,
        outcome: decision.as_str(),
        extra: json!({
            "tool": action_group, "result": status_code, "egressEvents": egress.len(),
            "verdict": {"decision": decision.as_str(), "confidence": verdict.confidence,
                        "rules": verdict.reasons.iter().map(|r| r.rule.clone()).collect::<Vec<_>>()},
        }),
    })
    .await
    .map_err(|e| (e, None))?;
    app.metrics
        .verdicts
        .with_label_values(&[decision.as_str()])
        .inc();
    app.export(&verdict);
    let blocked = decision == warden_core::Decision::Block
        && verdict.mode == warden_core::VerdictMode::Enforce;
    Ok((
        json!({
            // An enforced block withholds the tool's output from the caller's agent.
            "response": if blocked { Value::Null } else { response.map(|r| r.document).unwrap_or(Value::Null) },
            "egress": egress,
            "verdict": verdict,
        }),
        decision.as_str(),
    ))
}

/// `POST /v1/inspect`: `{trace, egress?, tools?, inputText?, sessionAttributes?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InspectBody {
    trace: Value,
    #[serde(default)]
    egress: Vec<warden_core::egress::EgressEvent>,
    /// Tool manifests (name, hosts, operations); defaults to this server's tools.
    #[serde(default)]
    tools: Option<Vec<warden_detect::ToolInfo>>,
    #[serde(default)]
    input_text: Option<String>,
    #[serde(default)]
    session_attributes: BTreeMap<String, String>,
    #[serde(default)]
    session_id: Option<String>,
    /// Tools whose every connection the egress evidence covers (e.g. handlers in a VPC whose
    /// Flow Logs are given). Only for these is a reported call with neither egress nor output
    /// evidence that the call never ran (`gap.phantom-invocation`).
    #[serde(default)]
    observed_tools: std::collections::BTreeSet<String>,
}

pub(crate) async fn inspect(State(app): State<Arc<App>>, req: Request) -> Response {
    let started = Instant::now();
    let rid = request_id();
    let (parts, body) = req.into_parts();
    let mut principal: Option<Principal> = None;
    let result = async {
        let (principal, bytes) = admit(&app, &parts, body, None, &mut principal).await?;
        let body: InspectBody = serde_json::from_slice(&bytes)
            .map_err(|e| (ApiError::bad_request(format!("invalid JSON body: {e}")), None))?;
        let text = match &body.trace {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let trace = warden_detect::parse_trace(&text)
            .map_err(|e| (ApiError::bad_request(format!("invalid trace: {e}")), None))?;
        let tools = body.tools.unwrap_or_else(|| app.detector.tools.clone());
        if let Some(unknown) = body
            .observed_tools
            .iter()
            .find(|t| !tools.iter().any(|m| &m.name == *t))
        {
            return Err((
                ApiError::bad_request(format!(
                    "`observedTools` names `{unknown}`, which is not one of the tools"
                )),
                None,
            ));
        }
        let evidence = Evidence {
            steps: trace.steps,
            egress: body.egress,
            tools,
            context: Context {
                user_input: body.input_text.unwrap_or_default(),
                session_attributes: body.session_attributes,
                tenant: principal.tenant.to_string(),
                observation: ObservationMode::External,
                observed_tools: body.observed_tools,
            },
        };
        let findings = warden_detect::evaluate(&evidence);
        let judge = app.judge_outcome(&summary(&evidence, &findings)).await;
        let session = body.session_id.unwrap_or_default();
        let verdict = fuse_verdict(
            &app,
            VerdictInputs {
                findings: &findings,
                judge,
                guard_blocked: false,
                other_reasons: Vec::new(),
                checks: vec!["frontdoor".into()],
                observation: ObservationMode::External,
                tenant: principal.tenant.as_str(),
                agent: "external",
                session: &session,
                invocation: &rid,
                started_at: now_rfc3339(),
            },
        );
        let decision = verdict.decision;
        app.audit_decision(Decided {
            request_id: &rid,
            route: "inspect",
            principal: Some(&principal),
            agent: "external",
            session: &session,
            status: StatusCode::OK,
            outcome: decision.as_str(),
            extra: json!({"verdict": {"decision": decision.as_str(), "confidence": verdict.confidence,
                "rules": verdict.reasons.iter().map(|r| r.rule.clone()).collect::<Vec<_>>()}}),
        })
        .await
        .map_err(|e| (e, None))?;
        app.export(&verdict);
        Ok((json!({"verdict": verdict}), decision.as_str()))
    }
    .await;
    app.finish(
        Finish {
            route: "inspect",
            request_id: &rid,
            started,
            principal: principal.as_ref(),
            agent: "",
            session: "",
            extra: json!({}),
        },
        result,
        IntoResponse::into_response,
    )
    .await
}

/// The compact evidence summary a judge may see (names and counts, never values or text).
fn summary(e: &Evidence, findings: &[warden_detect::Finding]) -> Value {
    let text = warden_detect::JudgeSummary::new(
        &e.tools,
        &e.steps,
        &e.egress,
        findings,
        e.context.observation,
    )
    .to_json();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}
