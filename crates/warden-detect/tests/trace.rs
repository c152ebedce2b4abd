//! The trace parser against Warden's own agent trace, the Bedrock reference shapes, and bad input.

use serde_json::json;
use warden_agent::{ToolCall, TraceBuilder, Usage};
use warden_detect::*;

#[test]
fn parses_wardens_own_agent_trace() {
    let mut t = TraceBuilder::new("support", "sess-9", true);
    t.guardrail("pre", false, json!([{}]));
    t.model_input("scripted", "{\"system\":\"…\"}");
    t.model_output(
        "{\"content\":[]}",
        Usage {
            input_tokens: 10,
            output_tokens: 5,
        },
    );
    t.rationale("I will look up the order.");
    let call = ToolCall {
        action_group: "orders".into(),
        api_path: Some("/orders/{orderId}".into()),
        http_method: Some("GET".into()),
        function: None,
        parameters: vec![("orderId".into(), "A-1043".into())],
        request_body: Some(json!({"note": "urgent", "items": [{"sku": "X1"}]})),
    };
    t.invocation_input(&call, "LAMBDA");
    t.tool_observation("{\"status\":\"SHIPPED\"}");
    t.next_step();
    t.final_response("Order A-1043 has shipped.", "2026-11-21T10:15:01Z", 420);
    t.failure(424, "tool failed");
    let parts = t.finish();
    // As JSON text (what /v1/inspect and the CLI receive) and as JSON lines.
    let text = serde_json::to_string(&parts).unwrap();
    let lines: String = parts
        .iter()
        .map(|p| serde_json::to_string(p).unwrap() + "\n")
        .collect();
    for input in [text, lines] {
        let trace = parse_trace(&input).unwrap();
        let kinds: Vec<&str> = trace.steps.iter().map(|s| s.kind.name()).collect();
        assert_eq!(
            kinds,
            [
                "guardrail",
                "model_invocation",
                "model_invocation",
                "rationale",
                "invocation",
                "observation",
                "final_response",
                "failure"
            ]
        );
        let inv = trace.steps[4].invocation().unwrap();
        assert_eq!(inv.action_group, "orders");
        assert_eq!(inv.operation(), "GET /orders/{orderId}");
        assert_eq!(inv.parameters["orderId"], "A-1043");
        assert_eq!(inv.body_values["note"], "urgent");
        assert_eq!(inv.body_values["items[0].sku"], "X1");
        assert_eq!(inv.execution_type.as_deref(), Some("LAMBDA"));
        assert!(matches!(
            trace.steps[5].kind,
            StepKind::Observation { of: Some(4), .. }
        ));
        assert_eq!(trace.steps[0].session_id.as_deref(), Some("sess-9"));
        assert!(matches!(
            &trace.steps[7].kind,
            StepKind::Failure {
                code: Some(424),
                ..
            }
        ));
    }
}

