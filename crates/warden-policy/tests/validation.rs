//! Argument validation through `Catalog::check`: coercion, each schema keyword, strictness,
//! request bodies in both shapes, and error reporting.

mod common;

use common::*;
use serde_json::json;
use warden_policy::{ArgError, Refusal, TenantScopeAction};

fn errors(r: Result<warden_policy::Authorized, Refusal>) -> Vec<ArgError> {
    match r {
        Err(Refusal::InvalidArguments { errors, .. }) => errors,
        other => panic!("expected invalid_arguments, got {other:?}"),
    }
}

fn one(params: &[(&str, &str)]) -> ArgError {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let mut all = vec![("customerId", UUID)];
    all.extend_from_slice(params);
    let errs = errors(c.check(
        &caller("acme"),
        &api("crm", "GET", "/customers/{customerId}", &all),
    ));
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs.into_iter().next().unwrap()
}

#[test]
fn valid_call_passes_with_every_keyword_satisfied() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let call = api(
        "crm",
        "get",
        "/customers/{customerId}",
        &[
            ("customerId", UUID),
            ("email", "a@example.com"),
            ("since", "2026-11-21"),
            ("at", "2026-11-21T10:00:00Z"),
            ("homepage", "https://example.com/x"),
            ("status", "active"),
            ("limit", "100"),
            ("ratio", "0.5"),
            ("verbose", "true"),
            ("tags", "ab,cd"),
            ("code", "abc"),
        ],
    );
    let ok = c.check(&caller("acme"), &call).unwrap();
    assert_eq!(ok.operation, "getCustomer");
    assert_eq!(ok.action, "crm:getCustomer");
    assert_eq!(ok.http_method.as_deref(), Some("GET"));
    assert_eq!(ok.determining_policies, vec!["crm-read".to_string()]);
    assert_eq!(ok.parameters.len(), 11);
    let lp = ok.lambda_parameters();
    assert_eq!(
        lp[6],
        json!({"name": "limit", "type": "integer", "value": "100"})
    );
}

