//! Egress evidence readers: Warden events (array / JSON lines), VPC Flow Logs, Route 53 Resolver
//! query logs, their conversion and correlation, strict and lenient modes.

use warden_core::egress::{Decision, EventKind, Reason};
use warden_detect::*;

const R53: &str = r#"{"version":"1.100000","account_id":"123456789012","region":"us-east-1","vpc_id":"vpc-0a1b2c3d","query_timestamp":"2026-11-21T10:15:03Z","query_name":"api.internal.","query_type":"A","query_class":"IN","rcode":"NOERROR","answers":[{"Rdata":"10.0.5.20","Type":"A","Class":"IN"}],"srcaddr":"10.0.1.15","srcport":"48211","transport":"UDP","srcids":{"instance":"i-0abc"}}
{"version":"1.100000","account_id":"123456789012","region":"us-east-1","vpc_id":"vpc-0a1b2c3d","query_timestamp":"2026-11-21T10:15:03Z","query_name":"attacker.example.","query_type":"A","query_class":"IN","rcode":"NOERROR","answers":[{"Rdata":"cdn.attacker.example.","Type":"CNAME","Class":"IN"},{"Rdata":"203.0.113.50","Type":"A","Class":"IN"}],"srcaddr":"10.0.1.15","srcport":"48212","transport":"UDP","srcids":{"instance":"i-0abc"}}
"#;

// 2026-11-21T10:15:04Z = 1795256104
const FLOWS: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
2 123456789012 eni-0aaa 10.0.1.15 10.0.5.20 40001 443 6 10 1200 1795256104 1795256110 ACCEPT OK
2 123456789012 eni-0aaa 10.0.5.20 10.0.1.15 443 40001 6 12 9000 1795256104 1795256110 ACCEPT OK
2 123456789012 eni-0aaa 10.0.1.15 203.0.113.50 40002 443 6 40 52000 1795256105 1795256111 ACCEPT OK
2 123456789012 eni-0aaa 10.0.1.15 198.51.100.7 40003 8443 6 3 180 1795256106 1795256111 REJECT OK
2 123456789012 eni-0aaa - - - - - - - 1795256100 1795256160 - NODATA
";