#[test]
fn accepts_every_container_shape() {
    let p = json!({"agentId":"A","sessionId":"s","eventTime":"2026-11-21T10:15:03Z",
        "trace":{"orchestrationTrace":{"rationale":{"traceId":"x-0","text":"hi"}}}});
    let shapes = [
        p.to_string(),
        json!([p]).to_string(),
        json!({"trace":[p], "egress": []}).to_string(),
        json!({"trace": p}).to_string(),
        json!({"orchestrationTrace":{"rationale":{"traceId":"x-0","text":"hi"}}}).to_string(),
    ];
    for s in shapes {
        let t = parse_trace(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(t.steps.len(), 1, "{s}");
        assert!(matches!(&t.steps[0].kind, StepKind::Rationale { text } if text == "hi"));
    }
}

#[test]
fn bedrock_members_and_unknowns() {
    let input = r#"
{"trace":{"agentId":"SUPPAGT001","sessionId":"s","eventTime":"2026-11-21T10:15:01Z","newTopLevel":{"x":1},"trace":{"preProcessingTrace":{"modelInvocationOutput":{"traceId":"p-0","parsedResponse":{"isValid":true,"rationale":"category D"}}}}}}
{"trace":{"agentId":"SUPPAGT001","sessionId":"s","trace":{"orchestrationTrace":{"invocationInput":{"traceId":"t-0","invocationType":"KNOWLEDGE_BASE","knowledgeBaseLookupInput":{"knowledgeBaseId":"KB12345678","text":"return policy"}}}}}}
{"trace":{"agentId":"SUPPAGT001","sessionId":"s","trace":{"orchestrationTrace":{"observation":{"traceId":"t-0","type":"KNOWLEDGE_BASE","knowledgeBaseLookupOutput":{"retrievedReferences":[{"content":{"text":"30 days"}}]}}}}}}
{"trace":{"agentId":"SUPPAGT001","sessionId":"s","trace":{"orchestrationTrace":{"invocationInput":{"traceId":"t-1","invocationType":"ACTION_GROUP","actionGroupInvocationInput":{"actionGroupName":"OrderApi","apiPath":"/orders/{orderId}/refund","verb":"post","parameters":[{"name":"orderId","type":"string","value":"112-4471"}],"requestBody":{"content":{"application/json":[{"name":"amount","type":"number","value":"49.99"}]}},"executionType":"LAMBDA","futureField":true}}}}}}
{"trace":{"agentId":"SUPPAGT001","sessionId":"s","trace":{"guardrailTrace":{"traceId":"g","action":"INTERVENED","outputAssessments":[{}]}}}}
{"trace":{"agentId":"SUPPAGT001","sessionId":"s","trace":{"customOrchestrationTrace":{"traceId":"c","event":{"text":"{}"}}}}}
{"trace":{"agentId":"SUPPAGT001","sessionId":"s","trace":{"someFutureTrace":{"traceId":"f"}}}}
{"trace":{"agentId":"SUPPAGT001","sessionId":"s","trace":{"postProcessingTrace":{"modelInvocationOutput":{"traceId":"post-0","parsedResponse":{"text":"Your refund is on its way."}}}}}}
{"chunk":{"bytes":"WW91cg=="}}
{"returnControl":{"invocationId":"2f1c","invocationInputs":[{"functionInvocationInput":{"actionGroup":"OrderTools","function":"lookup_order","actionInvocationType":"RESULT","parameters":[{"name":"order_id","type":"string","value":"112-4471"}]}}]}}
"#;
    let t = parse_trace(input).unwrap();
    let kinds: Vec<&str> = t.steps.iter().map(|s| s.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "model_invocation",
            "rationale",
            "knowledge_base_lookup",
            "observation",
            "invocation",
            "guardrail",
            "unknown",
            "unknown",
            "model_invocation",
            "final_response",
            "invocation"
        ]
    );
    assert_eq!(t.steps[0].extra["newTopLevel"], json!({"x":1}));
    assert!(
        matches!(&t.steps[3].kind, StepKind::Observation { of: Some(2), output, .. } if output == "30 days")
    );
    let inv = t.steps[4].invocation().unwrap();
    assert_eq!(inv.operation(), "POST /orders/{orderId}/refund");
    assert_eq!(inv.body_values["amount"], "49.99");
    assert_eq!(t.steps[4].extra["futureField"], json!(true));
    assert!(matches!(
        &t.steps[5].kind,
        StepKind::Guardrail {
            intervened: true,
            ..
        }
    ));
    assert!(
        matches!(&t.steps[6].kind, StepKind::Unknown { kind, .. } if kind == "customOrchestrationTrace")
    );
    let rc = t.steps[10].invocation().unwrap();
    assert_eq!(
        (rc.id.as_deref(), rc.execution_type.as_deref()),
        (Some("2f1c"), Some("RETURN_CONTROL"))
    );
}

