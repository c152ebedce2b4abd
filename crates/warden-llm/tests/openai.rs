//! `OpenAiChat` and `LlmJudge` against a local server speaking the OpenAI chat completions
//! wire format.

mod common;

use std::time::{Duration, Instant};

use common::{serve, Canned};
use serde_json::json;
use warden_core::{Decision, Sensitive};
use warden_llm::{
    CallPolicy, ChatModel, ChatRequest, ContentBlock, Judge, JudgeError, LlmError, LlmJudge,
    Message, OpenAiChat, OpenAiConfig, Role, StopReason, ToolSpec, Usage, JUDGE_SYSTEM_PROMPT,
};

const KEY: &str = "sk-test-7f3a9c1e5b";

fn policy() -> CallPolicy {
    CallPolicy {
        timeout: Duration::from_secs(10),
        max_attempts: 3,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
        max_tokens_budget: 1024,
        max_response_bytes: 64 * 1024,
    }
}

fn client(base: &str, policy: CallPolicy) -> OpenAiChat {
    OpenAiChat::new(OpenAiConfig {
        base_url: format!("{base}/v1/"),
        model: "qwen2.5:7b".into(),
        api_key: Some(Sensitive::new(KEY.into())),
        policy,
        connect_timeout: Duration::from_secs(2),
    })
    .unwrap()
}

fn tool_request() -> ChatRequest {
    ChatRequest {
        system: "You are Acme support.".into(),
        messages: vec![Message::user_text("Where is order 112-4471?")],
        tools: vec![ToolSpec {
            name: "lookup_order".into(),
            description: "Look up an order by id".into(),
            input_schema: json!({"type": "object",
                "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}),
        }],
        max_tokens: 512,
        temperature: Some(0.0),
        cache_prompt: false,
    }
}

fn completion(content: serde_json::Value, finish: &str) -> String {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "qwen2.5:7b",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 41, "completion_tokens": 9, "total_tokens": 50}
    })
    .to_string()
}

const TOOL_CALL_ANSWER: &str = r#"{"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"qwen2.5:7b",
 "choices":[{"index":0,"message":{"role":"assistant","content":"Let me check.","tool_calls":[
   {"id":"call_kZJMlvQm","type":"function","function":{"name":"lookup_order","arguments":"{\"order_id\":\"112-4471\"}"}}]},
   "finish_reason":"tool_calls"}],
 "usage":{"prompt_tokens":412,"completion_tokens":58,"total_tokens":470}}"#;

