//! The starter project written by `warden init`, end to end: its warden.toml loaded by
//! warden-config, its tool schema and Cedar policy loaded here, and its lookup call checked.

mod common;

use common::caller;
use std::path::Path;
use warden_policy::{CallRequest, Catalog, Effects, Refusal};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn starter() -> (tempfile::TempDir, Catalog) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../warden-cli/templates/starter");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&src, dir.path());
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("jwt-hs256.key"), "k".repeat(48)).unwrap();
    std::fs::write(
        secrets.join("aws-acme.secret"),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )
    .unwrap();
    std::fs::write(secrets.join("admin.token"), "admin-token-0123456789abcdef").unwrap();
    std::fs::write(secrets.join("tenants.toml"), "").unwrap();
    let config = warden_config::load(&dir.path().join("warden.toml"), &warden_config::ProcessEnv)
        .unwrap_or_else(|e| panic!("{e}"));
    let catalog = Catalog::from_config(&config).unwrap_or_else(|e| panic!("{e}"));
    (dir, catalog)
}

fn lookup(order: &str) -> CallRequest {
    CallRequest {
        tool: "orders".into(),
        api_path: Some("/orders/{orderId}".into()),
        http_method: Some("GET".into()),
        function: None,
        parameters: vec![("orderId".into(), order.into())],
        request_body: None,
    }
}

#[test]
fn starter_lookup_is_permitted_for_own_tenant() {
    let (_d, c) = starter();
    let ok = c.check(&caller("acme"), &lookup("A-1043")).unwrap();
    assert_eq!(ok.tool, "orders");
    assert_eq!(ok.operation, "lookup_order");
    assert_eq!(ok.action, "orders:lookup_order");
    assert_eq!(ok.effects, Effects::Read);
    assert_eq!(
        ok.parameters,
        vec![("orderId".to_string(), "A-1043".to_string())]
    );
    assert!(ok.overrides.is_empty());
    assert_eq!(ok.determining_policies, vec!["orders.cedar:0".to_string()]);
    assert_eq!(
        ok.lambda_parameters(),
        serde_json::json!([{"name": "orderId", "type": "string", "value": "A-1043"}])
    );
    assert_eq!(c.policy_ids(), ["orders.cedar:0".to_string()]);
    let tools: Vec<&str> = c.tools().map(|t| t.name.as_str()).collect();
    assert_eq!(tools, vec!["orders"]);
}

#[test]
fn starter_refuses_bad_ids_and_unknown_operations() {
    let (_d, c) = starter();
    let r = c
        .check(&caller("acme"), &lookup("1043; DROP TABLE"))
        .unwrap_err();
    assert_eq!(r.code(), "invalid_arguments");
    let Refusal::InvalidArguments { errors, .. } = &r else {
        panic!()
    };
    let mut kw: Vec<&str> = errors.iter().map(|e| e.keyword.as_str()).collect();
    kw.sort();
    assert_eq!(kw, vec!["maxLength", "pattern"]);
    assert!(r.to_string().contains("orderId"), "{r}");
    let mut call = lookup("A-1043");
    call.http_method = Some("DELETE".into());
    assert_eq!(
        c.check(&caller("acme"), &call).unwrap_err().code(),
        "unknown_operation"
    );
}
