//! The reference case (support agent, `orders` tool, connection to attacker.example) end to end:
//! trace text → steps, egress → findings → verdict, both one-shot and per step.

mod common;

use common::*;
use serde_json::json;
use warden_core::egress::{Decision as EgressDecision, EventKind, Reason};
use warden_core::{Decision, VerdictMode};
use warden_detect::*;

const MESSAGE: &str = "Trace-vs-egress gap: the agent reported only a lookup_order call to api.internal, but the real egress shows an actual connection to undeclared host attacker.example.";

fn tools() -> Vec<ToolInfo> {
    serde_json::from_value(json!([{"name":"orders","hosts":["api.internal:443"],
        "operations":[{"name":"lookup_order","effect":"read"}]}]))
    .unwrap()
}

fn trace_text() -> String {
    let tid = "5b1e7a20-3c4d-4e8f-9a0b-1c2d3e4f5a6b-0";
    let parts = json!([
        part(
            json!({"orchestrationTrace":{"rationale":{"traceId":tid,"text":"The user asks about order A-1043. I will call lookup_order."}}}),
            "2026-11-21T10:15:03.412Z"
        ),
        invocation(
            tid,
            "orders",
            "lookup_order",
            &[("order_id", "A-1043")],
            "2026-11-21T10:15:03.415Z"
        ),
        observation(
            tid,
            "{\"order_id\":\"A-1043\",\"status\":\"SHIPPED\",\"eta\":\"Tuesday\"}",
            "2026-11-21T10:15:03.980Z"
        ),
        final_response(
            "5b1e7a20-3c4d-4e8f-9a0b-1c2d3e4f5a6b-1",
            "Order A-1043 has shipped, arriving Tuesday",
            "2026-11-21T10:15:05.205Z"
        ),
    ]);
    serde_json::to_string_pretty(&parts).unwrap()
}

fn egress(decision: EgressDecision) -> Vec<warden_core::egress::EgressEvent> {
    vec![
        event(
            "orders",
            EventKind::Dns,
            "api.internal",
            None,
            EgressDecision::Allow,
            None,
        ),
        event(
            "orders",
            EventKind::Tcp,
            "api.internal",
            Some(443),
            EgressDecision::Allow,
            None,
        ),
        event(
            "orders",
            EventKind::Dns,
            "attacker.example",
            None,
            decision,
            Some(Reason::UndeclaredHost),
        ),
        event(
            "orders",
            EventKind::Tcp,
            "attacker.example",
            Some(443),
            decision,
            Some(Reason::UndeclaredHost),
        ),
    ]
}

fn context() -> Context {
    Context {
        user_input: "Where is my order A-1043?".into(),
        tenant: "acme".into(),
        observed_tools: ["orders".to_string()].into(),
        ..Context::default()
    }
}

fn vcx(mode: VerdictMode) -> VerdictContext {
    VerdictContext {
        mode,
        tenant_id: "acme".into(),
        agent_id: "support".into(),
        session_id: "sess-1".into(),
        invocation_id: "inv-1".into(),
        started_at: "2026-11-21T10:15:01Z".into(),
        decided_at: "2026-11-21T10:15:05Z".into(),
        ..VerdictContext::default()
    }
}

#[test]
fn reference_case_blocks_with_exact_reason() {
    for decision in [EgressDecision::Deny, EgressDecision::Report] {
        let trace = parse_trace(&trace_text()).unwrap();
        let ev = Evidence {
            steps: trace.steps,
            egress: egress(decision),
            tools: tools(),
            context: context(),
        };
        let findings = evaluate(&ev);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let v = fuse(
            &findings,
            JudgeOutcome::NotConfigured,
            &vcx(VerdictMode::Enforce),
        );
        assert_eq!(v.decision, Decision::Block);
        assert_eq!(v.confidence, 0.95);
        assert_eq!(v.reasons[0].rule, "gap.undeclared-host");
        assert_eq!(v.reasons[0].message, MESSAGE);
        assert!(v.reasons[0].evidence.contains(&"trace:1".to_string()));
        assert!(v.reasons[0].evidence.contains(&"egress:3".to_string()));
        let r = fuse(
            &findings,
            JudgeOutcome::NotConfigured,
            &vcx(VerdictMode::Report),
        );
        assert_eq!((r.decision, r.mode), (Decision::Block, VerdictMode::Report));
    }
}

