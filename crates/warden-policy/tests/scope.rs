//! Tenant scope: parameters and (nested) body fields naming another tenant are rejected or
//! overridden, and every override is recorded.

mod common;

use common::*;
use serde_json::json;
use warden_policy::{Refusal, TenantOverride, TenantScopeAction};

fn order_call(body: serde_json::Value) -> warden_policy::CallRequest {
    let mut call = api(
        "crm",
        "POST",
        "/customers/{customerId}/orders",
        &[("customerId", "c1")],
    );
    call.request_body = Some(body);
    call
}

#[test]
fn own_tenant_passes_untouched() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let ok = c
        .check(
            &caller("acme"),
            &api(
                "crm",
                "GET",
                "/customers/{customerId}",
                &[("customerId", UUID), ("tenantId", "acme")],
            ),
        )
        .unwrap();
    assert!(ok.overrides.is_empty());
}

#[test]
fn reject_mode_refuses_parameter_and_nested_body_fields() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let r = c
        .check(
            &caller("acme"),
            &api(
                "crm",
                "GET",
                "/customers/{customerId}",
                &[("customerId", UUID), ("tenantId", "globex")],
            ),
        )
        .unwrap_err();
    assert_eq!(r.code(), "tenant_mismatch");
    let Refusal::TenantMismatch { mismatches, .. } = &r else {
        panic!()
    };
    assert_eq!(
        mismatches,
        &vec![TenantOverride {
            field: "tenantId".into(),
            claimed: "globex".into(),
            trusted: "acme".into()
        }]
    );
    // A nested body field (by name) and a schema-marked field (`owner`), at once.
    let r = c
        .check(
            &caller("acme"),
            &order_call(json!({"amount": 1, "items": [{"sku": "A"}], "shipTo": {"zip": "12345", "tenant_id": "globex"}, "owner": "initech"})),
        )
        .unwrap_err();
    let Refusal::TenantMismatch { mismatches, .. } = &r else {
        panic!("{r:?}")
    };
    let mut fields: Vec<&str> = mismatches.iter().map(|m| m.field.as_str()).collect();
    fields.sort();
    assert_eq!(fields, vec!["body.owner", "body.shipTo.tenant_id"]);
    assert!(r.to_string().contains("initech"));
}

#[test]
fn override_mode_replaces_and_records() {
    let (_d, c) = rich(TenantScopeAction::Override);
    let ok = c
        .check(
            &caller("acme"),
            &api(
                "crm",
                "GET",
                "/customers/{customerId}",
                &[("customerId", UUID), ("tenantId", "globex")],
            ),
        )
        .unwrap();
    assert_eq!(
        ok.parameters[1],
        ("tenantId".to_string(), "acme".to_string())
    );
    assert_eq!(ok.overrides.len(), 1);
    assert_eq!(ok.overrides[0].claimed, "globex");
    assert_eq!(ok.overrides[0].trusted, "acme");

    let ok = c
        .check(
            &caller("acme"),
            &order_call(json!({"amount": 1, "items": [{"sku": "A"}], "shipTo": {"zip": "12345", "TENANT_ID": "globex"}, "owner": "initech"})),
        )
        .unwrap();
    let body = ok.request_body.unwrap();
    assert_eq!(body["shipTo"]["TENANT_ID"], "acme");
    assert_eq!(body["owner"], "acme");
    assert_eq!(ok.overrides.len(), 2);
}

#[test]
fn function_parameters_named_tenant_are_scoped() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let r = c
        .check(
            &caller("acme"),
            &func("fx", "lookup", &[("order_id", "A-1"), ("tenant", "globex")]),
        )
        .unwrap_err();
    assert_eq!(r.code(), "tenant_mismatch");
    let (_d, c) = rich(TenantScopeAction::Override);
    let ok = c
        .check(
            &caller("acme"),
            &func("fx", "lookup", &[("order_id", "A-1"), ("tenant", "globex")]),
        )
        .unwrap();
    assert_eq!(ok.parameters[1].1, "acme");
}

#[test]
fn override_that_breaks_the_schema_is_invalid_arguments() {
    // A tenant field constrained so the trusted tenant cannot satisfy it.
    let spec = r#"{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{"/x":{"get":{
        "operationId":"x","parameters":[{"name":"tenant","in":"query","schema":{"type":"string","pattern":"^t-[0-9]+$"}}]}}}}"#;
    let dir = project(&[
        ("t.json", spec),
        ("policies/p.cedar", "permit(principal, action, resource);"),
    ]);
    let t = tools(vec![tool(
        "t",
        warden_config::ToolSchema::OpenApi(dir.path().join("t.json")),
        TenantScopeAction::Override,
    )]);
    let c = warden_policy::Catalog::load(&t, &dir.path().join("policies")).unwrap();
    let r = c
        .check(
            &caller("acme"),
            &api("t", "GET", "/x", &[("tenant", "t-1")]),
        )
        .unwrap_err();
    assert_eq!(r.code(), "invalid_arguments");
    assert!(r.to_string().contains("trusted tenant"), "{r}");
}
