//! Schema loading: OpenAPI (JSON and YAML) and Bedrock function schemas, and precise errors
//! (file + JSON pointer) for malformed ones.

use serde_json::json;
use std::path::Path;
use warden_config::Effects;
use warden_policy::{ParamLocation, SchemaError, SchemaKind, ToolManifest, ValueType};

fn openapi(text: &str) -> Result<ToolManifest, Vec<SchemaError>> {
    ToolManifest::from_text("t", SchemaKind::OpenApi, Path::new("/p/t.json"), text, None)
}

fn openapi_errs(text: &str) -> Vec<(String, String)> {
    openapi(text)
        .unwrap_err()
        .into_iter()
        .map(|e| {
            assert_eq!(e.file, Path::new("/p/t.json"));
            (e.pointer, e.message)
        })
        .collect()
}

fn functions(text: &str) -> Result<ToolManifest, Vec<SchemaError>> {
    ToolManifest::from_text(
        "f",
        SchemaKind::Functions,
        Path::new("/p/f.json"),
        text,
        None,
    )
}

fn doc(paths: serde_json::Value) -> String {
    json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths,
           "components": {"schemas": {"Id": {"type": "string", "maxLength": 8}},
                          "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"type": "integer"}}},
                          "requestBodies": {"Note": {"content": {"application/json": {"schema": {"type": "object", "properties": {"text": {"type": "string"}}}}}}}}})
    .to_string()
}

#[test]
fn starter_schema_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../warden-cli/templates/starter/tools/orders/openapi.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let m = ToolManifest::from_text("orders", SchemaKind::OpenApi, &path, &text, None).unwrap();
    assert_eq!(m.operations.len(), 1);
    let op = &m.operations[0];
    assert_eq!(
        (op.id.as_str(), op.action.as_str()),
        ("lookup_order", "orders:lookup_order")
    );
    assert_eq!(op.method.as_deref(), Some("GET"));
    assert_eq!(op.path.as_deref(), Some("/orders/{orderId}"));
    assert_eq!(op.effects, Effects::Read);
    let p = &op.params[0];
    assert_eq!(
        (p.name.as_str(), p.location, p.required, p.value_type),
        ("orderId", ParamLocation::Path, true, ValueType::String)
    );
    assert_eq!(p.description.as_deref(), Some("Order id such as A-1043"));
    assert_eq!(p.schema["pattern"], "^[A-Z]-[0-9]{4}$");
    assert_eq!(
        op.inputs(),
        vec![("orderId", Some("Order id such as A-1043"), true)]
    );
    let s = op.input_schema();
    assert_eq!(s["required"], json!(["orderId"]));
    assert_eq!(s["properties"]["orderId"]["maxLength"], 6);
}

#[test]
fn refs_are_inlined_and_ids_derived() {
    let m = openapi(&doc(json!({
        "/notes/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"$ref": "#/components/schemas/Id"}}],
            "get": {"parameters": [{"$ref": "#/components/parameters/Limit"}]},
            "put": {"operationId": "putNote", "requestBody": {"$ref": "#/components/requestBodies/Note"}}
        }
    })))
    .unwrap();
    let get = m
        .operations
        .iter()
        .find(|o| o.method.as_deref() == Some("GET"))
        .unwrap();
    assert_eq!(get.id, "get_notes_id");
    assert_eq!(get.effects, Effects::Read);
    assert_eq!(
        get.param("id").unwrap().schema,
        json!({"type": "string", "maxLength": 8})
    );
    assert_eq!(get.param("limit").unwrap().value_type, ValueType::Integer);
    let put = m.operation("putNote").unwrap();
    assert_eq!(put.effects, Effects::Write);
    assert_eq!(put.body.as_ref().unwrap().properties[0].name, "text");
}

#[test]
fn yaml_documents_load() {
    let m = openapi("openapi: '3.1.0'\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    post:\n      operationId: x\n      parameters:\n        - name: n\n          in: query\n          schema: {type: [integer, 'null']}\n").unwrap_err();
    // The file name ends in .json, so YAML text is read as JSON and refused with a position.
    assert!(
        m[0].message.starts_with("invalid JSON at line 1"),
        "{:?}",
        m
    );
    let m = ToolManifest::from_text(
        "t",
        SchemaKind::OpenApi,
        Path::new("t.yaml"),
        "openapi: '3.1.0'\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    post:\n      operationId: x\n      parameters:\n        - name: n\n          in: query\n          schema: {type: [integer, 'null']}\n",
        None,
    )
    .unwrap();
    assert_eq!(m.operations[0].params[0].value_type, ValueType::Integer);
}

