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