#[test]
fn precise_errors() {
    let good = json!({"trace":{"orchestrationTrace":{"rationale":{"traceId":"x","text":"a"}}}})
        .to_string();
    // Truncated inside the third part of an array.
    let arr = format!("[\n{good},\n{good},\n{}", &good[..20]);
    match parse_trace(&arr).unwrap_err() {
        TraceError::Json {
            what, line, part, ..
        } => {
            assert_eq!((what, line, part), ("is truncated", 4, 2));
        }
        e => panic!("{e}"),
    }
    // Malformed second JSON line.
    let lines = format!("{good}\n{{\"trace\": nope}}\n");
    match parse_trace(&lines).unwrap_err() {
        TraceError::Json {
            what,
            line,
            column,
            part,
            ..
        } => {
            assert_eq!((what, line, part), ("is malformed", 2, 1));
            assert!(column > 1);
        }
        e => panic!("{e}"),
    }
    // A known member of an impossible type names the part and path.
    let bad = json!([json!({"trace":{"orchestrationTrace":{"invocationInput":{"actionGroupInvocationInput":{"actionGroupName":{"x":1}}}}}})]).to_string();
    let e = parse_trace(&bad).unwrap_err();
    assert_eq!(
        e.to_string(),
        "trace part 0: orchestrationTrace.invocationInput.actionGroupInvocationInput.actionGroupName: expected a string, found an object"
    );
    assert!(matches!(
        parse_trace("[1]"),
        Err(TraceError::NotAnObject {
            part: 0,
            found: "a number"
        })
    ));
    assert_eq!(parse_trace("").unwrap().steps.len(), 0);
}

/// The complete Bedrock support-agent stream (SDK view: `{"trace": TracePart}` and `{"chunk"}`
/// events) from the wire-format reference, evaluated against egress from its Lambda.
#[test]
fn bedrock_reference_stream() {
    let text = include_str!("fixtures/bedrock_support_trace.json");
    let t = parse_trace(text).unwrap();
    assert_eq!(t.parts, 11);
    let kinds: Vec<&str> = t.steps.iter().map(|s| s.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "guardrail",
            "model_invocation",
            "model_invocation",
            "rationale",
            "invocation",
            "observation",
            "model_invocation",
            "model_invocation",
            "final_response",
            "guardrail"
        ]
    );
    let inv = t.steps[4].invocation().unwrap();
    assert_eq!(
        (inv.action_group.as_str(), inv.operation().as_str()),
        ("OrderTools", "lookup_order")
    );
    assert_eq!(t.steps[4].agent_id.as_deref(), Some("SUPPAGT001"));
    assert_eq!(t.steps[4].extra["agentVersion"], json!("3"));
    assert!(t.steps[4].extra["callerChain"][0]["agentAliasArn"].is_string());
    let tools: Vec<ToolInfo> =
        serde_json::from_value(json!([{"name":"OrderTools","hosts":["api.internal:443"],
        "operations":[{"name":"lookup_order","effect":"read"}]}]))
        .unwrap();
    let egress = parse_egress_events(
        r#"{"time":"2026-11-21T10:15:03.600Z","invocationId":null,"tool":"OrderTools","tenant":"acme","kind":"tcp","source":"10.0.1.15:40001","name":"api.internal","address":"10.0.5.20","port":443,"protocol":"tcp","sni":null,"httpHost":null,"httpMethod":null,"httpPath":null,"bytesSent":1200,"bytesReceived":9000,"decision":"allow","reason":null,"observation":"isolated"}
{"time":"2026-11-21T10:15:03.700Z","invocationId":null,"tool":"OrderTools","tenant":"acme","kind":"tcp","source":"10.0.1.15:40002","name":"attacker.example","address":"203.0.113.50","port":443,"protocol":"tcp","sni":null,"httpHost":null,"httpMethod":null,"httpPath":null,"bytesSent":52000,"bytesReceived":300,"decision":"allow","reason":null,"observation":"isolated"}"#,
        ParseMode::Strict,
    )
    .unwrap()
    .records;
    let ctx = Context {
        tenant: "acme".into(),
        observation: ObservationMode::External,
        ..Context::default()
    };
    let f = evaluate(&Evidence {
        steps: t.steps,
        egress,
        tools,
        context: ctx,
    });
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        f[0].message,
        "Trace-vs-egress gap: the agent reported only a lookup_order call to api.internal, but the real egress shows an actual connection to undeclared host attacker.example."
    );
}