#[test]
fn vpc_and_resolver_logs_become_named_egress() {
    let q = parse_resolver_query_logs(R53, ParseMode::Strict)
        .unwrap()
        .records;
    let f = parse_vpc_flow_logs(FLOWS, ParseMode::Strict)
        .unwrap()
        .records;
    assert_eq!((q.len(), f.len()), (2, 5));
    let mut attr = AwsAttribution::default();
    attr.by_interface.insert(
        "eni-0aaa".into(),
        Attribution {
            tool: Some("orders".into()),
            ..Attribution::default()
        },
    );
    attr.by_instance.insert(
        "i-0abc".into(),
        Attribution {
            tool: Some("orders".into()),
            ..Attribution::default()
        },
    );
    let ev = aws_to_egress(&f, &q, &attr);
    let summary: Vec<(EventKind, Option<&str>, Option<u16>, Decision)> = ev
        .iter()
        .map(|e| (e.kind, e.name.as_deref(), e.port, e.decision))
        .collect();
    assert_eq!(
        summary,
        [
            (EventKind::Dns, Some("api.internal"), None, Decision::Allow),
            (
                EventKind::Dns,
                Some("attacker.example"),
                None,
                Decision::Allow
            ),
            (
                EventKind::Tcp,
                Some("api.internal"),
                Some(443),
                Decision::Allow
            ),
            (
                EventKind::Tcp,
                Some("attacker.example"),
                Some(443),
                Decision::Allow
            ),
            (EventKind::Tcp, None, Some(8443), Decision::Deny),
        ]
    );
    assert_eq!((ev[2].bytes_sent, ev[2].bytes_received), (1200, 9000));
    assert_eq!(ev[3].tool.as_deref(), Some("orders"));
    assert_eq!(ev[4].reason, Some(Reason::BareIp));
    assert_eq!(ev[2].time, "2026-11-21T10:15:04Z");

    // The detector reads them like proxy events.
    let tools: Vec<ToolInfo> = serde_json::from_str(r#"[{"name":"orders","hosts":["api.internal:443"],"operations":[{"name":"lookup_order","effect":"read"}]}]"#).unwrap();
    let trace = parse_trace(r#"{"orchestrationTrace":{"invocationInput":{"traceId":"t","actionGroupInvocationInput":{"actionGroupName":"orders","function":"lookup_order"}}}}"#).unwrap();
    let findings = evaluate(&Evidence {
        steps: trace.steps,
        egress: ev,
        tools,
        context: Context::default(),
    });
    assert_eq!(findings[0].rule, "gap.undeclared-host");
    assert!(
        findings[0]
            .message
            .contains("undeclared hosts attacker.example and 198.51.100.7"),
        "{}",
        findings[0].message
    );
}

#[test]
fn default_format_without_header_and_bad_lines() {
    let no_header = "2 123456789012 eni-1 10.0.1.15 93.184.216.34 40001 443 6 10 1200 1795256104 1795256110 ACCEPT OK\n";
    let p = parse_vpc_flow_logs(no_header, ParseMode::Strict).unwrap();
    assert_eq!(p.records[0].dstport, Some(443));
    let bad = format!("{no_header}2 123456789012 eni-1 10.0.1.15 not-an-ip 40001 443 6 10 1200 1795256104 1795256110 ACCEPT OK\n2 1 2 3\n");
    let e = parse_vpc_flow_logs(&bad, ParseMode::Strict).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (2, "dstaddr"));
    assert!(e.to_string().contains("not-an-ip"), "{e}");
    let lenient = parse_vpc_flow_logs(&bad, ParseMode::Lenient).unwrap();
    assert_eq!(lenient.records.len(), 1);
    assert_eq!(
        lenient
            .warnings
            .iter()
            .map(|w| (w.line, w.field.as_str()))
            .collect::<Vec<_>>(),
        [(2, "dstaddr"), (3, "record")]
    );
    let e = parse_vpc_flow_logs(
        "2 1 eni 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 MAYBE OK\n",
        ParseMode::Strict,
    )
    .unwrap_err();
    assert_eq!(e.field, "action");

    let r53_bad = "{\"query_timestamp\":\"yesterday\",\"query_name\":\"a.\",\"query_type\":\"A\",\"rcode\":\"NOERROR\",\"srcaddr\":\"10.0.0.1\"}\n{\"query_name\":\"a.\"}\n{not json\n";
    let e = parse_resolver_query_logs(r53_bad, ParseMode::Strict).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (1, "query_timestamp"));
    let l = parse_resolver_query_logs(r53_bad, ParseMode::Lenient).unwrap();
    assert_eq!(
        l.warnings
            .iter()
            .map(|w| (w.line, w.field.as_str()))
            .collect::<Vec<_>>(),
        [(1, "query_timestamp"), (2, "query_timestamp"), (3, "json")]
    );
}

#[test]
fn warden_events_as_array_or_lines() {
    let ev = r#"{"time":"2026-11-21T10:15:03Z","invocationId":"inv-1","tool":"orders","tenant":"acme","kind":"tcp","source":"10.200.1.2:40112","name":"attacker.example","address":null,"port":443,"protocol":"tls","sni":"attacker.example","httpHost":null,"httpMethod":null,"httpPath":null,"bytesSent":0,"bytesReceived":0,"decision":"deny","reason":"undeclared_host","observation":"isolated"}"#;
    let arr = format!("[\n  {ev},\n  {ev}\n]");
    assert_eq!(
        parse_egress_events(&arr, ParseMode::Strict)
            .unwrap()
            .records
            .len(),
        2
    );
    let lines = format!("{ev}\n\n{ev}\n");
    assert_eq!(
        parse_egress_events(&lines, ParseMode::Strict)
            .unwrap()
            .records
            .len(),
        2
    );
    let broken = ev.replace("\"kind\":\"tcp\"", "\"kind\":\"smtp\"");
    let lines = format!("{ev}\n{broken}\n");
    let e = parse_egress_events(&lines, ParseMode::Strict).unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
    assert!(e.to_string().contains("smtp"), "{e}");
    let arr = format!("[\n  {ev},\n  {broken}\n]");
    let l = parse_egress_events(&arr, ParseMode::Lenient).unwrap();
    assert_eq!(
        (l.records.len(), l.warnings[0].line, l.warnings[0].record),
        (1, 3, 1)
    );
    let e = parse_egress_events(&format!("[{ev}, {{\"time\""), ParseMode::Strict).unwrap_err();
    assert!(e.to_string().contains("json"), "{e}");
}