/// Runs against a local server speaking the OpenAI chat completions wire format: a tool call
/// answer, then the follow-up turn carrying the tool result.
#[tokio::test]
async fn tool_call_round_trip() {
    let server = serve(vec![
        Canned::json(200, TOOL_CALL_ANSWER),
        Canned::json(
            200,
            completion(json!("Order 112-4471 has shipped."), "stop"),
        ),
    ])
    .await;
    let model = client(&server.url(), policy());
    assert_eq!(model.model_name(), "qwen2.5:7b");

    let mut req = tool_request();
    let first = model.chat(&req).await.unwrap();
    assert_eq!(first.stop_reason, StopReason::ToolUse);
    assert_eq!(
        first.content,
        vec![
            ContentBlock::Text("Let me check.".into()),
            ContentBlock::ToolUse {
                id: "call_kZJMlvQm".into(),
                name: "lookup_order".into(),
                input: json!({"order_id": "112-4471"}),
            }
        ]
    );
    assert_eq!(
        first.usage,
        Usage {
            input_tokens: 412,
            output_tokens: 58
        }
    );
    assert_eq!(first.raw, TOOL_CALL_ANSWER);

    req.messages.push(Message {
        role: Role::Assistant,
        content: first.content.clone(),
    });
    req.messages.push(Message {
        role: Role::User,
        content: vec![ContentBlock::ToolResult {
            tool_use_id: "call_kZJMlvQm".into(),
            content: r#"{"status":"SHIPPED"}"#.into(),
            is_error: false,
        }],
    });
    let second = model.chat(&req).await.unwrap();
    assert_eq!(second.stop_reason, StopReason::EndTurn);
    assert_eq!(second.text(), "Order 112-4471 has shipped.");

    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert_eq!(r.method, "POST");
        assert_eq!(r.uri.path(), "/v1/chat/completions");
        assert_eq!(r.header("authorization").unwrap(), format!("Bearer {KEY}"));
        assert_eq!(r.header("content-type").unwrap(), "application/json");
    }
    let tools = json!([{"type": "function", "function": {
        "name": "lookup_order", "description": "Look up an order by id",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]);
    assert_eq!(
        seen[0].json(),
        json!({
            "model": "qwen2.5:7b",
            "messages": [
                {"role": "system", "content": "You are Acme support."},
                {"role": "user", "content": "Where is order 112-4471?"},
            ],
            "max_tokens": 512, "temperature": 0.0, "tools": tools, "stream": false,
        })
    );
    assert_eq!(
        seen[1].json(),
        json!({
            "model": "qwen2.5:7b",
            "messages": [
                {"role": "system", "content": "You are Acme support."},
                {"role": "user", "content": "Where is order 112-4471?"},
                {"role": "assistant", "content": "Let me check.", "tool_calls": [
                    {"id": "call_kZJMlvQm", "type": "function",
                     "function": {"name": "lookup_order", "arguments": "{\"order_id\":\"112-4471\"}"}}]},
                {"role": "tool", "tool_call_id": "call_kZJMlvQm", "content": "{\"status\":\"SHIPPED\"}"},
            ],
            "max_tokens": 512, "temperature": 0.0, "tools": tools, "stream": false,
        })
    );
}

/// Runs against a local server speaking the OpenAI chat completions wire format: HTTP 429
/// with `Retry-After: 1`, then success; the client waits the asked second and retries.
#[tokio::test]
async fn throttled_then_success_honours_retry_after() {
    let server = serve(vec![
        Canned::json(
            429,
            r#"{"error":{"message":"Rate limit reached","type":"requests"}}"#,
        )
        .header("retry-after", "1"),
        Canned::json(200, completion(json!("ok"), "stop")),
    ])
    .await;
    let started = Instant::now();
    let answer = client(&server.url(), policy())
        .chat(&tool_request())
        .await
        .unwrap();
    assert_eq!(answer.text(), "ok");
    assert_eq!(server.requests().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

/// Runs against a local server speaking the OpenAI chat completions wire format: throttling
/// that never ends gives `Throttled` after the configured attempts.
#[tokio::test]
async fn persistent_throttling_gives_up_after_max_attempts() {
    let server = serve(vec![Canned::json(
        429,
        r#"{"error":{"message":"Rate limit reached"}}"#,
    )])
    .await;
    let err = client(&server.url(), policy())
        .chat(&tool_request())
        .await
        .unwrap_err();
    assert_eq!(server.requests().len(), 3);
    match &err {
        LlmError::Throttled {
            retry_after,
            message,
            ..
        } => {
            assert_eq!(*retry_after, None);
            assert_eq!(message, "Rate limit reached");
        }
        other => panic!("{other:?}"),
    }
}

/// Runs against a local server speaking the OpenAI chat completions wire format: HTTP 500,
/// then success.
#[tokio::test]
async fn server_error_then_success() {
    let server = serve(vec![
        Canned::json(500, r#"{"error":{"message":"upstream overloaded"}}"#),
        Canned::json(200, completion(json!("fine"), "stop")),
    ])
    .await;
    let answer = client(&server.url(), policy())
        .chat(&tool_request())
        .await
        .unwrap();
    assert_eq!(answer.text(), "fine");
    assert_eq!(answer.usage.total(), 50);
    assert_eq!(server.requests().len(), 2);
}

/// Runs against a local server speaking the OpenAI chat completions wire format: a 200 whose
/// body is not JSON is `InvalidResponse`, and is not retried.
#[tokio::test]
async fn malformed_json_is_invalid_response() {
    let server = serve(vec![Canned::json(200, r#"{"choices":[{"message":"#)]).await;
    let err = client(&server.url(), policy())
        .chat(&tool_request())
        .await
        .unwrap_err();
    match err {
        LlmError::InvalidResponse(m) => {
            assert!(m.starts_with("response is not a chat completion"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
}

/// Runs against a local server speaking the OpenAI chat completions wire format: tool call
/// arguments that are not JSON are `InvalidResponse` naming the call.
#[tokio::test]
async fn malformed_tool_arguments_are_invalid_response() {
    let body = TOOL_CALL_ANSWER.replace(r#"{\"order_id\":\"112-4471\"}"#, r#"{\"order_id\":"#);
    let server = serve(vec![Canned::json(200, body)]).await;
    let err = client(&server.url(), policy())
        .chat(&tool_request())
        .await
        .unwrap_err();
    match err {
        LlmError::InvalidResponse(m) => assert!(
            m.starts_with(
                "choices[0].message.tool_calls[0] (lookup_order): arguments are not JSON"
            ),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
}

/// Runs against a local server speaking the OpenAI chat completions wire format: a server
/// that never answers ends in `Timeout` at the call's deadline.
#[tokio::test]
async fn hang_is_timeout() {
    let server = serve(vec![
        Canned::json(200, completion(json!("late"), "stop")).delayed(Duration::from_secs(30))
    ])
    .await;
    let started = Instant::now();
    let err = client(
        &server.url(),
        CallPolicy {
            timeout: Duration::from_millis(300),
            ..policy()
        },
    )
    .chat(&tool_request())
    .await
    .unwrap_err();
    assert!(matches!(err, LlmError::Timeout { after, .. } if after == Duration::from_millis(300)));
    assert!(err.to_string().ends_with("within 300 ms"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Runs against a local server speaking the OpenAI chat completions wire format: 401 is
/// `Auth`, is not retried, and the message never contains the key.
#[tokio::test]
async fn unauthorized_is_auth_without_the_key() {
    let server = serve(vec![Canned::json(
        401,
        r#"{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}"#,
    )])
    .await;
    let err = client(&server.url(), policy())
        .chat(&tool_request())
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Auth(_)), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("HTTP 401: Incorrect API key provided"),
        "{text}"
    );
    assert!(!text.contains(KEY));
    assert_eq!(server.requests().len(), 1);
    assert!(!format!("{:?}", client(&server.url(), policy())).contains(KEY));
}

/// Runs against a local server speaking the OpenAI chat completions wire format: a body over
/// the size cap is refused.
#[tokio::test]
async fn oversized_body_is_refused() {
    let huge = completion(json!("x".repeat(100_000)), "stop");
    let server = serve(vec![
        Canned::json(200, huge.clone()),
        Canned::json(200, huge).chunked(),
    ])
    .await;
    let model = client(&server.url(), policy());
    for _ in 0..2 {
        match model.chat(&tool_request()).await.unwrap_err() {
            LlmError::InvalidResponse(m) => {
                assert!(
                    m.ends_with("sent a response body over the 65536-byte limit"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(server.requests().len(), 2);
}

/// Runs against a local server speaking the OpenAI chat completions wire format: a request
/// over the token budget never reaches the server.
#[tokio::test]
async fn over_budget_requests_are_not_sent() {
    let server = serve(vec![Canned::json(200, completion(json!("x"), "stop"))]).await;
    let mut req = tool_request();
    req.max_tokens = 4096;
    let err = client(&server.url(), policy())
        .chat(&req)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LlmError::BudgetExceeded {
            requested: 4096,
            budget: 1024
        }
    );
    assert!(server.requests().is_empty());
}

/// Runs against a local server speaking the OpenAI chat completions wire format: nothing
/// listening is a `Transport` error naming the endpoint.
#[tokio::test]
async fn connection_refused_is_transport() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = client(
        &format!("http://{addr}"),
        CallPolicy {
            max_attempts: 2,
            ..policy()
        },
    )
    .chat(&tool_request())
    .await
    .unwrap_err();
    match err {
        LlmError::Transport(m) => assert!(
            m.starts_with(&format!(
                "request to openai-compatible endpoint http://{addr}/v1/chat/completions failed"
            )),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
}

/// Runs against a local server speaking the OpenAI chat completions wire format: userinfo
/// and query in the base URL never appear in error messages.
#[tokio::test]
async fn error_messages_omit_url_credentials() {
    let server = serve(vec![Canned::json(500, r#"{"error":"boom"}"#)]).await;
    let base = format!("http://user:hunter2@{}/v1?api-key=hunter2", server.addr);
    let model = OpenAiChat::new(OpenAiConfig {
        base_url: base,
        policy: CallPolicy {
            max_attempts: 1,
            ..policy()
        },
        ..OpenAiConfig::new("", "m")
    })
    .unwrap();
    let err = model.chat(&tool_request()).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("HTTP 500: boom"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let seen = server.requests();
    assert_eq!(seen[0].uri.path(), "/v1/chat/completions");
    assert_eq!(seen[0].uri.query(), Some("api-key=hunter2"));
}

fn judge(base: &str) -> LlmJudge<OpenAiChat> {
    LlmJudge::new(
        client(
            base,
            CallPolicy {
                max_tokens_budget: 300,
                ..policy()
            },
        ),
        300,
        Duration::from_millis(500),
    )
}

fn summary() -> serde_json::Value {
    json!({
        "reported": [{"tool": "lookup_order", "host": "api.internal"}],
        "observed": [{"host": "api.internal", "port": 443}, {"host": "attacker.example", "port": 443}],
        "findings": ["gap.undeclared-host"]
    })
}

/// Runs against a local server speaking the OpenAI chat completions wire format: a valid
/// judge answer (in a ```json fence) becomes an opinion; the request carries the fixed system
/// prompt, the summary as the user message and the configured max_tokens.
#[tokio::test]
async fn judge_parses_a_valid_answer() {
    let answer = "```json\n{\"decision\":\"block\",\"confidence\":0.92,\"reason\":\"The tool reached undeclared host attacker.example.\"}\n```\n";
    let server = serve(vec![Canned::json(200, completion(json!(answer), "stop"))]).await;
    let opinion = judge(&server.url()).judge(&summary()).await.unwrap();
    assert_eq!(opinion.decision, Decision::Block);
    assert_eq!(opinion.confidence, 0.92);
    assert_eq!(
        opinion.reason,
        "The tool reached undeclared host attacker.example."
    );
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let body = seen[0].json();
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][0]["content"], JUDGE_SYSTEM_PROMPT);
    assert_eq!(body["messages"][1]["role"], "user");
    let sent: serde_json::Value =
        serde_json::from_str(body["messages"][1]["content"].as_str().unwrap()).unwrap();
    assert_eq!(sent, summary());
    assert_eq!(body["max_tokens"], 300);
    assert_eq!(body["temperature"], 0.0);
    assert!(body.get("tools").is_none());
}

async fn judge_error_for(answer: &str) -> String {
    let server = serve(vec![Canned::json(200, completion(json!(answer), "stop"))]).await;
    match judge(&server.url()).judge(&summary()).await {
        Err(JudgeError::Malformed(m)) => m,
        other => panic!("{answer:?} gave {other:?}"),
    }
}

/// Runs against a local server speaking the OpenAI chat completions wire format: prose
/// instead of JSON is `Malformed`.
#[tokio::test]
async fn judge_refuses_non_json() {
    let m = judge_error_for("I think this should be blocked because of attacker.example.").await;
    assert!(m.starts_with("not the required JSON object"), "{m}");
}

/// Runs against a local server speaking the OpenAI chat completions wire format: an extra
/// key is `Malformed`.
#[tokio::test]
async fn judge_refuses_an_extra_key() {
    let m = judge_error_for(
        r#"{"decision":"allow","confidence":0.8,"reason":"Matches the trace.","override":"allow all"}"#,
    )
    .await;
    assert!(m.contains("unknown field `override`"), "{m}");
}

/// Runs against a local server speaking the OpenAI chat completions wire format: confidence
/// 1.5 is `Malformed`.
#[tokio::test]
async fn judge_refuses_confidence_out_of_range() {
    let m = judge_error_for(r#"{"decision":"warn","confidence":1.5,"reason":"Unexplained DNS."}"#)
        .await;
    assert_eq!(m, "confidence 1.5 is outside 0..=1");
}

/// Runs against a local server speaking the OpenAI chat completions wire format: an answer
/// cut at max_tokens is `Malformed` and says so.
#[tokio::test]
async fn judge_refuses_a_truncated_answer() {
    let server = serve(vec![Canned::json(
        200,
        completion(json!("{\"decision\":\"block\",\"confid"), "length"),
    )])
    .await;
    let err = judge(&server.url()).judge(&summary()).await.unwrap_err();
    assert_eq!(
        err,
        JudgeError::Malformed("the answer was cut at max_tokens (300)".into())
    );
}

/// Runs against a local server speaking the OpenAI chat completions wire format: a judge
/// whose model hangs is `Unavailable(Timeout)` within its configured timeout.
#[tokio::test]
async fn judge_timeout_is_unavailable() {
    let server = serve(vec![
        Canned::json(200, completion(json!("{}"), "stop")).delayed(Duration::from_secs(30))
    ])
    .await;
    let started = Instant::now();
    let err = judge(&server.url()).judge(&summary()).await.unwrap_err();
    assert!(
        matches!(err, JudgeError::Unavailable(LlmError::Timeout { .. })),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}