#[test]
fn malformed_documents() {
    let e = openapi_errs("{\"openapi\": \"3.0.0\",, }");
    assert_eq!(e[0].0, "");
    assert!(e[0].1.starts_with("invalid JSON at line 1 column"), "{e:?}");
    let e = openapi_errs(r#"{"openapi": "3.0.0"}"#);
    assert_eq!(e, vec![("/paths".into(), "missing `paths`".into())]);
    let e = openapi_errs(r#"{"swagger": "2.0", "paths": {}}"#);
    assert_eq!(e[0].0, "/openapi");
    let e = openapi_errs(r#"{"openapi": "3.0.0", "paths": {}}"#);
    assert_eq!(e, vec![("/paths".into(), "no operations defined".into())]);
}

#[test]
fn reference_errors() {
    let e = openapi_errs(&doc(json!({"/x": {"get": {"parameters": [
        {"name": "a", "in": "query", "schema": {"$ref": "#/components/schemas/Nope"}},
        {"name": "b", "in": "query", "schema": {"$ref": "other.json#/X"}},
        {"name": "c", "in": "query", "schema": {"type": "object", "properties": {"d": {"$ref": "#/components/schemas/Nope"}}}}
    ]}}})));
    assert_eq!(e[0].0, "/paths/~1x/get/parameters/0/schema/$ref");
    assert!(
        e[0].1
            .contains("`#/components/schemas/Nope` does not resolve"),
        "{e:?}"
    );
    assert_eq!(e[1].0, "/paths/~1x/get/parameters/1/schema/$ref");
    assert!(e[1].1.contains("not a local reference"), "{e:?}");
    assert_eq!(
        e[2].0,
        "/paths/~1x/get/parameters/2/schema/properties/d/$ref"
    );
    let recursive = json!({"openapi": "3.0.0", "paths": {"/x": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}}}}},
        "components": {"schemas": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/components/schemas/Node"}}}}}});
    let e = openapi_errs(&recursive.to_string());
    assert_eq!(e[0].0, "/components/schemas/Node/properties/child/$ref");
    assert!(e[0].1.contains("recursive"), "{e:?}");
}

#[test]
fn operation_and_parameter_errors_are_all_reported() {
    let e = openapi_errs(&doc(json!({
        "/a/{id}": {
            "get": {"operationId": "same", "parameters": [{"name": "id", "in": "path", "required": true}]},
            "post": {"operationId": "same", "parameters": [
                {"name": "id", "in": "path", "schema": {"type": "string"}},
                {"name": "q", "in": "query", "schema": {"type": "date"}},
                {"name": "r", "in": "cookie", "schema": {"type": "string"}},
                {"name": "s", "in": "query", "schema": {"type": "string", "pattern": "(?<=a)b"}},
                {"name": "o", "in": "query", "schema": {"type": "object"}}
            ]}
        },
        "/b/{missing}": {"get": {"operationId": "b"}},
        "/c": {"put": {"operationId": "same", "requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}}}}
    })));
    let has = |p: &str, m: &str| e.iter().any(|(pp, mm)| pp == p && mm.contains(m));
    assert!(
        has(
            "/paths/~1a~1{id}/get/parameters/0/schema",
            "parameter `id` has no `schema`"
        ),
        "{e:#?}"
    );
    assert!(
        has(
            "/paths/~1a~1{id}/post/parameters/1/schema/type",
            "unsupported type `date`"
        ),
        "{e:#?}"
    );
    assert!(
        has(
            "/paths/~1a~1{id}/post/parameters/2/in",
            "location `cookie` is not supported"
        ),
        "{e:#?}"
    );
    assert!(
        has(
            "/paths/~1a~1{id}/post/parameters/3/schema",
            "invalid JSON schema"
        ),
        "{e:#?}"
    );
    assert!(
        has(
            "/paths/~1a~1{id}/post/parameters/4/schema",
            "type `object` is not supported"
        ),
        "{e:#?}"
    );
    assert!(
        has("/paths/~1b~1{missing}/get/parameters", "names `{missing}`"),
        "{e:#?}"
    );
    assert!(
        has(
            "/paths/~1c/put/requestBody/content",
            "no `application/json` content"
        ),
        "{e:#?}"
    );
    assert_eq!(e.len(), 7, "{e:#?}");
    // Duplicate ids, once the operations themselves are sound.
    let e = openapi_errs(&doc(
        json!({"/a": {"get": {"operationId": "same"}, "post": {"operationId": "same"}}}),
    ));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, "/paths/~1a/post/operationId");
    assert!(
        e[0].1
            .contains("duplicate operation id `same` (first at /paths/~1a/get)"),
        "{e:?}"
    );
}

#[test]
fn body_schema_must_have_properties() {
    let e = openapi_errs(&doc(
        json!({"/a": {"post": {"operationId": "a", "requestBody": {"content": {"application/json": {"schema": {"type": "array"}}}}}}}),
    ));
    assert_eq!(
        e[0].0,
        "/paths/~1a/post/requestBody/content/application~1json/schema"
    );
    let e = openapi_errs(&doc(
        json!({"/a": {"post": {"operationId": "a", "parameters": [{"name": "n", "in": "query", "schema": {"type": "string"}}],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"n": {"type": "string"}}}}}}}}}),
    ));
    assert!(e[0].1.contains("same name as a parameter"), "{e:?}");
}

