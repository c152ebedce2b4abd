//! Cedar: schema generation, policy loading and strict validation errors, decisions.

mod common;

use common::*;
use serde_json::json;
use warden_config::{Effects, ToolSchema};
use warden_policy::{Catalog, LoadError, Refusal, TenantScopeAction};

fn load_with(policies: &str) -> Result<Catalog, warden_policy::LoadErrors> {
    let dir = project(&[
        ("tools/crm.yaml", CRM_YAML),
        ("tools/fx.json", FX_JSON),
        ("policies/a.cedar", policies),
    ]);
    load(dir.path(), TenantScopeAction::Reject)
}

fn policy_errors(policies: &str) -> Vec<warden_policy::PolicyError> {
    let errs = load_with(policies).unwrap_err();
    errs.errors
        .into_iter()
        .map(|e| match e {
            LoadError::Policy(p) => p,
            other => panic!("expected a policy error, got {other}"),
        })
        .collect()
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let errs = policy_errors(
        "permit (principal, action, resource);\n\npermit (principal, action resource);\n",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].file.ends_with("policies/a.cedar"));
    assert_eq!(errs[0].line, Some(3), "{}", errs[0]);
    assert!(errs[0].column.is_some());
    assert!(errs[0].to_string().contains("a.cedar:3:"), "{}", errs[0]);
}

#[test]
fn unknown_action_is_an_error() {
    let errs = policy_errors(
        "permit (principal, action, resource);\n@id(\"bad\")\npermit (principal, action == Warden::Action::\"crm:deleteCustomer\", resource);\n",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].policy.as_deref(), Some("bad"));
    assert_eq!(errs[0].line, Some(3));
    assert!(
        errs[0].message.contains("crm:deleteCustomer"),
        "{}",
        errs[0]
    );
}

#[test]
fn unknown_attribute_and_type_errors() {
    let errs = policy_errors(
        "permit (principal, action == Warden::Action::\"crm:getCustomer\", resource)\nwhen { context.args.nosuch == \"x\" };\n",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].line, Some(2), "{}", errs[0]);
    assert_eq!(errs[0].policy.as_deref(), Some("a.cedar:0"));
    assert!(errs[0].message.contains("nosuch"), "{}", errs[0]);
    // An optional attribute used without `has`, and a String compared with a Long.
    let errs = policy_errors(
        "permit (principal, action == Warden::Action::\"crm:getCustomer\", resource) when { context.args.email == \"x\" };\n\
         permit (principal, action == Warden::Action::\"crm:getCustomer\", resource) when { context.tenant > 3 };\n",
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].policy.as_deref(), Some("a.cedar:0"));
    assert_eq!(errs[1].policy.as_deref(), Some("a.cedar:1"));
    assert_eq!(errs[1].line, Some(2));
}

#[test]
fn templates_and_duplicate_ids_are_refused() {
    let errs = policy_errors("permit (principal == ?principal, action, resource);");
    assert!(errs[0].message.contains("templates"), "{}", errs[0]);
    let errs = policy_errors("@id(\"x\") permit (principal, action, resource);\n@id(\"x\") forbid (principal, action, resource);");
    assert!(
        errs[0].message.contains("duplicate policy id `x`"),
        "{}",
        errs[0]
    );
}

#[test]
fn schema_and_policy_errors_are_collected_together() {
    let dir = project(&[
        (
            "tools/crm.yaml",
            "openapi: 3.0.0\ninfo: {title: x, version: '1'}\n",
        ),
        (
            "tools/fx.json",
            "{\"functions\": [{\"name\": \"f\", \"parameters\": {\"p\": {\"type\": \"date\"}}}]}",
        ),
        ("policies/a.cedar", "permit (principal, action, resource"),
    ]);
    let errs = load(dir.path(), TenantScopeAction::Reject).unwrap_err();
    let text = errs.to_string();
    assert_eq!(errs.errors.len(), 3, "{text}");
    assert!(text.contains("crm.yaml#/paths: missing `paths`"), "{text}");
    assert!(
        text.contains("fx.json#/functions/0/parameters/p/type: unsupported type `date`"),
        "{text}"
    );
    assert!(text.contains("a.cedar:1:"), "{text}");
}

