//! `BedrockConverse` against a local server speaking Bedrock Runtime's Converse REST-JSON wire
//! format, with the AWS SDK pointed at it through `endpoint_url` and credentials and region
//! from the SDK's default chain (environment variables set once for this test binary).

#![cfg(feature = "bedrock")]

mod common;

use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{serve, Canned, Recorded};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::{Digest, Sha256};
use warden_llm::{
    BedrockConfig, BedrockConverse, CallPolicy, ChatModel, ChatRequest, ContentBlock, GuardrailRef,
    LlmError, Message, Role, StopReason, ToolSpec, Usage,
};

const ACCESS_KEY: &str = "AKIDWARDENTEST0001";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWARDENTEST";
const REGION: &str = "eu-west-3";
const MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

/// Every test calls this first, before any SDK code runs, so the environment is written once
/// and never while another thread reads it.
fn aws_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for var in [
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_DEFAULT_REGION",
        ] {
            std::env::remove_var(var);
        }
        std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
        std::env::set_var("AWS_REGION", REGION);
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/warden-llm-test/config");
        std::env::set_var(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/warden-llm-test/credentials",
        );
    });
}

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

async fn client(url: &str, guardrail: Option<GuardrailRef>, policy: CallPolicy) -> BedrockConverse {
    aws_env();
    BedrockConverse::new(BedrockConfig {
        model_id: MODEL.into(),
        region: None,
        endpoint_url: Some(url.to_string()),
        guardrail,
        policy,
    })
    .await
    .unwrap()
}

fn conversation() -> ChatRequest {
    ChatRequest {
        system: "You are Acme support.".into(),
        messages: vec![
            Message::user_text("Where is order 112-4471?"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::Text("Let me check that order.".into()),
                    ContentBlock::ToolUse {
                        id: "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q".into(),
                        name: "lookup_order".into(),
                        input: json!({"order_id": "112-4471"}),
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q".into(),
                    content: r#"{"status":"SHIPPED"}"#.into(),
                    is_error: false,
                }],
            },
        ],
        tools: vec![ToolSpec {
            name: "lookup_order".into(),
            description: "Look up an order by id".into(),
            input_schema: json!({"type": "object",
                "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}),
        }],
        max_tokens: 512,
        temperature: Some(0.5),
        cache_prompt: false,
    }
}

fn converse_answer(content: serde_json::Value, stop: &str) -> String {
    json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": 412, "outputTokens": 58, "totalTokens": 470},
        "metrics": {"latencyMs": 1210}
    })
    .to_string()
}

