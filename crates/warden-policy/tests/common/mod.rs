//! Shared fixtures: tool configs and a small project on disk.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use warden_config::{Effects, Execution, TenantScopeAction, ToolConfig, ToolSchema};
use warden_policy::{CallRequest, Caller, Catalog};

pub const CRM_YAML: &str = r##"
openapi: 3.0.3
info: {title: CRM, version: "1"}
components:
  schemas:
    Address:
      type: object
      properties:
        zip: {type: string, pattern: "^[0-9]{5}$"}
        tenant_id: {type: string}
      required: [zip]
    Item:
      type: object
      properties:
        sku: {type: string, maxLength: 8}
        qty: {type: integer, minimum: 1}
paths:
  /customers/{customerId}:
    get:
      operationId: getCustomer
      parameters:
        - {name: customerId, in: path, required: true, schema: {type: string, format: uuid}}
        - {name: email, in: query, schema: {type: string, format: email}}
        - {name: since, in: query, schema: {type: string, format: date}}
        - {name: at, in: query, schema: {type: string, format: date-time}}
        - {name: homepage, in: query, schema: {type: string, format: uri}}
        - {name: status, in: query, schema: {type: string, enum: [active, closed]}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100}}
        - {name: ratio, in: query, schema: {type: number, minimum: 0, exclusiveMinimum: true, maximum: 1}}
        - {name: verbose, in: query, schema: {type: boolean}}
        - {name: tags, in: query, schema: {type: array, items: {type: string, minLength: 2}, maxItems: 3}}
        - {name: code, in: header, schema: {type: string, minLength: 3, maxLength: 5}}
        - {name: tenantId, in: query, schema: {type: string}}
  /customers/{customerId}/orders:
    post:
      operationId: createOrder
      parameters:
        - {name: customerId, in: path, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [items, amount]
              properties:
                amount: {type: number, maximum: 10000}
                note: {type: string, nullable: true}
                rush: {type: boolean}
                items: {type: array, minItems: 1, items: {$ref: '#/components/schemas/Item'}}
                shipTo: {$ref: '#/components/schemas/Address'}
                owner: {type: string, x-warden-tenant: true}
"##;

pub const FX_JSON: &str = r#"{"functions":[
  {"name":"lookup","description":"Look up an order","parameters":{
     "order_id":{"type":"string","description":"Order id","required":true},
     "qty":{"type":"integer"},
     "flags":{"type":"array"},
     "tenant":{"type":"string"}}},
  {"name":"cancel","parameters":{"order_id":{"type":"string","required":true}},"requireConfirmation":"ENABLED"}
]}"#;

pub const POLICIES: &str = r#"
@id("crm-read")
permit (principal, action in Warden::Action::"@read", resource == Warden::Tool::"crm")
when { context.tenant == principal.tenant };

@id("orders-small")
permit (principal, action == Warden::Action::"crm:createOrder", resource)
when { context.typed has amount && context.typed.amount.lessThanOrEqual(decimal("500.0")) };

@id("no-rush-for-interns")
forbid (principal, action == Warden::Action::"crm:createOrder", resource)
when { principal.hasTag("role") && principal.getTag("role") == "intern" && context.args has rush && context.args.rush == "true" };

permit (principal, action in Warden::Action::"fx", resource)
when { context.args.order_id like "A-*" && !(context.typed has qty) };

@id("qty-overflow")
permit (principal, action == Warden::Action::"fx:lookup", resource)
when { context.typed has qty && context.typed.qty * 4611686018427387904 > 0 };
"#;

pub fn tool(name: &str, schema: ToolSchema, scope: TenantScopeAction) -> ToolConfig {
    ToolConfig {
        name: name.to_string(),
        description: Some(format!("the {name} tool")),
        schema,
        handler: vec![],
        workdir: PathBuf::from("."),
        egress: vec![],
        secrets: vec![],
        timeout_ms: 5000,
        effects: None,
        execution: Execution::ReturnControl,
        tenant_scope: scope,
        memory_mb: 256,
        cpu_percent: 100,
        pids_max: 64,
    }
}

pub fn with_effects(mut t: ToolConfig, e: Effects) -> ToolConfig {
    t.effects = Some(e);
    t
}

/// A project dir with files `(relative path, text)`.
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    for (rel, text) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

pub fn tools(list: Vec<ToolConfig>) -> BTreeMap<String, ToolConfig> {
    list.into_iter().map(|t| (t.name.clone(), t)).collect()
}

/// The CRM (OpenAPI YAML) and FX (functions) tools with [`POLICIES`].
pub fn rich(scope: TenantScopeAction) -> (tempfile::TempDir, Catalog) {
    let dir = project(&[
        ("tools/crm.yaml", CRM_YAML),
        ("tools/fx.json", FX_JSON),
        ("policies/main.cedar", POLICIES),
    ]);
    let catalog = load(dir.path(), scope).unwrap_or_else(|e| panic!("{e}"));
    (dir, catalog)
}

pub fn load(dir: &Path, scope: TenantScopeAction) -> Result<Catalog, warden_policy::LoadErrors> {
    let t = tools(vec![
        tool(
            "crm",
            ToolSchema::OpenApi(dir.join("tools/crm.yaml")),
            scope,
        ),
        tool(
            "fx",
            ToolSchema::Functions(dir.join("tools/fx.json")),
            scope,
        ),
    ]);
    Catalog::load(&t, &dir.join("policies"))
}

pub fn caller(tenant: &str) -> Caller {
    Caller {
        tenant: tenant.to_string(),
        subject: "alice".to_string(),
        claims: BTreeMap::new(),
    }
}

pub fn api(tool: &str, method: &str, path: &str, params: &[(&str, &str)]) -> CallRequest {
    CallRequest {
        tool: tool.to_string(),
        api_path: Some(path.to_string()),
        http_method: Some(method.to_string()),
        function: None,
        parameters: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        request_body: None,
    }
}

pub fn func(tool: &str, f: &str, params: &[(&str, &str)]) -> CallRequest {
    CallRequest {
        tool: tool.to_string(),
        api_path: None,
        http_method: None,
        function: Some(f.to_string()),
        parameters: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        request_body: None,
    }
}

pub const UUID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
