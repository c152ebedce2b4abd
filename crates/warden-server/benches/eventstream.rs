//! AWS event-stream encoding for the Bedrock InvokeAgent route: a typical `trace` event (one
//! TracePart of about 600 bytes) and a `chunk` event, framed with both CRCs.
//!
//! `cargo bench -p warden-server --bench eventstream`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let part = json!({"agentId": "support", "agentAliasId": "TSTALIASID", "agentVersion": "DRAFT",
        "sessionId": "s-1", "eventTime": "2026-11-22T10:00:00Z",
        "trace": {"orchestrationTrace": {"invocationInput": {"traceId": "0190c1f2-7a6b-7c3d-9e8f-0a1b2c3d4e5f-1",
            "invocationType": "ACTION_GROUP", "actionGroupInvocationInput": {"actionGroupName": "orders",
            "apiPath": "/orders/{orderId}", "verb": "GET", "executionType": "LAMBDA",
            "parameters": [{"name": "orderId", "type": "string", "value": "A-1043"}]}}}}});
    let text = "Order A-1043 has shipped, arriving Tuesday. ".repeat(10);
    let mut g = c.benchmark_group("eventstream");
    let trace_len = warden_server::eventstream::event("trace", &part).len();
    g.throughput(Throughput::Bytes(trace_len as u64));
    g.bench_function("trace_event", |b| {
        b.iter(|| warden_server::eventstream::event("trace", &part))
    });
    let chunk_len = warden_server::eventstream::chunk(&text).len();
    g.throughput(Throughput::Bytes(chunk_len as u64));
    g.bench_function("chunk_event", |b| {
        b.iter(|| warden_server::eventstream::chunk(&text))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
