//! `judge_from_config`: building the judge from warden-config's `JudgeConfig`, including the
//! API key read from the environment, against a local server speaking the OpenAI chat
//! completions wire format. One test function, so environment changes never race.

mod common;

use common::{serve, Canned};
use serde_json::json;
use warden_config::{JudgeConfig, JudgeFailure};
use warden_core::Decision;
use warden_llm::{judge_from_config, JudgeConfigError};

fn openai(base_url: String, api_key_env: Option<&str>) -> JudgeConfig {
    JudgeConfig::OpenAi {
        base_url,
        model: "llama3.1:8b".into(),
        api_key_env: api_key_env.map(str::to_string),
        timeout_ms: 2000,
        max_tokens: 200,
        on_failure: JudgeFailure::Warn,
    }
}

/// Runs against a local server speaking the OpenAI chat completions wire format.
#[tokio::test]
async fn judge_from_config_reads_the_key_and_calls_the_endpoint() {
    assert!(judge_from_config(&JudgeConfig::None)
        .await
        .unwrap()
        .is_none());

    let answer = json!({"choices": [{"message": {"role": "assistant",
        "content": "{\"decision\":\"allow\",\"confidence\":0.7,\"reason\":\"Egress matches the reported lookup_order call.\"}"},
        "finish_reason": "stop"}]});
    let server = serve(vec![Canned::json(200, answer.to_string())]).await;

    let var = "WARDEN_LLM_TEST_JUDGE_KEY";
    std::env::remove_var(var);
    let err = judge_from_config(&openai(format!("{}/v1", server.url()), Some(var)))
        .await
        .unwrap_err();
    assert_eq!(err, JudgeConfigError::MissingApiKey { var: var.into() });
    assert_eq!(
        err.to_string(),
        "judge.api_key_env names WARDEN_LLM_TEST_JUDGE_KEY, which is not set in Warden's environment"
    );

    std::env::set_var(var, "  ");
    let err = judge_from_config(&openai(format!("{}/v1", server.url()), Some(var)))
        .await
        .unwrap_err();
    assert_eq!(err, JudgeConfigError::EmptyApiKey { var: var.into() });

    std::env::set_var(var, "sk-judge-1234");
    let configured = judge_from_config(&openai(format!("{}/v1", server.url()), Some(var)))
        .await
        .unwrap()
        .expect("a judge");
    std::env::remove_var(var);
    assert_eq!(configured.on_failure, JudgeFailure::Warn);
    assert_eq!(configured.model, "llama3.1:8b");
    assert!(!format!("{configured:?}").contains("sk-judge-1234"));
    let opinion = configured
        .judge
        .judge(&json!({"reported": [], "observed": []}))
        .await
        .unwrap();
    assert_eq!(opinion.decision, Decision::Allow);
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("authorization").as_deref(),
        Some("Bearer sk-judge-1234")
    );
    assert_eq!(seen[0].json()["max_tokens"], 200);
    assert_eq!(seen[0].json()["model"], "llama3.1:8b");

    let err = judge_from_config(&openai("not a url".into(), None))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("judge: bad request: base_url \"not a url\" is not a URL"),
        "{err}"
    );

    #[cfg(not(feature = "bedrock"))]
    {
        let err = judge_from_config(&JudgeConfig::Bedrock {
            model_id: "anthropic.claude-3-5-haiku-20241022-v1:0".into(),
            region: Some("us-east-1".into()),
            timeout_ms: 1000,
            max_tokens: 200,
            on_failure: JudgeFailure::RulesDecide,
        })
        .await
        .unwrap_err();
        assert_eq!(err, JudgeConfigError::BedrockNotBuilt);
    }
}