#[test]
fn missing_policy_directory_is_an_error() {
    let dir = project(&[("tools/crm.yaml", CRM_YAML), ("tools/fx.json", FX_JSON)]);
    std::fs::remove_dir(dir.path().join("policies")).unwrap();
    let errs = load(dir.path(), TenantScopeAction::Reject).unwrap_err();
    assert!(
        errs.to_string().contains("cannot read policy directory"),
        "{errs}"
    );
}

#[test]
fn deny_by_default_and_determining_ids() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    // crm:createOrder: permitted for small amounts by `orders-small`.
    let mut call = api(
        "crm",
        "POST",
        "/customers/{customerId}/orders",
        &[("customerId", "c1")],
    );
    call.request_body = Some(json!({"amount": "499.5", "items": [{"sku": "A"}]}));
    let ok = c.check(&caller("acme"), &call).unwrap();
    assert_eq!(ok.determining_policies, vec!["orders-small"]);
    assert_eq!(ok.effects, Effects::Write);
    // Too large: nothing permits it.
    call.request_body = Some(json!({"amount": 501, "items": [{"sku": "A"}]}));
    let r = c.check(&caller("acme"), &call).unwrap_err();
    assert_eq!(r.code(), "policy_denied");
    assert_eq!(
        r,
        Refusal::PolicyDenied {
            action: "crm:createOrder".into(),
            determining: vec![]
        }
    );
    // Amount with more decimals than Cedar's decimal: `typed.amount` is absent, so denied.
    call.request_body = Some(json!({"amount": 1.00001, "items": [{"sku": "A"}]}));
    assert_eq!(
        c.check(&caller("acme"), &call).unwrap_err().code(),
        "policy_denied"
    );
    // forbid wins, naming the forbidding policy; claims are principal tags.
    call.request_body = Some(json!({"amount": 5, "items": [{"sku": "A"}], "rush": true}));
    let mut intern = caller("acme");
    intern.claims.insert("role".into(), json!("intern"));
    let r = c.check(&intern, &call).unwrap_err();
    assert_eq!(
        r,
        Refusal::PolicyDenied {
            action: "crm:createOrder".into(),
            determining: vec!["no-rush-for-interns".into()]
        }
    );
    assert!(c.check(&caller("acme"), &call).is_ok());
}

#[test]
fn action_groups_and_default_ids() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let ok = c
        .check(
            &caller("acme"),
            &func("fx", "cancel", &[("order_id", "A-9")]),
        )
        .unwrap();
    assert_eq!(ok.determining_policies, vec!["main.cedar:3"]);
    assert_eq!(ok.action, "fx:cancel");
    assert_eq!(ok.effects, Effects::Write);
    let r = c
        .check(
            &caller("acme"),
            &func("fx", "cancel", &[("order_id", "B-9")]),
        )
        .unwrap_err();
    assert_eq!(r.code(), "policy_denied");
}

#[test]
fn evaluation_error_is_a_denial() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let r = c
        .check(
            &caller("acme"),
            &func("fx", "lookup", &[("order_id", "A-1"), ("qty", "3")]),
        )
        .unwrap_err();
    assert_eq!(r.code(), "policy_error", "{r}");
    let Refusal::PolicyError { errors, .. } = &r else {
        panic!()
    };
    assert!(errors[0].contains("qty-overflow"), "{errors:?}");
    // qty = 0 does not overflow, and the other policy does not apply with qty present.
    let r = c
        .check(
            &caller("acme"),
            &func("fx", "lookup", &[("order_id", "A-1"), ("qty", "0")]),
        )
        .unwrap_err();
    assert_eq!(r.code(), "policy_denied");
}

