//! An agent driven by an OpenAI-compatible model (here a local server speaking the chat
//! completions wire format, with tool calls) through the real `warden serve`: the model is
//! offered the agent's action-group operations as tools, its tool call runs the real
//! `lookup_order` handler through the broker, and its final answer is returned with a verdict.

mod common;

use common::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

fn completion(message: Value, finish: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
           "choices": [{"index": 0, "finish_reason": finish, "message": message}],
           "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}})
}

/// Answers the first request with a tool call and any request carrying a tool result with a
/// final answer that quotes it.
async fn model_server() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            s.lock().unwrap().push(body.clone());
            async move {
                let tool_result = body["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["role"] == "tool")
                    .map(|m| m["content"].as_str().unwrap_or("").to_string());
                axum::Json(match tool_result {
                    None => completion(
                        json!({"role": "assistant", "content": null, "tool_calls": [{
                            "id": "call_1", "type": "function",
                            "function": {"name": "orders__lookup_order",
                                         "arguments": "{\"orderId\":\"A-1043\"}"}}]}),
                        "tool_calls",
                    ),
                    Some(result) => {
                        let status: Value = serde_json::from_str(&result).unwrap_or(Value::Null);
                        completion(
                            json!({"role": "assistant", "content": format!(
                                "Order A-1043 is {}, arriving {}.",
                                status["status"].as_str().unwrap_or("?"),
                                status["eta"].as_str().unwrap_or("?"))}),
                            "stop",
                        )
                    }
                })
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{a}/v1"), seen)
}

async fn orders_api() -> std::net::SocketAddr {
    let app = axum::Router::new().route(
        "/orders/{id}",
        axum::routing::get(|| async { r#"{"status":"shipped","eta":"Tuesday"}"# }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    a
}

#[tokio::test(flavor = "multi_thread")]
async fn an_openai_compatible_model_calls_the_real_tool_and_answers() {
    if !have_python_module("awslambdaric") {
        eprintln!("SKIPPED: python3 with awslambdaric is not installed (scripts/test installs it)");
        return;
    }
    let (url, seen) = model_server().await;
    let api = orders_api().await;
    let project = Project::new(move |t| {
        t.replace(
            "provider = \"scripted\"\nscript = \"agents/support.script.json\"",
            &format!("provider = \"openai\"\nbase_url = \"{url}\"\nmodel = \"support-model\""),
        )
        .replace(
            "\"api.internal\" = \"127.0.0.1:18080\"",
            &format!("\"api.internal\" = \"{api}\""),
        )
    });
    let server = Server::start(&project);
    let token = project.token("acme", |_| {});
    let (status, _, body) = invoke(
        &server,
        Some(&token),
        json!({"inputText": "Where is my order A-1043?", "enableTrace": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["completion"], "Order A-1043 is shipped, arriving Tuesday.",
        "{body}"
    );
    assert_eq!(body["verdict"]["decision"], "allow", "{body}");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let tool = &requests[0]["tools"][0]["function"];
    assert_eq!(tool["name"], "orders__lookup_order", "{}", requests[0]);
    assert!(tool["parameters"]["properties"]["orderId"].is_object());
    assert_eq!(requests[0]["messages"][0]["role"], "system");
    // The trace names the model, not the scripted provider.
    assert!(body["trace"]
        .as_array()
        .unwrap()
        .iter()
        .any(
            |p| p["trace"]["orchestrationTrace"]["modelInvocationInput"]["foundationModel"]
                .as_str()
                .is_some_and(|m| m.contains("support-model"))
        ));
}

/// A local server speaking Bedrock Runtime's Converse wire format (`POST
/// /model/{modelId}/converse`; not AWS): a `toolUse` first, then an answer quoting the
/// `toolResult`. Records each request with its `Authorization` header.
#[cfg(feature = "bedrock")]
async fn converse_server() -> (String, Arc<Mutex<Vec<(String, String, Value)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/model/{model}/converse",
        axum::routing::post(
            move |axum::extract::Path(model): axum::extract::Path<String>,
                  headers: axum::http::HeaderMap,
                  body: axum::body::Bytes| {
                let body: Value = serde_json::from_slice(&body).unwrap();
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                s.lock().unwrap().push((model, auth, body.clone()));
                async move {
                    let result = body["messages"].as_array().unwrap().iter().find_map(|m| {
                        m["content"].as_array()?.iter().find_map(|c| {
                            c["toolResult"]["content"][0]["text"]
                                .as_str()
                                .map(String::from)
                        })
                    });
                    let content = match result {
                        None => json!([{"toolUse": {"toolUseId": "tooluse_1",
                            "name": "orders__lookup_order", "input": {"orderId": "A-1043"}}}]),
                        Some(r) => {
                            let st: Value = serde_json::from_str(&r).unwrap_or(Value::Null);
                            json!([{"text": format!("Order A-1043 is {}, arriving {}.",
                                st["status"].as_str().unwrap_or("?"),
                                st["eta"].as_str().unwrap_or("?"))}])
                        }
                    };
                    let stop = if content[0].get("toolUse").is_some() {
                        "tool_use"
                    } else {
                        "end_turn"
                    };
                    axum::Json(json!({
                        "output": {"message": {"role": "assistant", "content": content}},
                        "stopReason": stop,
                        "usage": {"inputTokens": 40, "outputTokens": 12, "totalTokens": 52},
                        "metrics": {"latencyMs": 3}}))
                }
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{a}"), seen)
}

/// An agent on Bedrock Converse through the AWS SDK for Rust (built with `--features
/// bedrock`), pointed at a local server speaking Converse's wire format through the SDK's
/// standard `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`: the request is SigV4-signed with the default
/// credential chain (here environment credentials), offers the action-group operations as
/// tools, passes the configured Bedrock guardrail through, and the model's tool call runs
/// the real handler.
#[cfg(feature = "bedrock")]
#[tokio::test(flavor = "multi_thread")]
async fn a_bedrock_converse_model_calls_the_real_tool_and_answers() {
    if !have_python_module("awslambdaric") {
        eprintln!("SKIPPED: python3 with awslambdaric is not installed (scripts/test installs it)");
        return;
    }
    let (url, seen) = converse_server().await;
    let api = orders_api().await;
    let project = Project::new(move |t| {
        t.replace(
            "provider = \"scripted\"\nscript = \"agents/support.script.json\"",
            "provider = \"bedrock\"\nmodel_id = \"anthropic.claude-3-5-haiku-20241022-v1:0\"\nregion = \"us-east-1\"\nguardrail_identifier = \"gr-support\"\nguardrail_version = \"3\"\nprompt_cache = true",
        )
        .replace(
            "\"api.internal\" = \"127.0.0.1:18080\"",
            &format!("\"api.internal\" = \"{api}\""),
        )
    });
    let server = Server::start_with_local_aws(&project, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &url);
    let token = project.token("acme", |_| {});
    let (status, _, body) = invoke(
        &server,
        Some(&token),
        json!({"inputText": "Where is my order A-1043?", "enableTrace": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["completion"], "Order A-1043 is shipped, arriving Tuesday.",
        "{body}"
    );
    assert_eq!(body["verdict"]["decision"], "allow", "{body}");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let (model, auth, first) = &requests[0];
    assert_eq!(model, "anthropic.claude-3-5-haiku-20241022-v1:0");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST0000001/")
            && auth.contains("/us-east-1/bedrock/aws4_request"),
        "{auth}"
    );
    assert_eq!(
        first["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "orders__lookup_order"
    );
    assert_eq!(
        first["guardrailConfig"]["guardrailIdentifier"],
        "gr-support"
    );
    assert_eq!(first["guardrailConfig"]["guardrailVersion"], "3");
    assert!(!first["system"][0]["text"].as_str().unwrap().is_empty());
    // `prompt_cache = true`: cache points after the system prompt and the tools.
    assert_eq!(
        first["system"][1],
        json!({"cachePoint": {"type": "default"}})
    );
    assert_eq!(
        first["toolConfig"]["tools"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        &json!({"cachePoint": {"type": "default"}})
    );
}

/// Without the `bedrock` feature the binary refuses a Bedrock agent at startup and names the
/// build flag that enables it.
#[cfg(not(feature = "bedrock"))]
#[test]
fn a_bedrock_agent_needs_the_bedrock_build() {
    let project = Project::new(|t| {
        t.replace(
            "provider = \"scripted\"\nscript = \"agents/support.script.json\"",
            "provider = \"bedrock\"\nmodel_id = \"anthropic.claude-3-5-haiku-20241022-v1:0\"",
        )
    });
    let out = project.warden(&["serve"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--features bedrock"), "{err}");
}
