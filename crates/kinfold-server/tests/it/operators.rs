#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A3: a break-glass grant is bound to the operator it was issued to (issue 12 item 10).

use std::time::Duration;

use kinfold_core::CoreError;
use kinfold_store::ChildId;

use crate::harness::TestApp;

/// Operator B cannot read under operator A's grant, alone, in parallel, or under a name that
/// looks like A's; each refusal is in the tenant's chain. A's own reads still work and name A's
/// grant; B's own grant later lets B read, under B's grant.
#[tokio::test]
async fn an_operator_cannot_read_under_another_operators_grant() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let child = ChildId::parse(&r.a).unwrap();
    let alices = app
        .core
        .access()
        .grant_access(
            &t.scope,
            "alice-oncall",
            "ticket 4711: restore contacts",
            Duration::from_secs(600),
        )
        .await
        .unwrap();

    let names = [
        "bob-oncall",
        "ALICE-ONCALL",
        "alice-oncall\u{200b}",
        "\u{200b}alice-oncall",
        "alice",
        "operator",
    ];
    for name in names {
        let refused = app
            .core
            .access()
            .operator_child_view(&t.scope, name, child)
            .await;
        // A look-alike with an invisible character is not even a valid name (item 13).
        assert!(
            matches!(&refused, Err(CoreError::Forbidden(m)) if m.contains("no active break-glass grant"))
                || matches!(
                    &refused,
                    Err(CoreError::Invalid {
                        field: "operator",
                        ..
                    })
                ),
            "{name:?} reads under alice-oncall's grant: {refused:?}"
        );
    }
    let mut parallel = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (core, scope) = (app.core.clone(), t.scope.clone());
        parallel.spawn(async move {
            core.access()
                .operator_child_view(&scope, "bob-oncall", child)
                .await
                .map(|_| ())
        });
    }
    while let Some(r) = parallel.join_next().await {
        assert!(matches!(r.unwrap(), Err(CoreError::Forbidden(_))));
    }

    let entries = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let refusals: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == "operator_read_refused")
        .collect();
    // Every refusal is audited, the look-alikes with an invisible character (refused as input)
    // too, their characters escaped.
    assert_eq!(refusals.len(), names.len() + 8);
    assert!(refusals
        .iter()
        .any(|e| e.event.contains("alice-oncall\\\\u{200b}")));
    assert!(refusals
        .iter()
        .all(|e| e.category == "data-access" && e.event.contains(&r.a)));
    assert_eq!(
        refusals
            .iter()
            .filter(|e| e.actor.as_deref() == Some("operator:bob-oncall"))
            .count(),
        9
    );
    assert!(!entries.iter().any(|e| e.kind == "operator_read"));

    // The grant's own operator reads, and the read names the grant; surrounding spaces are
    // not part of a name.
    for name in ["alice-oncall", " alice-oncall "] {
        app.core
            .access()
            .operator_child_view(&t.scope, name, child)
            .await
            .unwrap();
    }
    // Bob's own grant is Bob's.
    let bobs = app
        .core
        .access()
        .grant_access(
            &t.scope,
            "bob-oncall",
            "ticket 4712: check allergies",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    app.core
        .access()
        .operator_child_view(&t.scope, "bob-oncall", child)
        .await
        .unwrap();
    let entries = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let reads: Vec<(Option<&str>, serde_json::Value)> = entries
        .iter()
        .filter(|e| e.kind == "operator_read")
        .map(|e| {
            (
                e.actor.as_deref(),
                serde_json::from_str::<serde_json::Value>(&e.event).unwrap()["grant_id"].clone(),
            )
        })
        .collect();
    let alice_grant = serde_json::Value::from(alices.id.to_string());
    let bob_grant = serde_json::Value::from(bobs.id.to_string());
    assert_eq!(
        reads,
        vec![
            (Some("operator:alice-oncall"), alice_grant.clone()),
            (Some("operator:alice-oncall"), alice_grant),
            (Some("operator:bob-oncall"), bob_grant),
        ]
    );

    // When Bob's grant ends, Alice's still running grant does not carry Bob on.
    app.advance(Duration::from_secs(61));
    assert!(matches!(
        app.core
            .access()
            .operator_child_view(&t.scope, "bob-oncall", child)
            .await,
        Err(CoreError::Forbidden(_))
    ));
    assert!(app
        .core
        .access()
        .operator_child_view(&t.scope, "alice-oncall", child)
        .await
        .is_ok());
}
