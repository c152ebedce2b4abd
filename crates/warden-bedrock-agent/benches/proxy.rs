//! Proxy-mode overhead without Bedrock's own time: converting SDK trace parts back to TracePart
//! JSON, and whole runs against a local server that speaks InvokeAgent's wire format on
//! loopback (SigV4 signing, event-stream decoding, one return of control through a tool
//! runner that answers at once). Not AWS: the network and Bedrock's latency are not in it.
//!
//! `cargo bench -p warden-bedrock-agent --bench proxy`

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_bedrockagentruntime::types as bt;
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use warden_agent::{ToolCall, ToolContext, ToolError, ToolOutput, ToolRunner};
use warden_bedrock_agent::{BedrockAgentClient, RemoteInvocation};
use warden_core::TenantId;

/// Answers every call immediately (the sandbox's own cost is measured by the broker's benches).
struct Instant;

#[async_trait]
impl ToolRunner for Instant {
    async fn run(&self, _ctx: &ToolContext<'_>, _call: &ToolCall) -> Result<ToolOutput, ToolError> {
        Ok(ToolOutput {
            text: r#"{"order_id":"112-4471","status":"SHIPPED"}"#.into(),
            ..ToolOutput::default()
        })
    }
}

fn event(event_type: &str, payload: &Value) -> Vec<u8> {
    let message = Message::new(serde_json::to_vec(payload).unwrap())
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String("event".into()),
        ))
        .add_header(Header::new(
            ":event-type",
            HeaderValue::String(event_type.to_string().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ));
    let mut out = Vec::new();
    write_message_to(&message, &mut out).unwrap();
    out
}

fn trace_event(i: usize) -> Value {
    json!({"agentId": "SUPPAGT001", "agentAliasId": "PRODALIAS1", "sessionId": "sess-1",
        "agentVersion": "3", "eventTime": "2026-11-21T10:15:01.020Z",
        "trace": {"orchestrationTrace": {"modelInvocationOutput": {"traceId": format!("t-{i}"),
            "rawResponse": {"content": "<thinking>The user wants order 112-4471. I will call lookup_order.</thinking>"},
            "metadata": {"clientRequestId": "e4f6", "totalTimeMs": 2108,
                "usage": {"inputTokens": 1412, "outputTokens": 61}}}}}})
}

/// The two streams of one run: ten trace parts and a returnControl, then the answer.
fn streams() -> (Vec<u8>, Vec<u8>) {
    let mut first: Vec<u8> = (0..10)
        .flat_map(|i| event("trace", &trace_event(i)))
        .collect();
    first.extend(event(
        "returnControl",
        &json!({"invocationId": "inv-1", "invocationInputs": [{"functionInvocationInput": {
            "actionGroup": "OrderTools", "function": "lookup_order",
            "parameters": [{"name": "order_id", "type": "string", "value": "112-4471"}]}}]}),
    ));
    let answer = base64::engine::general_purpose::STANDARD.encode("Order 112-4471 shipped.");
    let second = event("chunk", &json!({"bytes": answer}));
    (first, second)
}

#[derive(Clone)]
struct Script(Arc<Mutex<VecDeque<Vec<u8>>>>, Arc<(Vec<u8>, Vec<u8>)>);

async fn handler(State(s): State<Script>) -> Response {
    let body = {
        let mut q = s.0.lock().unwrap();
        if q.is_empty() {
            q.push_back(s.1 .0.clone());
            q.push_back(s.1 .1.clone());
        }
        q.pop_front().unwrap()
    };
    Response::builder()
        .header("content-type", "application/vnd.amazon.eventstream")
        .header("x-amzn-bedrock-agent-content-type", "application/json")
        .header("x-amz-bedrock-agent-session-id", "sess-1")
        .body(Body::from(body))
        .unwrap()
}

fn sdk_part() -> bt::TracePart {
    bt::TracePart::builder()
        .agent_id("SUPPAGT001")
        .agent_alias_id("PRODALIAS1")
        .session_id("sess-1")
        .agent_version("3")
        .trace(bt::Trace::OrchestrationTrace(
            bt::OrchestrationTrace::InvocationInput(
                bt::InvocationInput::builder()
                    .trace_id("t-0")
                    .invocation_type(bt::InvocationType::ActionGroup)
                    .action_group_invocation_input(
                        bt::ActionGroupInvocationInput::builder()
                            .action_group_name("OrderTools")
                            .function("lookup_order")
                            .parameters(
                                bt::Parameter::builder()
                                    .name("order_id")
                                    .r#type("string")
                                    .value("112-4471")
                                    .build(),
                            )
                            .execution_type(bt::ExecutionType::ReturnControl)
                            .invocation_id("inv-1")
                            .build(),
                    )
                    .build(),
            ),
        ))
        .build()
}

fn bench(c: &mut Criterion) {
    let part = sdk_part();
    let mut group = c.benchmark_group("trace");
    group.throughput(Throughput::Elements(1));
    group.bench_function("trace_part_to_json", |b| {
        b.iter(|| warden_bedrock_agent::trace::trace_part(std::hint::black_box(&part)))
    });
    group.finish();

    // Credentials and region for the SDK's default chain; set before any SDK code runs.
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDWARDENBENCH01");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench-secret");
    std::env::set_var("AWS_REGION", "eu-west-3");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var(
        "AWS_CONFIG_FILE",
        "/nonexistent/warden-bedrock-agent/config",
    );
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/warden-bedrock-agent/credentials",
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route(
                "/agents/{agent}/agentAliases/{alias}/sessions/{session}/text",
                post(handler),
            )
            .with_state(Script(
                Arc::new(Mutex::new(VecDeque::new())),
                Arc::new(streams()),
            ));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        BedrockAgentClient::new(
            "SUPPAGT001",
            "PRODALIAS1",
            None,
            Duration::from_secs(10),
            Some(url),
        )
        .await
        .unwrap()
    });
    let tenant = TenantId::new("acme").unwrap();
    let attrs = BTreeMap::new();
    let groups = vec!["OrderTools".to_string()];
    let req = RemoteInvocation {
        session_id: "sess-1",
        input_text: "Where is my order 112-4471?",
        session_attributes: &attrs,
        prompt_session_attributes: &attrs,
        end_session: false,
        action_groups: &groups,
        max_round_trips: 4,
        screen: None,
        instructions: "",
    };
    let ctx = ToolContext {
        tenant: &tenant,
        subject: "user-1",
        agent_id: "support",
        session_id: "sess-1",
        invocation_id: "req-1",
        input_text: "Where is my order 112-4471?",
        session_attributes: &attrs,
        prompt_session_attributes: &attrs,
    };
    let mut group = c.benchmark_group("run");
    group.throughput(Throughput::Elements(1));
    group.bench_function("two_round_trips_10_trace_parts_loopback", |b| {
        b.iter(|| {
            let out = rt.block_on(client.run(&req, &ctx, &Instant, None)).unwrap();
            assert_eq!(out.round_trips, 2);
            out
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
