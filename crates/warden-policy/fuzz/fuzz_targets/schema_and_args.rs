//! Fuzz target: arbitrary bytes as a tool schema (OpenAPI JSON/YAML or a function schema) and
//! as a call's arguments. Loading either fails with located errors or yields a catalog, and
//! every operation's check (validation, tenant scope, Cedar) returns without panicking.
//!
//! Input: `[mode byte][schema text] 0x00 [arguments]`, where arguments are `name=value` lines,
//! and a line starting with `{` is a JSON request body. With mode bit 0x80 the schema text is
//! ignored and a fixed rich OpenAPI schema is used, so the bytes exercise validation deeply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use warden_policy::{CallRequest, Caller, Catalog, SchemaKind, ToolManifest};

const RICH: &str = r##"{"openapi":"3.0.3","info":{"title":"t","version":"1"},
"components":{"schemas":{"Item":{"type":"object","required":["sku"],"properties":{
  "sku":{"type":"string","pattern":"^[A-Z]{2}[0-9]{0,6}$"},"qty":{"type":"integer","minimum":1},
  "tenantId":{"type":"string"}}}}},
"paths":{"/o/{id}":{"post":{"operationId":"make","parameters":[
  {"name":"id","in":"path","required":true,"schema":{"type":"string","format":"uuid"}},
  {"name":"n","in":"query","schema":{"type":"integer","minimum":0,"maximum":9}},
  {"name":"r","in":"query","schema":{"type":"number","exclusiveMinimum":true,"minimum":0}},
  {"name":"b","in":"query","schema":{"type":"boolean"}},
  {"name":"e","in":"query","schema":{"type":"string","enum":["a","b"],"format":"email"}},
  {"name":"d","in":"query","schema":{"type":"string","format":"date-time"}},
  {"name":"l","in":"query","schema":{"type":"array","items":{"type":"integer"},"maxItems":3}},
  {"name":"tenant","in":"header","schema":{"type":"string","maxLength":8}}],
 "requestBody":{"required":true,"content":{"application/json":{"schema":{"type":"object",
   "required":["items"],"properties":{"items":{"type":"array","items":{"$ref":"#/components/schemas/Item"}},
   "note":{"type":"string","nullable":true,"maxLength":20},"amount":{"type":"number"},
   "owner":{"type":"string","x-warden-tenant":true}}}}}}}}}}"##;

const POLICY: &str = "permit (principal, action, resource) when { context.tenant == principal.tenant };";

fn rich() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| {
        let m = ToolManifest::from_text("t", SchemaKind::OpenApi, Path::new("t.json"), RICH, None)
            .expect("rich schema loads");
        Catalog::from_parts(vec![m], &[(PathBuf::from("p.cedar"), POLICY.to_string())])
            .expect("rich catalog loads")
    })
}

fn args(bytes: &[u8]) -> (Vec<(String, String)>, Option<serde_json::Value>) {
    let text = String::from_utf8_lossy(bytes);
    let mut params = Vec::new();
    let mut body = None;
    for line in text.lines() {
        if line.starts_with('{') {
            body = serde_json::from_str(line).ok();
            continue;
        }
        params.push(match line.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (line.to_string(), String::new()),
        });
    }
    (params, body)
}

fn check_all(catalog: &Catalog, params: Vec<(String, String)>, body: Option<serde_json::Value>) {
    let caller = Caller { tenant: "acme".into(), subject: "fuzz".into(), claims: Default::default() };
    for tool in catalog.tools() {
        for op in &tool.operations {
            let call = CallRequest {
                tool: tool.name.clone(),
                api_path: op.path.clone(),
                http_method: op.method.clone(),
                function: op.function.clone(),
                parameters: params.clone(),
                request_body: body.clone(),
            };
            match catalog.check(&caller, &call) {
                Ok(a) => {
                    let _ = a.lambda_parameters();
                    let _ = a.lambda_request_body();
                }
                Err(r) => {
                    assert!(!r.code().is_empty());
                    let _ = r.to_string();
                }
            }
            let _ = op.input_schema();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let (schema, call) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let (params, body) = args(call);
    if mode & 0x80 != 0 {
        check_all(rich(), params, body);
        return;
    }
    let Ok(text) = std::str::from_utf8(schema) else { return };
    let kind = if mode & 1 == 0 { SchemaKind::OpenApi } else { SchemaKind::Functions };
    let file = if mode & 2 == 0 { "tool.json" } else { "tool.yaml" };
    match ToolManifest::from_text("t", kind, Path::new(file), text, None) {
        Ok(m) => {
            let catalog = Catalog::from_parts(vec![m], &[(PathBuf::from("p.cedar"), POLICY.to_string())]);
            if let Ok(c) = catalog {
                check_all(&c, params, body);
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in errors {
                assert_eq!(e.file, Path::new(file));
                let _ = e.to_string();
            }
        }
    }
});