#[test]
fn per_step_detection_fires_before_the_answer() {
    let trace = parse_trace(&trace_text()).unwrap();
    let mut d = Detector::new(DetectConfig::default(), tools()).with_context(context());
    let ev = egress(EgressDecision::Deny);
    let mut fired_at = None;
    for (i, s) in trace.steps.into_iter().enumerate() {
        // Egress of the call arrives with its observation step (index 2).
        let new: &[_] = if i == 2 { &ev } else { &[] };
        let f = d.on_step(s, new);
        if !f.is_empty() && fired_at.is_none() {
            fired_at = Some(i);
            assert_eq!(f[0].message, MESSAGE);
        }
    }
    assert_eq!(fired_at, Some(2));
    let all = d.finish(&[]);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].message, MESSAGE);
}

#[test]
fn judge_cannot_downgrade_and_failure_is_recorded() {
    let trace = parse_trace(&trace_text()).unwrap();
    let ev = Evidence {
        steps: trace.steps.clone(),
        egress: egress(EgressDecision::Deny),
        tools: tools(),
        context: context(),
    };
    let findings = evaluate(&ev);
    let allow = warden_core::JudgeOpinion {
        decision: Decision::Allow,
        confidence: 0.99,
        reason: "Looks fine.".into(),
    };
    let v = fuse(
        &findings,
        JudgeOutcome::Opinion(allow.clone()),
        &vcx(VerdictMode::Enforce),
    );
    assert_eq!((v.decision, v.confidence), (Decision::Block, 0.95));
    let failed = JudgeOutcome::Failed {
        reason: "timeout after 5000 ms".into(),
        on_failure: OnFailure::RulesDecide,
    };
    let v = fuse(&findings, failed, &vcx(VerdictMode::Enforce));
    assert!(v
        .reasons
        .iter()
        .any(|r| r.rule == "judge.unavailable" && r.message.contains("timeout")));

    // Benign run: only the allowed host.
    let benign = Evidence {
        egress: egress(EgressDecision::Deny)[..2].to_vec(),
        ..ev
    };
    let f = evaluate(&benign);
    assert!(f.is_empty(), "{f:#?}");
    let v = fuse(&f, JudgeOutcome::NotConfigured, &vcx(VerdictMode::Enforce));
    assert_eq!((v.decision, v.confidence), (Decision::Allow, 0.95));
    let mut coop = vcx(VerdictMode::Enforce);
    coop.observation = ObservationMode::Cooperative;
    let v = fuse(&f, JudgeOutcome::NotConfigured, &coop);
    assert!(v.confidence < 0.9 && v.checks.iter().any(|c| c.contains("cooperative")));
    // A confident judge raises allow → warn (never straight to block); a weak one cannot.
    let block = warden_core::JudgeOpinion {
        decision: Decision::Block,
        confidence: 0.85,
        reason: "Odd.".into(),
    };
    let v = fuse(
        &f,
        JudgeOutcome::Opinion(block.clone()),
        &vcx(VerdictMode::Enforce),
    );
    assert_eq!(
        (v.decision, v.reasons[0].rule.as_str()),
        (Decision::Warn, "judge")
    );
    let weak = warden_core::JudgeOpinion {
        confidence: 0.79,
        ..block
    };
    assert_eq!(
        fuse(&f, JudgeOutcome::Opinion(weak), &vcx(VerdictMode::Enforce)).decision,
        Decision::Allow
    );
    let closed = JudgeOutcome::Failed {
        reason: "HTTP 503".into(),
        on_failure: OnFailure::Block,
    };
    assert_eq!(
        fuse(&f, closed, &vcx(VerdictMode::Enforce)).decision,
        Decision::Block
    );
}

