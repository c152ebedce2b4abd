//! Property tests: arbitrary strings as parameter names, values, bodies and tenants never
//! make validation, scoping or authorization panic, and errors never echo long values.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::json;
use warden_policy::{CallRequest, Caller, Refusal, TenantScopeAction};

fn names() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("customerId".to_string()),
        Just("limit".to_string()),
        Just("ratio".to_string()),
        Just("tags".to_string()),
        Just("verbose".to_string()),
        Just("tenantId".to_string()),
        Just("email".to_string()),
        Just("order_id".to_string()),
        Just("qty".to_string()),
        Just("flags".to_string()),
        ".{0,12}",
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(|b| json!(b)),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,80}".prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(names(), inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn call() -> impl Strategy<Value = CallRequest> {
    (
        prop_oneof![Just("crm".to_string()), Just("fx".to_string()), ".{0,4}"],
        prop_oneof![
            Just(Some("/customers/{customerId}".to_string())),
            Just(Some("/customers/{customerId}/orders".to_string())),
            Just(None)
        ],
        prop_oneof![
            Just(Some("GET".to_string())),
            Just(Some("post".to_string())),
            Just(None)
        ],
        prop_oneof![
            Just(Some("lookup".to_string())),
            Just(Some("cancel".to_string())),
            Just(None)
        ],
        prop::collection::vec((names(), ".{0,200}"), 0..6),
        prop::option::of(json_value()),
    )
        .prop_map(
            |(tool, api_path, http_method, function, parameters, request_body)| CallRequest {
                tool,
                api_path,
                http_method,
                function,
                parameters,
                request_body,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn check_never_panics(c in call(), tenant in ".{0,16}", subject in ".{0,16}", override_mode in any::<bool>()) {
        thread_local! {
            static CATALOGS: (tempfile::TempDir, warden_policy::Catalog, tempfile::TempDir, warden_policy::Catalog) = {
                let (d1, c1) = rich(TenantScopeAction::Reject);
                let (d2, c2) = rich(TenantScopeAction::Override);
                (d1, c1, d2, c2)
            };
        }
        let caller = Caller { tenant, subject, claims: Default::default() };
        CATALOGS.with(|(_, reject, _, over)| {
            let catalog = if override_mode { over } else { reject };
            match catalog.check(&caller, &c) {
                Ok(a) => {
                    prop_assert!(a.lambda_parameters().is_array());
                }
                Err(r) => {
                    let text = r.to_string();
                    prop_assert!(!r.code().is_empty());
                    if let Refusal::InvalidArguments { errors, .. } = &r {
                        prop_assert!(!errors.is_empty());
                        for e in errors {
                            if let Some(v) = &e.value_excerpt {
                                prop_assert!(v.chars().count() <= 65, "{}", v);
                            }
                        }
                    }
                    prop_assert!(!text.is_empty());
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn coercion_never_panics(raw in ".{0,64}", ty in 0usize..7) {
        use warden_policy::ValueType::*;
        let t = [String, Number, Integer, Boolean, Array, Object, Any][ty];
        let _ = warden_policy::coerce(&raw, t, &json!({"type": "array", "items": {"type": "integer"}}));
    }
}
