//! Detector benchmarks: one `on_step` (rule evaluation per step) on a short and a long trace,
//! whole-trace evaluation (one-shot), and trace parsing.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::{json, Value};
use warden_core::egress::{Decision, EgressEvent, EventKind, Observation, Reason};
use warden_detect::*;

fn part(trace: Value, sec: usize) -> Value {
    json!({"agentId":"SUPPAGT001","agentAliasId":"TSTALIASID","sessionId":"s","agentVersion":"DRAFT",
           "eventTime": format!("2026-11-21T10:{:02}:{:02}Z", sec / 60, sec % 60), "trace": trace})
}

fn event(
    tool: &str,
    kind: EventKind,
    name: &str,
    inv: &str,
    sec: usize,
    decision: Decision,
    reason: Option<Reason>,
) -> EgressEvent {
    EgressEvent {
        time: format!("2026-11-21T10:{:02}:{:02}Z", sec / 60, sec % 60),
        invocation_id: Some(inv.into()),
        tool: Some(tool.into()),
        tenant: Some("acme".into()),
        kind,
        source: "10.200.1.2:40000".into(),
        name: Some(name.into()),
        address: Some("198.18.0.7".into()),
        port: (kind != EventKind::Dns).then_some(443),
        protocol: Some("tls".into()),
        sni: Some(name.into()),
        http_host: None,
        http_method: None,
        http_path: None,
        bytes_sent: 512,
        bytes_received: 4096,
        decision,
        reason,
        observation: Observation::Isolated,
        findings: Vec::new(),
    }
}

/// A trace of `calls` tool calls (rationale, invocation, observation each) plus a final answer,
/// with two egress events per call; the last call also reaches attacker.example.
fn build(calls: usize) -> (Vec<Step>, Vec<Vec<EgressEvent>>, Vec<ToolInfo>) {
    let tools: Vec<ToolInfo> = serde_json::from_value(json!([
        {"name":"orders","hosts":["api.internal:443"],"operations":[{"name":"lookup_order","effect":"read"}]},
        {"name":"mailer","hosts":["mail-relay.internal:443"],"operations":[{"name":"send_email","effect":"write"}]}
    ]))
    .unwrap();
    let mut parts = Vec::new();
    let mut egress = Vec::new();
    let mut sec = 0;
    for c in 0..calls {
        let tid = format!("5b1e7a20-3c4d-4e8f-9a0b-1c2d3e4f5a6b-{c}");
        let (tool, op, host) = if c % 3 == 2 {
            ("mailer", "send_email", "mail-relay.internal")
        } else {
            ("orders", "lookup_order", "api.internal")
        };
        parts.push(part(json!({"orchestrationTrace":{"rationale":{"traceId":tid,"text":"I will look the order up and tell the customer."}}}), sec));
        egress.push(Vec::new());
        sec += 1;
        parts.push(part(json!({"orchestrationTrace":{"invocationInput":{"traceId":tid,"invocationType":"ACTION_GROUP",
            "actionGroupInvocationInput":{"actionGroupName":tool,"function":op,"executionType":"LAMBDA",
            "parameters":[{"name":"order_id","type":"string","value":format!("A-{c:04}")},{"name":"to","type":"string","value":"jane@acme.example"}]}}}}), sec));
        egress.push(Vec::new());
        sec += 1;
        parts.push(part(json!({"orchestrationTrace":{"observation":{"traceId":tid,"type":"ACTION_GROUP",
            "actionGroupInvocationOutput":{"text":format!("{{\"order_id\":\"A-{c:04}\",\"status\":\"SHIPPED\",\"note\":\"Leave at the front desk; see https://track.example/{c}\"}}")}}}}), sec));
        let inv = format!("inv-{c}");
        let mut evs = vec![
            event(tool, EventKind::Dns, host, &inv, sec, Decision::Allow, None),
            event(tool, EventKind::Tcp, host, &inv, sec, Decision::Allow, None),
        ];
        if c + 1 == calls {
            evs.push(event(
                tool,
                EventKind::Tcp,
                "attacker.example",
                &inv,
                sec,
                Decision::Deny,
                Some(Reason::UndeclaredHost),
            ));
        }
        egress.push(evs);
        sec += 1;
    }
    parts.push(part(json!({"orchestrationTrace":{"observation":{"traceId":"f","type":"FINISH","finalResponse":{"text":"I have emailed you the status of your orders."}}}}), sec));
    egress.push(Vec::new());
    let steps = steps_from_values(&parts).unwrap().steps;
    (steps, egress, tools)
}

