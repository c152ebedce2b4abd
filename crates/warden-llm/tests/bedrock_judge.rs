//! The Bedrock judge built from warden-config's `JudgeConfig`, against a local server speaking
//! Bedrock Converse's REST-JSON wire format. The SDK finds the server through the standard
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` variable and its credentials through the default chain;
//! one test function, so environment changes never race.

#![cfg(feature = "bedrock")]

mod common;

use common::{serve, Canned};
use serde_json::json;
use warden_config::{JudgeConfig, JudgeFailure};
use warden_core::Decision;
use warden_llm::{judge_from_config, JudgeConfigError, JudgeError, LlmError, JUDGE_SYSTEM_PROMPT};

fn bedrock(region: Option<&str>) -> JudgeConfig {
    JudgeConfig::Bedrock {
        model_id: "anthropic.claude-3-5-haiku-20241022-v1:0".into(),
        region: region.map(str::to_string),
        timeout_ms: 3000,
        max_tokens: 256,
        on_failure: JudgeFailure::RulesDecide,
    }
}

/// Runs against a local server speaking Bedrock Converse's REST-JSON wire format.
#[tokio::test]
async fn bedrock_judge_from_config() {
    let answer = |text: &str| {
        json!({
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 900, "outputTokens": 40, "totalTokens": 940},
            "metrics": {"latencyMs": 800}
        })
        .to_string()
    };
    let server = serve(vec![
        Canned::json(
            200,
            answer("{\"decision\":\"block\",\"confidence\":0.95,\"reason\":\"lookup_order reached attacker.example, which it never declared.\"}"),
        ),
        Canned::json(
            200,
            answer("{\"decision\":\"block\",\"confidence\":0.95,\"reason\":\"x\",\"note\":\"extra\"}"),
        ),
        Canned::json(403, r#"{"message":"The security token included in the request is invalid."}"#)
            .header("x-amzn-ErrorType", "UnrecognizedClientException"),
    ])
    .await;

    for var in [
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/warden-llm-test/config");
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/warden-llm-test/credentials",
    );
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDWARDENJUDGE");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "judge-secret");
    std::env::set_var("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.url());

    let err = judge_from_config(&bedrock(None)).await.unwrap_err();
    assert!(
        matches!(&err, JudgeConfigError::Client(LlmError::BadRequest(m)) if m.starts_with("no AWS region")),
        "{err:?}"
    );

    let configured = judge_from_config(&bedrock(Some("ap-southeast-2")))
        .await
        .unwrap()
        .expect("a judge");
    assert_eq!(configured.on_failure, JudgeFailure::RulesDecide);
    assert_eq!(configured.model, "anthropic.claude-3-5-haiku-20241022-v1:0");
    let summary =
        json!({"reported": [{"tool": "lookup_order"}], "observed": [{"host": "attacker.example"}]});

    let opinion = configured.judge.judge(&summary).await.unwrap();
    assert_eq!(opinion.decision, Decision::Block);
    assert_eq!(opinion.confidence, 0.95);

    let err = configured.judge.judge(&summary).await.unwrap_err();
    assert!(
        matches!(&err, JudgeError::Malformed(m) if m.contains("unknown field `note`")),
        "{err:?}"
    );

    let err = configured.judge.judge(&summary).await.unwrap_err();
    assert!(
        matches!(&err, JudgeError::Unavailable(LlmError::Auth(m)) if m.contains("UnrecognizedClientException")),
        "{err:?}"
    );

    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    let auth = seen[0].header("authorization").unwrap();
    assert!(
        auth.contains("Credential=AKIDWARDENJUDGE/")
            && auth.contains("/ap-southeast-2/bedrock/aws4_request"),
        "{auth}"
    );
    let body = seen[0].json();
    assert_eq!(body["system"], json!([{"text": JUDGE_SYSTEM_PROMPT}]));
    assert_eq!(
        body["inferenceConfig"],
        json!({"maxTokens": 256, "temperature": 0.0})
    );
    let sent: serde_json::Value =
        serde_json::from_str(body["messages"][0]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(sent, summary);
    assert!(body.get("toolConfig").is_none());

    // No credentials anywhere in the default chain: `Auth`, and nothing reaches the server.
    std::env::remove_var("AWS_ACCESS_KEY_ID");
    std::env::remove_var("AWS_SECRET_ACCESS_KEY");
    let configured = judge_from_config(&bedrock(Some("ap-southeast-2")))
        .await
        .unwrap()
        .expect("a judge");
    let err = configured.judge.judge(&summary).await.unwrap_err();
    assert!(
        matches!(&err, JudgeError::Unavailable(LlmError::Auth(_))),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 3);
}