#[test]
fn function_schema_loads() {
    let m = functions(r#"{"functions":[
        {"name":"lookup_order","description":"Find one","parameters":{"order_id":{"type":"string","description":"id","required":true},"n":{"type":"number"}}},
        {"name":"cancel","requireConfirmation":"ENABLED"}]}"#)
    .unwrap();
    assert_eq!(m.kind, SchemaKind::Functions);
    let op = m.operation("lookup_order").unwrap();
    assert_eq!(op.function.as_deref(), Some("lookup_order"));
    assert_eq!(op.action, "f:lookup_order");
    assert_eq!(op.effects, Effects::Write);
    assert_eq!(op.description.as_deref(), Some("Find one"));
    assert_eq!(
        op.param("order_id").unwrap().location,
        ParamLocation::Function
    );
    assert!(op.param("order_id").unwrap().required);
    assert!(!op.param("n").unwrap().required);
    assert!(m.operation("cancel").unwrap().require_confirmation);
    let read = ToolManifest::from_text(
        "f",
        SchemaKind::Functions,
        Path::new("f.json"),
        r#"{"functions":[{"name":"x"}]}"#,
        Some(Effects::Read),
    )
    .unwrap();
    assert_eq!(read.operations[0].effects, Effects::Read);
}

#[test]
fn function_schema_errors() {
    let e: Vec<(String, String)> = functions(r#"{"functions":[
        {"name":"ok","parameters":{"a":{"type":"object"},"b":{"type":"string","required":"yes"},"c":{"type":"string","min":1},"d":{}}},
        {"name":"bad name!"},
        {"description":"no name"},
        {"name":"dup"},{"name":"dup"}
      ], "extra": 1}"#)
    .unwrap_err()
    .into_iter()
    .map(|e| (e.pointer, e.message))
    .collect();
    let has = |p: &str, m: &str| e.iter().any(|(pp, mm)| pp == p && mm.contains(m));
    assert!(has("/extra", "unknown key `extra`"), "{e:#?}");
    assert!(
        has(
            "/functions/0/parameters/a/type",
            "unsupported type `object`"
        ),
        "{e:#?}"
    );
    assert!(
        has(
            "/functions/0/parameters/b/required",
            "must be true or false"
        ),
        "{e:#?}"
    );
    assert!(
        has("/functions/0/parameters/c/min", "unknown key `min`"),
        "{e:#?}"
    );
    assert!(
        has("/functions/0/parameters/d/type", "has no `type`"),
        "{e:#?}"
    );
    assert!(
        has("/functions/1/name", "function name `bad name!`"),
        "{e:#?}"
    );
    assert!(has("/functions/2/name", "no `name`"), "{e:#?}");
    assert!(
        has("/functions/4/name", "duplicate function name `dup`"),
        "{e:#?}"
    );
    let e = functions("{\"functions\": []}").unwrap_err();
    assert_eq!(e[0].message, "no functions defined");
    let e = functions("functions: [").unwrap_err();
    assert!(e[0].message.starts_with("invalid JSON"), "{e:?}");
}

#[test]
fn unreadable_file_is_reported_with_its_path() {
    let t = warden_config::ToolConfig {
        name: "t".into(),
        description: None,
        schema: warden_config::ToolSchema::OpenApi("/nonexistent/openapi.yaml".into()),
        handler: vec![],
        workdir: ".".into(),
        egress: vec![],
        secrets: vec![],
        timeout_ms: 1,
        effects: None,
        execution: warden_config::Execution::ReturnControl,
        tenant_scope: warden_config::TenantScopeAction::Reject,
        memory_mb: 16,
        cpu_percent: 1,
        pids_max: 1,
    };
    let e = ToolManifest::load(&t).unwrap_err();
    assert_eq!(e[0].file, Path::new("/nonexistent/openapi.yaml"));
    assert!(
        e[0].to_string()
            .starts_with("/nonexistent/openapi.yaml#: cannot read"),
        "{}",
        e[0]
    );
}