#[test]
fn pattern_enum_and_lengths() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let errs = errors(c.check(
        &caller("acme"),
        &order_call(json!({"amount": 1, "items": [{"sku": "A"}], "shipTo": {"zip": "ABCDE"}})),
    ));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(
        (errs[0].field.as_str(), errs[0].keyword.as_str()),
        ("body.shipTo.zip", "pattern")
    );
    assert_eq!(errs[0].limit.as_deref(), Some("^[0-9]{5}$"));
    assert_eq!(errs[0].value_excerpt.as_deref(), Some("ABCDE"));
    let e = one(&[("status", "deleted")]);
    assert_eq!((e.field.as_str(), e.keyword.as_str()), ("status", "enum"));
    assert_eq!(e.limit.as_deref(), Some(r#"["active","closed"]"#));
    let e = one(&[("code", "ab")]);
    assert_eq!(
        (e.keyword.as_str(), e.limit.as_deref()),
        ("minLength", Some("3"))
    );
    let e = one(&[("code", "abcdef")]);
    assert_eq!(
        (e.keyword.as_str(), e.limit.as_deref()),
        ("maxLength", Some("5"))
    );
    let e = one(&[("tags", "a,bb")]);
    assert_eq!(
        (e.field.as_str(), e.keyword.as_str()),
        ("tags[0]", "minLength")
    );
    let e = one(&[("tags", "aa,bb,cc,dd")]);
    assert_eq!(
        (e.keyword.as_str(), e.limit.as_deref()),
        ("maxItems", Some("3"))
    );
}

#[test]
fn numeric_bounds() {
    let e = one(&[("limit", "0")]);
    assert_eq!(
        (e.keyword.as_str(), e.limit.as_deref()),
        ("minimum", Some("1"))
    );
    let e = one(&[("limit", "101")]);
    assert_eq!(
        (e.keyword.as_str(), e.limit.as_deref()),
        ("maximum", Some("100"))
    );
    // OpenAPI 3.0 `exclusiveMinimum: true` is honoured.
    let e = one(&[("ratio", "0")]);
    assert_eq!(
        (e.keyword.as_str(), e.limit.as_deref()),
        ("exclusiveMinimum", Some("0"))
    );
    let e = one(&[("ratio", "1.5")]);
    assert_eq!(e.keyword, "maximum");
}

#[test]
fn formats() {
    for (p, v, f) in [
        ("customerId", "not-a-uuid", "uuid"),
        ("email", "nobody", "email"),
        ("since", "2026-13-45", "date"),
        ("at", "yesterday", "date-time"),
        ("homepage", "not a uri", "uri"),
    ] {
        let (_d, c) = rich(TenantScopeAction::Reject);
        let mut params = vec![("customerId", UUID)];
        if p == "customerId" {
            params[0].1 = v;
        } else {
            params.push((p, v));
        }
        let errs = errors(c.check(
            &caller("acme"),
            &api("crm", "GET", "/customers/{customerId}", &params),
        ));
        assert_eq!(errs.len(), 1, "{p}: {errs:?}");
        assert_eq!(
            (errs[0].field.as_str(), errs[0].keyword.as_str()),
            (p, "format")
        );
        assert_eq!(errs[0].limit.as_deref(), Some(f));
    }
}

#[test]
fn coercion_failures_name_the_type() {
    let e = one(&[("limit", "ten")]);
    assert_eq!(
        (e.keyword.as_str(), e.limit.as_deref()),
        ("type", Some("integer"))
    );
    let e = one(&[("verbose", "yes")]);
    assert_eq!(
        (e.keyword.as_str(), e.limit.as_deref()),
        ("type", Some("boolean"))
    );
    let e = one(&[("ratio", "NaN")]);
    assert_eq!(
        (e.keyword.as_str(), e.limit.as_deref()),
        ("type", Some("number"))
    );
}

#[test]
fn strict_names_required_and_duplicates_all_reported_at_once() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let call = api(
        "crm",
        "GET",
        "/customers/{customerId}",
        &[
            ("limit", "5"),
            ("limit", "6"),
            ("bogus", "1"),
            ("status", "zzz"),
            ("code", "a"),
        ],
    );
    let errs = errors(c.check(&caller("acme"), &call));
    let got: Vec<(&str, &str)> = errs
        .iter()
        .map(|e| (e.field.as_str(), e.keyword.as_str()))
        .collect();
    assert!(got.contains(&("limit", "duplicate")), "{got:?}");
    assert!(got.contains(&("bogus", "unknown")), "{got:?}");
    assert!(got.contains(&("customerId", "required")), "{got:?}");
    assert!(got.contains(&("status", "enum")), "{got:?}");
    assert!(got.contains(&("code", "minLength")), "{got:?}");
    assert_eq!(got.len(), 5);
}

#[test]
fn values_are_never_echoed_beyond_64_chars() {
    let long = format!("{}SECRET-TAIL", "x".repeat(200));
    let e = one(&[("code", &long)]);
    let excerpt = e.value_excerpt.clone().unwrap();
    assert!(excerpt.chars().count() <= 65, "{excerpt}");
    assert!(!e.to_string().contains("SECRET-TAIL"));
    let (_d, c) = rich(TenantScopeAction::Reject);
    let r = c.check(
        &caller("acme"),
        &api(
            "crm",
            "GET",
            "/customers/{customerId}",
            &[("customerId", &long)],
        ),
    );
    let msg = r.unwrap_err().to_string();
    assert!(!msg.contains("SECRET-TAIL"), "{msg}");
}

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
fn request_body_as_json_object_and_nested_errors() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let ok = c
        .check(
            &caller("acme"),
            &order_call(
                json!({"amount": "49.99", "items": [{"sku": "A1", "qty": 2}], "rush": "false"}),
            ),
        )
        .unwrap();
    assert_eq!(
        ok.request_body,
        Some(json!({"amount": 49.99, "items": [{"sku": "A1", "qty": 2}], "rush": false}))
    );
    let errs = errors(c.check(
        &caller("acme"),
        &order_call(json!({"amount": 20000, "items": [{"sku": "TOO-LONG-SKU", "qty": 0}], "shipTo": {"city": "x"}, "extra": 1})),
    ));
    let got: Vec<(&str, &str)> = errs
        .iter()
        .map(|e| (e.field.as_str(), e.keyword.as_str()))
        .collect();
    for want in [
        ("body.amount", "maximum"),
        ("body.items[0].sku", "maxLength"),
        ("body.items[0].qty", "minimum"),
        ("body.shipTo.zip", "required"),
        ("body.extra", "unknown"),
    ] {
        assert!(got.contains(&want), "missing {want:?} in {got:?}");
    }
    assert_eq!(got.len(), 5, "{got:?}");
    // Missing required properties and a missing required body.
    let errs = errors(c.check(&caller("acme"), &order_call(json!({"rush": true}))));
    let got: Vec<(&str, &str)> = errs
        .iter()
        .map(|e| (e.field.as_str(), e.keyword.as_str()))
        .collect();
    assert!(
        got.contains(&("body.items", "required")) && got.contains(&("body.amount", "required")),
        "{got:?}"
    );
    let mut no_body = order_call(json!(null));
    no_body.request_body = None;
    let errs = errors(c.check(&caller("acme"), &no_body));
    assert_eq!(
        (errs[0].field.as_str(), errs[0].keyword.as_str()),
        ("body", "required")
    );
}