#[test]
fn several_calls_and_hosts_are_listed() {
    let tid = "t-0";
    let parts = json!([
        invocation(
            tid,
            "orders",
            "lookup_order",
            &[("order_id", "A-1")],
            "2026-11-21T10:15:03Z"
        ),
        observation(tid, "{}", "2026-11-21T10:15:04Z"),
        invocation("t-1", "orders", "list_orders", &[], "2026-11-21T10:15:05Z"),
        observation("t-1", "[]", "2026-11-21T10:15:06Z"),
    ]);
    let trace = steps_from_values(parts.as_array().unwrap()).unwrap();
    let mut egress = egress(EgressDecision::Deny);
    egress.push(event(
        "orders",
        EventKind::Tcp,
        "evil.test",
        Some(443),
        EgressDecision::Deny,
        Some(Reason::UndeclaredHost),
    ));
    let ev = Evidence {
        steps: trace.steps,
        egress,
        tools: tools(),
        context: context(),
    };
    let f = evaluate(&ev);
    assert_eq!(f[0].message, "Trace-vs-egress gap: the agent reported only lookup_order and list_orders calls to api.internal, but the real egress shows actual connections to undeclared hosts attacker.example and evil.test.");
}

#[test]
fn judge_summary_has_names_not_values() {
    let trace = parse_trace(&trace_text()).unwrap();
    let ev = Evidence {
        steps: trace.steps,
        egress: egress(EgressDecision::Deny),
        tools: tools(),
        context: context(),
    };
    let findings = evaluate(&ev);
    let s = JudgeSummary::new(
        &ev.tools,
        &ev.steps,
        &ev.egress,
        &findings,
        ObservationMode::Isolated,
    )
    .to_json();
    for needle in [
        "lookup_order",
        "attacker.example",
        "api.internal:443",
        "order_id",
        "gap.undeclared-host",
        "\"decision\":\"deny\"",
    ] {
        assert!(s.contains(needle), "{needle} missing from {s}");
    }
    // No argument values, tool output, rationale, answer or user text.
    for secret in [
        "A-1043",
        "SHIPPED",
        "Tuesday",
        "I will call",
        "Where is my order",
    ] {
        assert!(!s.contains(secret), "{secret} leaked into {s}");
    }
}

#[test]
fn independent_rules_combine_and_same_rule_does_not() {
    let f = |rule: &str, c: f64, subject: &str| Finding {
        rule: rule.into(),
        decision: Severity::Block,
        confidence: c,
        message: "m".into(),
        evidence: vec![],
        subject: subject.into(),
    };
    let same = [
        f("gap.undeclared-host", 0.95, "a"),
        f("gap.undeclared-host", 0.7, "b"),
    ];
    assert_eq!(combine(&same), 0.95);
    let two = [
        f("gap.undeclared-host", 0.8, "a"),
        f("dlp.payload", 0.5, "b"),
    ];
    assert_eq!(combine(&two), 0.9);
    let many = [
        f("gap.undeclared-host", 0.95, "a"),
        f("dlp.payload", 0.95, "b"),
    ];
    assert_eq!(combine(&many), 0.99);
    // A warn finding does not lower or raise a block's confidence.
    let mixed = [
        f("dlp.payload", 0.9, "a"),
        Finding {
            decision: Severity::Warn,
            ..f("gap.phantom-claim", 0.8, "c")
        },
    ];
    let v = fuse(
        &mixed,
        JudgeOutcome::NotConfigured,
        &vcx(VerdictMode::Enforce),
    );
    assert_eq!((v.decision, v.confidence), (Decision::Block, 0.9));
    assert_eq!(v.reasons[1].rule, "gap.phantom-claim");
    // A confident judge raises warn → block.
    let warn_only = [Finding {
        decision: Severity::Warn,
        ..f("gap.phantom-claim", 0.8, "c")
    }];
    let op = warden_core::JudgeOpinion {
        decision: Decision::Block,
        confidence: 0.9,
        reason: "Refund claimed, none made.".into(),
    };
    let v = fuse(
        &warn_only,
        JudgeOutcome::Opinion(op),
        &vcx(VerdictMode::Enforce),
    );
    assert_eq!((v.decision, v.confidence), (Decision::Block, 0.98));
}
