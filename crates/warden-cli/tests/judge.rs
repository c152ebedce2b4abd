//! The LLM judge in the verdict path of the real `warden serve`: the judge is an
//! OpenAI-compatible chat-completions endpoint — here a local server speaking that wire
//! format — that sees only the compact evidence summary and answers in the strict JSON shape.

mod common;

use common::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// A local chat-completions server answering every request with `answer` as the message
/// content; it keeps the request bodies it received.
async fn judge_server(answer: &'static str) -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            s.lock().unwrap().push(body);
            async move {
                axum::Json(json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "judge",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": answer}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
                }))
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{a}/v1"), seen)
}

fn project_with_judge(base_url: &str, on_failure: &str) -> Project {
    let judge = format!(
        "[judge]\nprovider = \"openai\"\nbase_url = \"{base_url}\"\nmodel = \"judge\"\ntimeout_ms = 3000\non_failure = \"{on_failure}\""
    );
    Project::new(move |t| t.replace("[judge]\nprovider = \"none\"", &judge))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confident_judge_raises_allow_to_warn_and_sees_no_prompt_text() {
    let (url, seen) = judge_server(
        "{\"decision\":\"warn\",\"confidence\":0.9,\"reason\":\"The request pattern looks like reconnaissance.\"}",
    )
    .await;
    let project = project_with_judge(&url, "rules-decide");
    let server = Server::start(&project);
    let token = project.token("acme", |_| {});
    let (status, _, body) = invoke(
        &server,
        Some(&token),
        json!({"inputText": "Hello, my secret phrase is purple-otter-42"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["verdict"]["decision"], "warn", "{body}");
    assert!(
        body["verdict"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "judge"
                && r["message"].as_str().unwrap().contains("reconnaissance")),
        "{body}"
    );
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert!(
        !requests[0].to_string().contains("purple-otter-42"),
        "the judge must see the evidence summary only"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_judge_that_breaks_the_shape_is_recorded_and_fails_closed_when_configured() {
    let (url, _) = judge_server("Sure! I think this is fine.").await;
    let project = project_with_judge(&url, "block");
    let server = Server::start(&project);
    let token = project.token("acme", |_| {});
    let (status, _, body) = invoke(&server, Some(&token), json!({"inputText": "Hello"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["verdict"]["decision"], "block", "{body}");
    assert!(body["verdict"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["rule"] == "judge.unavailable"));
}