#[test]
fn request_body_in_bedrock_shape_is_coerced() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let body = json!({"content": {"application/json": {"properties": [
        {"name": "amount", "type": "number", "value": "49.99"},
        {"name": "items", "type": "array", "value": "[{\"sku\":\"A1\",\"qty\":1}]"},
        {"name": "note", "type": "string", "value": "leave at door"}
    ]}}});
    let ok = c.check(&caller("acme"), &order_call(body)).unwrap();
    assert_eq!(ok.request_body.as_ref().unwrap()["amount"], json!(49.99));
    assert_eq!(
        ok.request_body.as_ref().unwrap()["items"][0]["qty"],
        json!(1)
    );
    let lb = ok.lambda_request_body().unwrap();
    let props = lb["content"]["application/json"]["properties"]
        .as_array()
        .unwrap();
    assert!(
        props.contains(&json!({"name": "amount", "type": "number", "value": "49.99"})),
        "{props:?}"
    );
    // Duplicates in the Bedrock list are refused.
    let dup = json!({"content": {"application/json": {"properties": [
        {"name": "amount", "type": "number", "value": "1"},
        {"name": "amount", "type": "number", "value": "2"},
        {"name": "items", "type": "array", "value": "[{\"sku\":\"A\"}]"}
    ]}}});
    let errs = errors(c.check(&caller("acme"), &order_call(dup)));
    assert_eq!(
        (errs[0].field.as_str(), errs[0].keyword.as_str()),
        ("body.amount", "duplicate")
    );
}

#[test]
fn body_on_an_operation_without_one_is_refused() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let mut call = api(
        "crm",
        "GET",
        "/customers/{customerId}",
        &[("customerId", UUID)],
    );
    call.request_body = Some(json!({"x": 1}));
    let errs = errors(c.check(&caller("acme"), &call));
    assert_eq!(
        (errs[0].field.as_str(), errs[0].keyword.as_str()),
        ("body", "unknown")
    );
}

#[test]
fn function_parameters_are_coerced_and_strict() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let errs = errors(c.check(
        &caller("acme"),
        &func("fx", "lookup", &[("qty", "many"), ("nope", "1")]),
    ));
    let got: Vec<(&str, &str)> = errs
        .iter()
        .map(|e| (e.field.as_str(), e.keyword.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("qty", "type"),
            ("nope", "unknown"),
            ("order_id", "required")
        ]
    );
    let ok = c
        .check(
            &caller("acme"),
            &func("fx", "lookup", &[("order_id", "A-1"), ("flags", "a,b")]),
        )
        .unwrap();
    assert_eq!(ok.function.as_deref(), Some("lookup"));
}

#[test]
fn unknown_tool_and_operation_are_distinct() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let r = c
        .check(&caller("acme"), &api("nope", "GET", "/x", &[]))
        .unwrap_err();
    assert_eq!(r.code(), "unknown_tool");
    let r = c
        .check(
            &caller("acme"),
            &api("crm", "DELETE", "/customers/{customerId}", &[]),
        )
        .unwrap_err();
    assert_eq!(r.code(), "unknown_operation");
    assert!(
        r.to_string().contains("DELETE /customers/{customerId}"),
        "{r}"
    );
    let r = c
        .check(&caller("acme"), &api("crm", "GET", "/customers/123", &[]))
        .unwrap_err();
    assert_eq!(r.code(), "unknown_operation");
    let r = c
        .check(&caller("acme"), &func("fx", "refund", &[]))
        .unwrap_err();
    assert_eq!(r.code(), "unknown_operation");
    let r = c
        .check(&caller("acme"), &func("crm", "getCustomer", &[]))
        .unwrap_err();
    assert_eq!(r.code(), "unknown_operation");
}
