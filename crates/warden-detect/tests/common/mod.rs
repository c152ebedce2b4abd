//! Builders for realistic trace parts and egress events, shared by the integration tests.
#![allow(dead_code)]

use serde_json::{json, Value};
use warden_core::egress::{Decision, EgressEvent, EventKind, Observation, Reason};

pub fn part(trace: Value, t: &str) -> Value {
    json!({"agentId":"SUPPAGT001","agentAliasId":"TSTALIASID","sessionId":"sess-1","agentVersion":"DRAFT",
           "eventTime": t, "trace": trace})
}

pub fn invocation(
    tid: &str,
    group: &str,
    function: &str,
    params: &[(&str, &str)],
    t: &str,
) -> Value {
    let params: Vec<Value> = params
        .iter()
        .map(|(n, v)| json!({"name":n,"type":"string","value":v}))
        .collect();
    part(
        json!({"orchestrationTrace":{"invocationInput":{"traceId":tid,"invocationType":"ACTION_GROUP",
        "actionGroupInvocationInput":{"actionGroupName":group,"function":function,"executionType":"LAMBDA","parameters":params}}}}),
        t,
    )
}

pub fn observation(tid: &str, text: &str, t: &str) -> Value {
    part(
        json!({"orchestrationTrace":{"observation":{"traceId":tid,"type":"ACTION_GROUP",
        "actionGroupInvocationOutput":{"text":text}}}}),
        t,
    )
}

pub fn final_response(tid: &str, text: &str, t: &str) -> Value {
    part(
        json!({"orchestrationTrace":{"observation":{"traceId":tid,"type":"FINISH",
        "finalResponse":{"text":text}}}}),
        t,
    )
}

pub fn event(
    tool: &str,
    kind: EventKind,
    name: &str,
    port: Option<u16>,
    decision: Decision,
    reason: Option<Reason>,
) -> EgressEvent {
    EgressEvent {
        time: "2026-11-21T10:15:03.500Z".into(),
        invocation_id: Some("inv-1".into()),
        tool: Some(tool.into()),
        tenant: Some("acme".into()),
        kind,
        source: "10.200.1.2:40112".into(),
        name: Some(name.into()),
        address: Some("203.0.113.9".into()),
        port,
        protocol: Some(if kind == EventKind::Dns {
            "A".into()
        } else {
            "tls".into()
        }),
        sni: (kind == EventKind::Tcp).then(|| name.to_string()),
        http_host: None,
        http_method: None,
        http_path: None,
        bytes_sent: if decision == Decision::Deny { 0 } else { 517 },
        bytes_received: if decision == Decision::Deny { 0 } else { 4096 },
        decision,
        reason,
        observation: Observation::Isolated,
        findings: Vec::new(),
    }
}
