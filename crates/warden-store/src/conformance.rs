//! The conformance suite every storage backend runs. Each function panics on a violation;
//! [`store_conformance_tests!`](crate::store_conformance_tests) turns them into `#[test]`s.

use crate::*;

fn tenant(s: &str) -> TenantId {
    TenantId::new(s).expect("valid tenant")
}

fn key(t: &str, a: &str, s: &str) -> SessionKey {
    SessionKey {
        tenant: tenant(t),
        agent: AgentId::new(a).expect("valid agent"),
        session: SessionId::new(s).expect("valid session"),
    }
}

fn flip(scope: &str, enabled: bool) -> KillFlip {
    KillFlip {
        scope: scope.parse().expect("valid scope"),
        enabled,
        reason: format!("reason for {scope}"),
        actor: "test".into(),
        at: "2026-11-22T00:00:00Z".into(),
    }
}

/// Flips change entries and always advance the generation; events wait to be audited.
pub fn killswitch_flips(store: &dyn Store) {
    let g0 = store.generation().unwrap();
    assert!(store.entries().unwrap().is_empty());
    let g1 = store.flip(&flip("global", true)).unwrap();
    assert!(g1 > g0);
    let g2 = store.flip(&flip("tenant:acme", true)).unwrap();
    let g3 = store.flip(&flip("global", false)).unwrap();
    assert!(g2 > g1 && g3 > g2);
    assert_eq!(store.generation().unwrap(), g3);
    let entries = store.entries().unwrap();
    assert_eq!(entries.len(), 2);
    let global = entries
        .iter()
        .find(|e| e.scope == KillScope::Global)
        .unwrap();
    assert!(!global.enabled);
    let acme = entries
        .iter()
        .find(|e| e.scope == KillScope::Tenant(tenant("acme")))
        .unwrap();
    assert!(acme.enabled);
    assert_eq!(acme.reason, "reason for tenant:acme");

    let pending = store.unaudited_flips().unwrap();
    assert_eq!(pending.len(), 3);
    assert_eq!(pending[0].1.scope, KillScope::Global);
    assert!(pending[0].1.enabled);
    store.mark_audited(&[pending[0].0, pending[1].0]).unwrap();
    let rest = store.unaudited_flips().unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].0, pending[2].0);
}

/// Token usage accumulates per tenant and window, independently.
pub fn usage_accumulates(store: &dyn Store) {
    let (a, b) = (tenant("acme"), tenant("globex"));
    assert_eq!(store.tokens(&a, 100).unwrap(), 0);
    assert_eq!(store.add_tokens(&a, 100, 40).unwrap(), 40);
    assert_eq!(store.add_tokens(&a, 100, 2).unwrap(), 42);
    assert_eq!(store.add_tokens(&b, 100, 7).unwrap(), 7);
    assert_eq!(store.add_tokens(&a, 101, 1).unwrap(), 1);
    assert_eq!(store.tokens(&a, 100).unwrap(), 42);
    assert_eq!(store.tokens(&b, 101).unwrap(), 0);
}

/// Sessions are isolated by tenant, expire when idle and can be ended.
pub fn sessions_are_tenant_scoped(store: &dyn Store) {
    let mine = key("acme", "support", "s-1");
    let theirs = key("globex", "support", "s-1");
    store
        .save_session(
            &mine,
            &SessionRecord {
                data: "{\"turns\":1}".into(),
                updated_at: 1000,
            },
        )
        .unwrap();
    assert_eq!(
        store.load_session(&mine, 1010, 60).unwrap().unwrap().data,
        "{\"turns\":1}"
    );
    assert_eq!(
        store.load_session(&theirs, 1010, 60).unwrap(),
        None,
        "another tenant must see nothing"
    );
    assert_eq!(
        store.load_session(&mine, 2000, 60).unwrap(),
        None,
        "idle session must not load"
    );
    store
        .save_session(
            &mine,
            &SessionRecord {
                data: "{\"turns\":2}".into(),
                updated_at: 1990,
            },
        )
        .unwrap();
    assert_eq!(
        store.load_session(&mine, 2000, 60).unwrap().unwrap().data,
        "{\"turns\":2}"
    );
    assert!(store.delete_session(&mine).unwrap());
    assert!(!store.delete_session(&mine).unwrap());
    assert_eq!(store.load_session(&mine, 2000, 60).unwrap(), None);
    store
        .save_session(
            &theirs,
            &SessionRecord {
                data: "{}".into(),
                updated_at: 10,
            },
        )
        .unwrap();
    assert_eq!(store.expire_sessions(11).unwrap(), 1);
}

/// Verdicts list newest first, filtered by tenant and decision.
pub fn verdicts_list_newest_first(store: &dyn Store) {
    let row = |i: usize, tenant: &str, decision: &str| VerdictRow {
        invocation_id: format!("inv-{i}"),
        tenant: tenant.into(),
        agent: "support".into(),
        session: "s".into(),
        decision: decision.into(),
        confidence: 0.5,
        rules: if decision == "block" {
            vec!["gap.undeclared-host".into(), "x.y".into()]
        } else {
            vec![]
        },
        reason: String::new(),
        decided_at: "2026-11-22T00:00:00Z".into(),
    };
    store
        .insert_verdicts(&[
            row(1, "acme", "allow"),
            row(2, "acme", "block"),
            row(3, "globex", "allow"),
        ])
        .unwrap();
    let all = store.list_verdicts(&VerdictFilter::default()).unwrap();
    assert_eq!(
        all.iter()
            .map(|r| r.invocation_id.as_str())
            .collect::<Vec<_>>(),
        ["inv-3", "inv-2", "inv-1"]
    );
    let acme = store
        .list_verdicts(&VerdictFilter {
            tenant: Some("acme".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(acme.len(), 2);
    let blocks = store
        .list_verdicts(&VerdictFilter {
            decision: Some("block".into()),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].rules, ["gap.undeclared-host", "x.y"]);
    let one = store
        .list_verdicts(&VerdictFilter {
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(one.len(), 1);
}

/// Generates one `#[test]` per conformance case for a backend constructor expression.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        #[test]
        fn killswitch_flips() {
            let store = $make;
            $crate::conformance::killswitch_flips(&store);
        }
        #[test]
        fn usage_accumulates() {
            let store = $make;
            $crate::conformance::usage_accumulates(&store);
        }
        #[test]
        fn sessions_are_tenant_scoped() {
            let store = $make;
            $crate::conformance::sessions_are_tenant_scoped(&store);
        }
        #[test]
        fn verdicts_list_newest_first() {
            let store = $make;
            $crate::conformance::verdicts_list_newest_first(&store);
        }
    };
}
