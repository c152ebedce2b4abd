//! Rate limits under concurrency against the real server: admitted requests never exceed the
//! allowance, refusals are 429 with a correct `Retry-After`, tenants are independent.

mod common;

use common::*;
use serde_json::json;
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_clients_never_exceed_the_allowance() {
    // acme: 60/min with burst 5 (1 per second after the burst); others: the defaults.
    let project = Project::new(|t| {
        t.replace(
            "requests_per_minute = 120\nburst = 20",
            "requests_per_minute = 60\nburst = 5",
        )
    });
    let server = std::sync::Arc::new(Server::start(&project));
    let token = project.token("acme", |_| {});
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let server = server.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let (status, headers, body) =
                invoke(&server, Some(&token), json!({"inputText": "hi"})).await;
            (
                status,
                headers
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string()),
                body,
            )
        }));
    }
    let mut admitted = 0;
    let mut refused = 0;
    for t in tasks {
        let (status, retry_after, body) = t.await.unwrap();
        match status {
            200 => admitted += 1,
            429 => {
                refused += 1;
                assert_eq!(error_code(&body), "rate_limited");
                let secs: u64 = retry_after
                    .expect("429 without Retry-After")
                    .parse()
                    .unwrap();
                assert!((1..=60).contains(&secs), "Retry-After {secs}");
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    let elapsed = started.elapsed().as_secs();
    // Burst 5 plus one per elapsed second at most.
    let allowance = 5 + elapsed;
    assert!(admitted >= 5, "burst must be admitted, got {admitted}");
    assert!(
        admitted as u64 <= allowance,
        "admitted {admitted} > allowance {allowance}"
    );
    assert_eq!(admitted + refused, 64);

    // Another tenant has its own allowance.
    let globex = project.token("globex", |_| {});
    assert_eq!(
        invoke(&server, Some(&globex), json!({"inputText": "hi"}))
            .await
            .0,
        200
    );
    // After Retry-After, acme is served again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        invoke(&server, Some(&token), json!({"inputText": "hi"}))
            .await
            .0,
        200
    );
    let metrics = metrics(&server).await;
    assert!(
        metrics.contains(&format!(
            "warden_ratelimit_refusals_total{{limit=\"requests\",tenant=\"acme\"}} {refused}"
        )),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn token_budget_refuses_with_retry_after() {
    // A budget of 30 tokens per minute (0.5 per second): one scripted answer overspends it.
    let project =
        Project::new(|t| t.replace("tokens_per_minute = 200000", "tokens_per_minute = 30"));
    let server = Server::start(&project);
    let token = project.token("initech", |_| {});
    let (status, _, body) = invoke(&server, Some(&token), json!({"inputText": "hi"})).await;
    assert_eq!(status, 200, "{body}");
    let used = body["usage"]["inputTokens"].as_u64().unwrap()
        + body["usage"]["outputTokens"].as_u64().unwrap();
    assert!(
        used > 30,
        "the scripted turn should exceed the budget, used {used}"
    );
    let (status, headers, body) = invoke(&server, Some(&token), json!({"inputText": "hi"})).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("tokens"));
    let secs: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    // A debt of (used - 30) tokens is repaid at 0.5 tokens/s.
    let debt = used - 30;
    assert!(
        secs >= 2 * debt && secs <= 2 * (debt + 1) + 1,
        "Retry-After {secs} for debt {debt}"
    );
}