fn throttling() -> Canned {
    Canned::json(
        429,
        r#"{"message":"Too many tokens, please wait before trying again."}"#,
    )
    .header("x-amzn-ErrorType", "ThrottlingException")
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn utc_day(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}{m:02}{d:02}")
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// URI-encodes one path segment the SigV4 way (unreserved characters kept).
fn sigv4_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Recomputes the SigV4 signature of a received request from the test secret and checks the
/// Authorization header against it: scope, signed headers and signature.
fn assert_sigv4(r: &Recorded) {
    let auth = r.header("authorization").expect("Authorization header");
    let amz_date = r.header("x-amz-date").expect("x-amz-date header");
    let day = &amz_date[..8];
    let today = utc_day(SystemTime::now());
    let yesterday = utc_day(SystemTime::now() - Duration::from_secs(120));
    assert!(day == today || day == yesterday, "{amz_date} vs {today}");
    let prefix = format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{day}/{REGION}/bedrock/aws4_request, SignedHeaders=");
    assert!(auth.starts_with(&prefix), "{auth}");
    let rest = &auth[prefix.len()..];
    let (signed, signature) = rest.split_once(", Signature=").expect("signature");
    let names: Vec<&str> = signed.split(';').collect();
    for required in ["content-type", "host", "x-amz-date"] {
        assert!(names.contains(&required), "{required} not signed: {signed}");
    }
    let mut canonical_headers = String::new();
    for name in &names {
        let values: Vec<String> = r
            .headers
            .get_all(*name)
            .iter()
            .map(|v| v.to_str().unwrap().trim().to_string())
            .collect();
        assert!(!values.is_empty(), "signed header {name} not received");
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical_uri: Vec<String> = r.uri.path().split('/').map(sigv4_encode).collect();
    let canonical_request = format!(
        "POST\n{}\n{}\n{canonical_headers}\n{signed}\n{}",
        canonical_uri.join("/"),
        r.uri.query().unwrap_or(""),
        hex::encode(Sha256::digest(&r.body)),
    );
    let scope = format!("{day}/{REGION}/bedrock/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{SECRET_KEY}").as_bytes(), day);
    let k_region = hmac(&k_date, REGION);
    let k_service = hmac(&k_region, "bedrock");
    let k_signing = hmac(&k_service, "aws4_request");
    let expected = hex::encode(hmac(&k_signing, &string_to_sign));
    assert_eq!(
        signature, expected,
        "canonical request:\n{canonical_request}"
    );
}

/// Runs against a local server speaking Bedrock Converse's REST-JSON wire format: the exact
/// request JSON (messages with toolUse/toolResult, system, inferenceConfig, toolConfig,
/// guardrailConfig), the path and a verified SigV4 signature; a tool_use answer is mapped.
#[tokio::test]
async fn converse_request_and_tool_use_answer() {
    let answer = converse_answer(
        json!([
            {"text": "Let me look that up."},
            {"toolUse": {"toolUseId": "tooluse_2", "name": "lookup_order",
                         "input": {"order_id": "112-4471", "verbose": true, "n": 2}}}
        ]),
        "tool_use",
    );
    let server = serve(vec![Canned::json(200, answer.clone())]).await;
    let model = client(
        &server.url(),
        Some(GuardrailRef {
            identifier: "gr4bx9k2m1".into(),
            version: "2".into(),
        }),
        policy(),
    )
    .await;
    assert_eq!(model.model_name(), MODEL);
    let response = model.chat(&conversation()).await.unwrap();

    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(
        response.content,
        vec![
            ContentBlock::Text("Let me look that up.".into()),
            ContentBlock::ToolUse {
                id: "tooluse_2".into(),
                name: "lookup_order".into(),
                input: json!({"order_id": "112-4471", "verbose": true, "n": 2}),
            }
        ]
    );
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 412,
            output_tokens: 58
        }
    );
    assert_eq!(response.raw, answer);

    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.uri.path(),
        "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
    );
    assert_sigv4(r);
    assert_eq!(
        r.json(),
        json!({
            "messages": [
                {"role": "user", "content": [{"text": "Where is order 112-4471?"}]},
                {"role": "assistant", "content": [
                    {"text": "Let me check that order."},
                    {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "lookup_order",
                                 "input": {"order_id": "112-4471"}}}]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                                    "content": [{"text": "{\"status\":\"SHIPPED\"}"}],
                                    "status": "success"}}]},
            ],
            "system": [{"text": "You are Acme support."}],
            "inferenceConfig": {"maxTokens": 512, "temperature": 0.5},
            "toolConfig": {
                "tools": [{"toolSpec": {
                    "name": "lookup_order",
                    "description": "Look up an order by id",
                    "inputSchema": {"json": {"type": "object",
                        "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}}],
                "toolChoice": {"auto": {}}
            },
            "guardrailConfig": {"guardrailIdentifier": "gr4bx9k2m1", "guardrailVersion": "2", "trace": "enabled"}
        })
    );
}

/// Runs against a local server speaking Bedrock Converse's REST-JSON wire format: a plain
/// text turn without tools or guardrail sends neither `toolConfig` nor `guardrailConfig`;
/// stop reasons map (guardrail_intervened, max_tokens, end_turn).
#[tokio::test]
async fn text_turn_and_stop_reasons() {
    let server = serve(vec![
        Canned::json(
            200,
            converse_answer(json!([{"text": "Hello."}]), "end_turn"),
        ),
        Canned::json(
            200,
            converse_answer(json!([{"text": "Sorry, I can't."}]), "guardrail_intervened"),
        ),
        Canned::json(200, converse_answer(json!([{"text": "Hel"}]), "max_tokens")),
        Canned::json(
            200,
            converse_answer(json!([{"text": "?"}]), "model_context_window_exceeded"),
        ),
    ])
    .await;
    let model = client(&server.url(), None, policy()).await;
    let req = ChatRequest {
        system: String::new(),
        messages: vec![Message::user_text("Hi")],
        tools: vec![],
        max_tokens: 16,
        temperature: None,
        cache_prompt: false,
    };
    let expected = [
        StopReason::EndTurn,
        StopReason::GuardrailIntervened,
        StopReason::MaxTokens,
        StopReason::Other("model_context_window_exceeded".into()),
    ];
    for want in expected {
        assert_eq!(model.chat(&req).await.unwrap().stop_reason, want);
    }
    let seen = server.requests();
    assert_eq!(
        seen[0].json(),
        json!({
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "inferenceConfig": {"maxTokens": 16}
        })
    );
    assert_sigv4(&seen[0]);
}

/// Runs against a local server speaking Bedrock Converse's REST-JSON wire format: HTTP 429
/// with `x-amzn-ErrorType: ThrottlingException`, then success.
#[tokio::test]
async fn throttling_then_success() {
    let server = serve(vec![
        throttling(),
        Canned::json(200, converse_answer(json!([{"text": "ok"}]), "end_turn")),
    ])
    .await;
    let response = client(&server.url(), None, policy())
        .await
        .chat(&conversation())
        .await
        .unwrap();
    assert_eq!(response.text(), "ok");
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    // Each attempt is signed afresh.
    assert_sigv4(&seen[1]);
}

/// Runs against a local server speaking Bedrock Converse's REST-JSON wire format: throttling
/// that never ends is `Throttled` with Bedrock's message, after the configured attempts.
#[tokio::test]
async fn persistent_throttling_is_throttled() {
    let server = serve(vec![throttling().header("retry-after", "0")]).await;
    let err = client(&server.url(), None, policy())
        .await
        .chat(&conversation())
        .await
        .unwrap_err();
    match err {
        LlmError::Throttled {
            retry_after,
            message,
            ..
        } => {
            assert_eq!(retry_after, Some(Duration::ZERO));
            assert_eq!(message, "Too many tokens, please wait before trying again.");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 3);
}

/// Runs against a local server speaking Bedrock Converse's REST-JSON wire format: a 500
/// InternalServerException is retried; AccessDenied and Validation are not.
#[tokio::test]
async fn service_errors_map_and_retry_only_when_worth_it() {
    let server = serve(vec![
        Canned::json(500, r#"{"message":"Internal failure"}"#)
            .header("x-amzn-ErrorType", "InternalServerException"),
        Canned::json(200, converse_answer(json!([{"text": "recovered"}]), "end_turn")),
        Canned::json(403, r#"{"message":"You don't have access to the model with the specified model ID."}"#)
            .header("x-amzn-ErrorType", "AccessDeniedException"),
        Canned::json(400, r#"{"message":"The model returned the following errors: messages: roles must alternate"}"#)
            .header("x-amzn-ErrorType", "ValidationException"),
    ])
    .await;
    let model = client(&server.url(), None, policy()).await;
    assert_eq!(
        model.chat(&conversation()).await.unwrap().text(),
        "recovered"
    );
    let err = model.chat(&conversation()).await.unwrap_err();
    match &err {
        LlmError::Auth(m) => assert!(
            m.ends_with("answered HTTP 403 AccessDeniedException: You don't have access to the model with the specified model ID."),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains(SECRET_KEY));
    let err = model.chat(&conversation()).await.unwrap_err();
    assert!(
        matches!(&err, LlmError::BadRequest(m) if m.contains("HTTP 400 ValidationException: The model returned")),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 4);
}

/// Runs against a local server speaking Bedrock Converse's REST-JSON wire format: a body
/// over the size cap is refused, whether or not it declares its length.
#[tokio::test]
async fn oversized_body_is_refused() {
    let big = converse_answer(json!([{"text": "x".repeat(100_000)}]), "end_turn");
    let server = serve(vec![
        Canned::json(200, big.clone()),
        Canned::json(200, big).chunked(),
    ])
    .await;
    let model = client(&server.url(), None, policy()).await;
    for _ in 0..2 {
        let err = model.chat(&conversation()).await.unwrap_err();
        assert_eq!(
            err,
            LlmError::InvalidResponse(format!(
                "bedrock runtime ({REGION}) sent a response body over the 65536-byte limit"
            ))
        );
    }
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
}

/// Runs against a local server speaking Bedrock Converse's REST-JSON wire format: a server
/// that never answers ends in `Timeout` at the call's deadline.
#[tokio::test]
async fn hang_is_timeout() {
    let server = serve(vec![Canned::json(
        200,
        converse_answer(json!([{"text": "late"}]), "end_turn"),
    )
    .delayed(Duration::from_secs(30))])
    .await;
    let started = std::time::Instant::now();
    let err = client(
        &server.url(),
        None,
        CallPolicy {
            timeout: Duration::from_millis(400),
            ..policy()
        },
    )
    .await
    .chat(&conversation())
    .await
    .unwrap_err();
    assert!(
        matches!(err, LlmError::Timeout { after, .. } if after == Duration::from_millis(400)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Runs against a local server speaking Bedrock Converse's REST-JSON wire format: a
/// malformed body is `InvalidResponse`, and a request over the token budget is never sent.
#[tokio::test]
async fn malformed_body_and_budget() {
    let server = serve(vec![Canned::json(200, r#"{"output": {"message": "#)]).await;
    let model = client(&server.url(), None, policy()).await;
    let err = model.chat(&conversation()).await.unwrap_err();
    assert!(
        matches!(&err, LlmError::InvalidResponse(m) if m.contains("answered HTTP 200 with a body that is not a Converse response")),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
    let mut req = conversation();
    req.max_tokens = 2048;
    assert_eq!(
        model.chat(&req).await.unwrap_err(),
        LlmError::BudgetExceeded {
            requested: 2048,
            budget: 1024
        }
    );
    assert_eq!(server.requests().len(), 1);
}

/// Against a local server speaking Converse's wire format (not AWS): with `cache_prompt` the
/// request carries cache points after the system prompt and after the tool definitions, and
/// nothing else changes.
#[tokio::test]
async fn prompt_caching_hints_become_cache_points() {
    let answer = converse_answer(json!([{"text": "Hello."}]), "end_turn");
    let server = serve(vec![
        Canned::json(200, answer.clone()),
        Canned::json(200, answer),
    ])
    .await;
    let model = client(&server.url(), None, policy()).await;
    let plain = conversation();
    let mut cached = conversation();
    cached.cache_prompt = true;
    model.chat(&plain).await.unwrap();
    model.chat(&cached).await.unwrap();
    let seen = server.requests();
    let (a, b) = (seen[0].json(), seen[1].json());
    assert_eq!(
        b["system"],
        json!([{"text": "You are Acme support."}, {"cachePoint": {"type": "default"}}])
    );
    let tools = b["toolConfig"]["tools"].as_array().unwrap();
    assert_eq!(
        tools.last().unwrap(),
        &json!({"cachePoint": {"type": "default"}})
    );
    assert_eq!(tools.len(), 2);
    assert_eq!(a["system"], json!([{"text": "You are Acme support."}]));
    assert_eq!(a["toolConfig"]["tools"].as_array().unwrap().len(), 1);
    assert_eq!(a["messages"], b["messages"]);
}