#[test]
fn generated_schema_types_inputs() {
    let (_d, c) = rich(TenantScopeAction::Reject);
    let s = c.cedar_schema();
    let ctx = &s["Warden"]["actions"]["crm:getCustomer"]["appliesTo"]["context"]["attributes"];
    assert_eq!(
        ctx["args"]["attributes"]["customerId"],
        json!({"type": "String", "required": true})
    );
    assert_eq!(
        ctx["args"]["attributes"]["limit"],
        json!({"type": "String", "required": false})
    );
    assert_eq!(
        ctx["typed"]["attributes"]["limit"],
        json!({"type": "Long", "required": false})
    );
    assert_eq!(
        ctx["typed"]["attributes"]["verbose"],
        json!({"type": "Boolean", "required": false})
    );
    let member = &s["Warden"]["actions"]["crm:getCustomer"]["memberOf"];
    assert_eq!(member, &json!([{"id": "crm"}, {"id": "@read"}]));
    let body = &s["Warden"]["actions"]["crm:createOrder"]["appliesTo"]["context"]["attributes"]
        ["typed"]["attributes"];
    assert_eq!(
        body["amount"],
        json!({"type": "Extension", "name": "decimal", "required": false})
    );
    assert_eq!(c.policy_ids().len(), 5);
}

#[test]
fn declared_effects_override_method_defaults() {
    let dir = project(&[("tools/crm.yaml", CRM_YAML), ("policies/p.cedar", "")]);
    let t = tools(vec![with_effects(
        tool(
            "crm",
            ToolSchema::OpenApi(dir.path().join("tools/crm.yaml")),
            TenantScopeAction::Reject,
        ),
        Effects::Read,
    )]);
    let c = Catalog::load(&t, &dir.path().join("policies")).unwrap();
    let crm = c.tool("crm").unwrap();
    assert!(crm.operations.iter().all(|o| o.effects == Effects::Read));
    assert_eq!(crm.description.as_deref(), Some("the crm tool"));
    // No policies at all: deny by default.
    let r = c
        .check(
            &caller("acme"),
            &api(
                "crm",
                "GET",
                "/customers/{customerId}",
                &[("customerId", UUID)],
            ),
        )
        .unwrap_err();
    assert_eq!(r.code(), "policy_denied");
}

#[test]
fn colliding_action_ids_are_refused() {
    let spec_a = r#"{"functions":[{"name":"b"}]}"#;
    let spec_b = r#"{"functions":[{"name":"c"}]}"#;
    let dir = project(&[("a.json", spec_a), ("ab.json", spec_b)]);
    let t = tools(vec![
        tool(
            "a",
            ToolSchema::Functions(dir.path().join("a.json")),
            TenantScopeAction::Reject,
        ),
        tool(
            "a:b",
            ToolSchema::Functions(dir.path().join("ab.json")),
            TenantScopeAction::Reject,
        ),
    ]);
    let errs = Catalog::load(&t, &dir.path().join("policies")).unwrap_err();
    assert!(
        errs.to_string()
            .contains("Cedar action id `a:b` is used by both"),
        "{errs}"
    );
}

#[test]
fn optional_body_with_required_properties_may_be_omitted() {
    let spec = r#"{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{"/x":{"post":{
        "operationId":"x","requestBody":{"content":{"application/json":{"schema":{
        "type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}}}}}}}}"#;
    let dir = project(&[
        ("t.json", spec),
        (
            "policies/p.cedar",
            "permit (principal, action == Warden::Action::\"t:x\", resource)\nunless { context.typed has n && context.typed.n >= 5 };",
        ),
    ]);
    let t = tools(vec![tool(
        "t",
        ToolSchema::OpenApi(dir.path().join("t.json")),
        TenantScopeAction::Reject,
    )]);
    let c = Catalog::load(&t, &dir.path().join("policies")).unwrap_or_else(|e| panic!("{e}"));
    assert!(c
        .check(&caller("acme"), &api("t", "POST", "/x", &[]))
        .is_ok());
    let mut call = api("t", "POST", "/x", &[]);
    call.request_body = Some(json!({"n": "3"}));
    assert!(c.check(&caller("acme"), &call).is_ok());
    call.request_body = Some(json!({"n": 7}));
    assert_eq!(
        c.check(&caller("acme"), &call).unwrap_err().code(),
        "policy_denied"
    );
}