fn ctx() -> Context {
    Context {
        user_input: "Where are my orders? Email me the status.".into(),
        tenant: "acme".into(),
        ..Context::default()
    }
}

fn bench(c: &mut Criterion) {
    for calls in [1usize, 10, 30] {
        let (steps, egress, tools) = build(calls);
        // Detector with everything but the last observation (and its egress) already seen.
        let last = steps.len() - 2;
        let mut warm = Detector::new(DetectConfig::default(), tools.clone()).with_context(ctx());
        for i in 0..last {
            warm.on_step(steps[i].clone(), &egress[i]);
        }
        c.bench_function(&format!("on_step/last_observation/{calls}_calls"), |b| {
            // The detector and the step are cloned (and later dropped) outside the timing.
            b.iter_batched_ref(
                || (warm.clone(), Some(steps[last].clone())),
                |(d, step)| {
                    black_box(d.on_step(
                        step.take().unwrap_or_else(|| {
                            Step::new(StepKind::FinalResponse {
                                text: String::new(),
                            })
                        }),
                        &egress[last],
                    ))
                },
                BatchSize::SmallInput,
            )
        });
        let ev = Evidence {
            steps: steps.clone(),
            egress: egress.iter().flatten().cloned().collect(),
            tools: tools.clone(),
            context: ctx(),
        };
        c.bench_function(&format!("evaluate/whole_trace/{calls}_calls"), |b| {
            b.iter(|| black_box(evaluate(&ev)))
        });
    }
    let out = "{\"order_id\":\"A-0007\",\"status\":\"SHIPPED\",\"note\":\"Leave at the front desk; see https://track.example/7\"}";
    c.bench_function("text/markers/observation", |b| {
        b.iter(|| black_box(text::markers(black_box(out))))
    });
    let answer =
        "Order A-1043 has shipped, arriving Tuesday. I have emailed you the tracking link.";
    c.bench_function("text/claims/final_answer", |b| {
        b.iter(|| black_box(text::claims(black_box(answer))))
    });
    let (steps, _, _) = build(10);
    let text = serde_json::to_string(&steps_to_parts(&steps)).unwrap();
    c.bench_function("parse_trace/10_calls", |b| {
        b.iter(|| black_box(parse_trace(&text).unwrap()))
    });
}

/// Re-serialise steps' source parts for the parse benchmark (one rationale part per step).
fn steps_to_parts(steps: &[Step]) -> Vec<Value> {
    let mut parts = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let member = match &s.kind {
            StepKind::Invocation(inv) => {
                json!({"invocationInput":{"traceId":s.trace_id,"invocationType":"ACTION_GROUP",
                "actionGroupInvocationInput":{"actionGroupName":inv.action_group,"function":inv.function,"executionType":"LAMBDA",
                "parameters": inv.parameters.iter().map(|(k, v)| json!({"name":k,"type":"string","value":v})).collect::<Vec<_>>()}}})
            }
            StepKind::Observation { output, .. } => {
                json!({"observation":{"traceId":s.trace_id,"type":"ACTION_GROUP","actionGroupInvocationOutput":{"text":output}}})
            }
            StepKind::Rationale { text } => json!({"rationale":{"traceId":s.trace_id,"text":text}}),
            StepKind::FinalResponse { text } => {
                json!({"observation":{"traceId":s.trace_id,"type":"FINISH","finalResponse":{"text":text}}})
            }
            _ => continue,
        };
        parts.push(part(json!({"orchestrationTrace": member}), i));
    }
    parts
}

criterion_group!(benches, bench);
criterion_main!(benches);
