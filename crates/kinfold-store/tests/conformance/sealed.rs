//! D3: every sealed column pages and swaps by compare-and-swap (rotation), and a data-key
//! version is destroyed once, with its audit entry, only in its own tenant.

use kinfold_audit::{Draft, Event};
use kinfold_crypto::token::TokenHash;
use kinfold_store::outbox::NewMessage;
use kinfold_store::*;

use crate::tenants_and_sessions::{tenant, user};
use crate::{both, Under};

async fn every_sealed_column_pages_swaps_and_key_versions_are_destroyed_once(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let b = tenant(s, "birch").await;
    let pat = user(s, &a, "pat@maple.test", Role::Parent).await;
    s.set_pending_totp(&a, pat.id, Some(vec![1; 40]))
        .await
        .unwrap();
    // Two links for one user, so pages of enrollment links are ordered by token, not user.
    let (t1, t2) = (TokenHash([0x0a; 32]), TokenHash([0xf0; 32]));
    for (t, v) in [(t1, 2u8), (t2, 3)] {
        s.create_enrollment(a.tx(), pat.id, t, 100_000, 1_000)
            .await
            .unwrap();
        s.set_enrollment_secret(t, vec![v; 40]).await.unwrap();
    }
    let message = uuid::Uuid::now_v7();
    let m = NewMessage {
        id: message,
        category: "announcement".into(),
        created_by: None,
        body: vec![4; 40],
        created_ms: 5_000,
    };
    s.enqueue_message(a.tx(), m, vec![]).await.unwrap();

    let pending = s
        .sealed_values(&a, SealedColumn::UserPendingTotp, None, 10)
        .await
        .unwrap();
    assert_eq!(
        pending,
        [SealedValue {
            key: pat.id.to_string(),
            aad_row: pat.id.to_string(),
            sealed: vec![1; 40]
        }]
    );
    let first = s
        .sealed_values(&a, SealedColumn::EnrollmentTotp, None, 1)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].key,
        hex::encode(t1.0),
        "keyed by token, lower-case hex"
    );
    assert_eq!(
        first[0].aad_row,
        pat.id.to_string(),
        "the AAD names the user"
    );
    let second = s
        .sealed_values(
            &a,
            SealedColumn::EnrollmentTotp,
            Some(first[0].key.clone()),
            1,
        )
        .await
        .unwrap();
    assert_eq!(second[0].key, hex::encode(t2.0));
    assert_eq!(second[0].sealed, vec![3; 40]);
    let bodies = s
        .sealed_values(&a, SealedColumn::MessageBody, None, 10)
        .await
        .unwrap();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0].key, message.to_string());
    for column in SealedColumn::ALL {
        assert!(
            s.sealed_values(&b, column, None, 10)
                .await
                .unwrap()
                .is_empty(),
            "another tenant sees none of {column:?}"
        );
    }

    // Compare-and-swap on each new column; a stale value, or another tenant, changes nothing.
    for (column, key, old) in [
        (
            SealedColumn::UserPendingTotp,
            pat.id.to_string(),
            vec![1; 40],
        ),
        (SealedColumn::EnrollmentTotp, hex::encode(t2.0), vec![3; 40]),
        (SealedColumn::MessageBody, message.to_string(), vec![4; 40]),
    ] {
        assert!(!s
            .replace_sealed(&a, column, &key, &[9; 40], vec![8; 40])
            .await
            .unwrap());
        assert!(!s
            .replace_sealed(&b, column, &key, &old, vec![8; 40])
            .await
            .unwrap());
        assert!(s
            .replace_sealed(&a, column, &key, &old, vec![8; 40])
            .await
            .unwrap());
    }
    let e = s.enrollment(t2).await.unwrap().unwrap();
    assert_eq!(e.pending_totp.as_deref(), Some(&[8u8; 40][..]));
    let e = s.enrollment(t1).await.unwrap().unwrap();
    assert_eq!(
        e.pending_totp.as_deref(),
        Some(&[2u8; 40][..]),
        "the other link kept"
    );

    // Key versions: listed ascending, destroyed once, with the audit entry, per tenant.
    for v in [1, 2, 3] {
        s.insert_data_key(a.tx(), v, vec![v as u8; 60], 1_000)
            .await
            .unwrap();
    }
    s.insert_data_key(b.tx(), 1, vec![9; 60], 1_000)
        .await
        .unwrap();
    assert_eq!(s.data_key_versions(&a).await.unwrap(), [1, 2, 3]);
    let retired = || {
        vec![Draft::new(
            a.chain(),
            2_000,
            Event::KeyRetired {
                purpose: "data-key".into(),
                key_version: 1,
            },
        )]
    };
    let before = s.audit_chain(&a.chain()).await.unwrap().len();
    // A value sealed under version 1 written after a count (`0x01 | version BE | ...`), in any
    // column, stops the destruction inside its transaction; nothing is deleted or logged. Every
    // column holds a value here (a child's three, a bound factor, and those seeded above).
    let child = ChildFields {
        given_name: "Ana".into(),
        family_name: "Rivera".into(),
        preferred_name: None,
        date_of_birth: "2022-03-04".into(),
        classroom_id: None,
        status: "enrolled".into(),
        enrolled_on: None,
        left_on: None,
    };
    let sealed_fields = SealedChildFields {
        allergies: Some(vec![5; 40]),
        medical_notes: Some(vec![6; 40]),
        emergency_contacts: Some(vec![8; 40]),
    };
    s.create_child(a.tx(), ChildId::new(), child, sealed_fields, 1_000)
        .await
        .unwrap();
    s.set_totp(a.tx(), pat.id, vec![9; 40], 0, vec![])
        .await
        .unwrap();
    // Binding clears the pending secret: offer one again.
    s.set_pending_totp(&a, pat.id, Some(vec![1; 40]))
        .await
        .unwrap();
    let mut under_v1 = vec![1u8, 0, 0, 0, 1];
    under_v1.extend_from_slice(&[7; 35]);
    for column in SealedColumn::ALL {
        let v = s
            .sealed_values(&a, column, None, 1)
            .await
            .unwrap()
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{column:?} holds a value"));
        assert!(s
            .replace_sealed(&a, column, &v.key, &v.sealed, under_v1.clone())
            .await
            .unwrap());
        let refused = s.destroy_data_key(a.tx().audit_all(retired()), 1).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{column:?}: {refused:?}"
        );
        assert!(s
            .replace_sealed(&a, column, &v.key, &under_v1, v.sealed.clone())
            .await
            .unwrap());
    }
    assert_eq!(s.data_key_versions(&a).await.unwrap(), [1, 2, 3]);
    assert!(s
        .destroy_data_key(a.tx().audit_all(retired()), 1)
        .await
        .unwrap());
    assert!(!s
        .destroy_data_key(a.tx().audit_all(retired()), 1)
        .await
        .unwrap());
    assert!(!s
        .destroy_data_key(a.tx().audit_all(retired()), 7)
        .await
        .unwrap());
    assert_eq!(s.data_key_versions(&a).await.unwrap(), [2, 3]);
    assert!(s.data_key(&a, 1).await.unwrap().is_none());
    assert_eq!(
        s.data_key_versions(&b).await.unwrap(),
        [1],
        "another tenant keeps its own"
    );
    let chain = s.audit_chain(&a.chain()).await.unwrap();
    assert_eq!(
        chain.len(),
        before + 1,
        "one entry, only for the destruction"
    );
    assert_eq!(chain.last().unwrap().kind, "key_retired");
}
both!(every_sealed_column_pages_swaps_and_key_versions_are_destroyed_once);
