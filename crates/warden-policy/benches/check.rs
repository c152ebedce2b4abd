//! `Catalog::check` for the starter project's `orders:lookup_order` call: resolution, string
//! coercion and JSON-schema validation, tenant scope and the Cedar decision.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use warden_config::{Execution, TenantScopeAction, ToolConfig, ToolSchema};
use warden_policy::{CallRequest, Caller, Catalog};

fn starter_catalog() -> Catalog {
    let starter = Path::new(env!("CARGO_MANIFEST_DIR")).join("../warden-cli/templates/starter");
    let tool = ToolConfig {
        name: "orders".into(),
        description: None,
        schema: ToolSchema::OpenApi(starter.join("tools/orders/openapi.json")),
        handler: vec![],
        workdir: PathBuf::from("."),
        egress: vec![],
        secrets: vec![],
        timeout_ms: 5000,
        effects: Some(warden_config::Effects::Read),
        execution: Execution::Sandbox,
        tenant_scope: TenantScopeAction::Reject,
        memory_mb: 256,
        cpu_percent: 100,
        pids_max: 64,
    };
    let tools = BTreeMap::from([("orders".to_string(), tool)]);
    Catalog::load(&tools, &starter.join("policies")).expect("starter catalog loads")
}

fn bench(c: &mut Criterion) {
    let catalog = starter_catalog();
    let caller = Caller {
        tenant: "acme".into(),
        subject: "user-42".into(),
        claims: BTreeMap::from([("role".to_string(), serde_json::json!("agent"))]),
    };
    let call = CallRequest {
        tool: "orders".into(),
        api_path: Some("/orders/{orderId}".into()),
        http_method: Some("GET".into()),
        function: None,
        parameters: vec![("orderId".into(), "A-1043".into())],
        request_body: None,
    };
    assert!(catalog.check(&caller, &call).is_ok());
    c.bench_function("check/starter_lookup_order", |b| {
        b.iter(|| black_box(catalog.check(black_box(&caller), black_box(&call))))
    });
    let bad = CallRequest {
        parameters: vec![("orderId".into(), "not an order id".into())],
        ..call.clone()
    };
    c.bench_function("check/starter_invalid_argument", |b| {
        b.iter(|| black_box(catalog.check(black_box(&caller), black_box(&bad))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
