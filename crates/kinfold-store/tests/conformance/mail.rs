//! Sending domains.

use kinfold_store::*;

use crate::{both, Under};

async fn sending_domains_are_added_once_and_listed(u: &Under) {
    let s = &*u.store;
    let d = MailDomain {
        domain: "mail.example.org".into(),
        rsa_selector: "kf-rsa-20261122".into(),
        rsa_key: vec![1; 1200],
        ed25519_selector: "kf-ed-20261122".into(),
        ed25519_key: vec![2; 80],
        created_ms: 7,
    };
    s.add_mail_domain(d.clone(), PlatformTx::new())
        .await
        .unwrap();
    let again = s.add_mail_domain(d.clone(), PlatformTx::new()).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let listed = s.mail_domains().await.unwrap();
    assert_eq!(listed.len(), 1);
    let got = &listed[0];
    assert_eq!(
        (&got.domain, &got.rsa_key, &got.ed25519_key, got.created_ms),
        (&d.domain, &d.rsa_key, &d.ed25519_key, 7)
    );
    assert!(
        !format!("{got:?}").contains("[1, 1"),
        "Debug leaves the keys out"
    );
}
both!(sending_domains_are_added_once_and_listed);

async fn opt_outs_are_per_recipient_category_and_tenant(u: &Under) {
    let s = &*u.store;
    let a = crate::tenants_and_sessions::tenant(s, "maple").await;
    let b = crate::tenants_and_sessions::tenant(s, "harbor").await;
    let draft = || {
        vec![kinfold_audit::Draft::new(
            a.chain(),
            5,
            kinfold_audit::Event::Throttled {
                email: "x@example.org".into(),
                retry_after_secs: 0,
                refused: None,
            },
        )]
    };
    assert!(s
        .opt_out(a.tx().audit_all(draft()), "g1", "announcement", 5)
        .await
        .unwrap());
    assert!(
        !s.opt_out(a.tx().audit_all(draft()), "g1", "announcement", 6)
            .await
            .unwrap(),
        "once"
    );
    assert!(s.opt_out(a.tx(), "g1", "daily_report", 7).await.unwrap());
    assert_eq!(
        s.opt_outs(&a, "g1").await.unwrap(),
        ["announcement", "daily_report"]
    );
    assert!(s.opt_outs(&a, "g2").await.unwrap().is_empty());
    assert!(s.opt_outs(&b, "g1").await.unwrap().is_empty(), "per tenant");
    let ids = ["g1".to_owned(), "g2".to_owned()];
    assert_eq!(
        s.opted_out(&a, "announcement", &ids).await.unwrap(),
        ["g1"],
        "one query for a whole audience"
    );
    assert!(s
        .opted_out(&a, "attendance", &ids)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .opted_out(&b, "announcement", &ids)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .opted_out(&a, "announcement", &[])
        .await
        .unwrap()
        .is_empty());
    let audited = s.audit_chain(&a.chain()).await.unwrap();
    assert_eq!(
        audited.len(),
        2,
        "tenant_created and the first opt-out only"
    );
}
both!(opt_outs_are_per_recipient_category_and_tenant);

/// The log entry a claim writes for a delivery its lease ran out on mid-send.
fn interrupted(lost: kinfold_store::outbox::Interrupted, at_ms: i64) -> kinfold_audit::Draft {
    kinfold_audit::Draft::new(
        lost.scope.chain(),
        at_ms,
        kinfold_audit::Event::EmailDelivery {
            delivery_id: lost.id.to_string(),
            message_id: lost.header_id,
            recipient: String::new(),
            status: "failed".into(),
            attempt: 0,
            response: "interrupted".into(),
        },
    )
}

/// The outbox (E1, O2): a delivery is leased once; an outcome is written once; a lease that
/// runs out while `sending` becomes `failed` with its log entry and is never leased again
/// (at-most-once); a bounce suppresses the address; another tenant sees none of it.
async fn outbox_leases_once_and_fails_interrupted_sends(u: &Under) {
    use kinfold_store::outbox::*;
    use uuid::Uuid;
    let s = &*u.store;
    let a = crate::tenants_and_sessions::tenant(s, "maple").await;
    let b = crate::tenants_and_sessions::tenant(s, "harbor").await;
    let message = Uuid::now_v7();
    let delivery = |n: u32, state: DeliveryState| {
        let id = Uuid::now_v7();
        NewDelivery {
            id,
            recipient_id: format!("g{n}"),
            recipient_name: format!("Guardian {n}"),
            address: format!("G{n}@Families.test"),
            header_id: format!("{id}@mail.example.org"),
            state,
            response: None,
        }
    };
    let list = vec![
        delivery(1, DeliveryState::Queued),
        delivery(2, DeliveryState::Queued),
        delivery(3, DeliveryState::Queued),
        delivery(4, DeliveryState::Suppressed),
        delivery(5, DeliveryState::Queued),
    ];
    let queued = kinfold_audit::Draft::new(
        a.chain(),
        5_000,
        kinfold_audit::Event::MessageQueued {
            message_id: message.to_string(),
            category: "announcement".into(),
            by: "admin".into(),
            recipients: 4,
            suppressed: 1,
        },
    );
    let m = NewMessage {
        id: message,
        category: "announcement".into(),
        created_by: None,
        body: vec![7; 40],
        created_ms: 5_000,
    };
    s.enqueue_message(a.tx().audit(queued), m.clone(), list.clone())
        .await
        .unwrap();
    let again = s.enqueue_message(a.tx(), m, vec![]).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

    assert!(
        s.outbox_tenants(4_999).await.unwrap().is_empty(),
        "not due yet"
    );
    assert_eq!(s.outbox_tenants(5_000).await.unwrap(), [a.tenant_id()]);
    let log = |lost: Interrupted| interrupted(lost, 9_000);
    let first = s
        .claim_deliveries(a.tenant_id(), 5_000, 8_000, 2, &log)
        .await
        .unwrap();
    assert_eq!(first.len(), 2, "the limit holds");
    assert_eq!(first[0].body, vec![7; 40]);
    assert_eq!(first[0].category, "announcement");
    let second = s
        .claim_deliveries(a.tenant_id(), 5_000, 8_000, 10, &log)
        .await
        .unwrap();
    assert_eq!(second.len(), 2, "a leased delivery is not leased again");
    assert!(s
        .claim_deliveries(a.tenant_id(), 5_000, 8_000, 10, &log)
        .await
        .unwrap()
        .is_empty());
    assert!(
        s.claim_deliveries(b.tenant_id(), 5_000, 8_000, 10, &log)
            .await
            .unwrap()
            .is_empty(),
        "another tenant's work"
    );

    let outcome = |state, at_ms| Outcome {
        state,
        response: "250 ok".into(),
        next_ms: at_ms,
        at_ms,
    };
    assert!(s
        .finish_delivery(
            a.tx(),
            first[0].id,
            first[0].lease,
            outcome(DeliveryState::Delivered, 6_000),
        )
        .await
        .unwrap());
    assert!(
        !s.finish_delivery(
            a.tx(),
            first[0].id,
            first[0].lease,
            outcome(DeliveryState::Failed, 6_001),
        )
        .await
        .unwrap(),
        "an outcome is written once"
    );
    assert!(
        !s.finish_delivery(
            b.tx(),
            first[1].id,
            first[1].lease,
            outcome(DeliveryState::Delivered, 6_000),
        )
        .await
        .unwrap(),
        "not through another tenant"
    );
    assert!(s
        .finish_delivery(
            a.tx(),
            first[1].id,
            first[1].lease,
            outcome(DeliveryState::Bounced, 6_000),
        )
        .await
        .unwrap());
    let bounced = first[1].address.to_lowercase();
    assert_eq!(
        s.suppressed(&a, &[bounced.clone(), "other@x.test".into()])
            .await
            .unwrap(),
        std::slice::from_ref(&bounced)
    );
    assert!(s.suppressed(&b, &[bounced]).await.unwrap().is_empty());

    // Two stay `sending` past their lease, as if the process died: one in the middle of the
    // SMTP transaction (handed over), one before it.
    assert!(s
        .hand_over(&a, second[0].id, second[0].lease, 6_500)
        .await
        .unwrap());
    assert!(
        !s.hand_over(&a, first[0].id, first[0].lease, 6_500)
            .await
            .unwrap(),
        "only a leased delivery is handed over"
    );
    assert!(
        !s.hand_over(&b, second[1].id, second[1].lease, 6_500)
            .await
            .unwrap(),
        "not through another tenant"
    );
    assert!(
        !s.hand_over(&a, second[1].id, second[1].lease, 8_500)
            .await
            .unwrap(),
        "not after the lease ran out"
    );
    assert!(s.outbox_tenants(7_999).await.unwrap().is_empty());
    assert_eq!(s.outbox_tenants(8_001).await.unwrap(), [a.tenant_id()]);
    let after = s
        .claim_deliveries(a.tenant_id(), 8_001, 20_000, 10, &log)
        .await
        .unwrap();
    assert_eq!(
        after.iter().map(|c| c.id).collect::<Vec<_>>(),
        [second[1].id],
        "the one never handed over is leased again; the interrupted one never is"
    );
    // The worker that held the old lease has lost it: it can neither hand over nor finish.
    assert!(!s
        .hand_over(&a, second[1].id, second[1].lease, 8_100)
        .await
        .unwrap());
    assert!(!s
        .finish_delivery(
            a.tx(),
            second[1].id,
            second[1].lease,
            outcome(DeliveryState::Deferred, 8_100),
        )
        .await
        .unwrap());
    assert!(s
        .hand_over(&a, after[0].id, after[0].lease, 8_100)
        .await
        .unwrap());
    assert!(
        !s.hand_over(&a, after[0].id, after[0].lease, 8_101)
            .await
            .unwrap(),
        "handed over once"
    );
    assert!(s
        .finish_delivery(
            a.tx(),
            after[0].id,
            after[0].lease,
            outcome(DeliveryState::Delivered, 9_000),
        )
        .await
        .unwrap());
    assert!(s.outbox_tenants(30_000).await.unwrap().is_empty());
    assert!(
        !s.finish_delivery(
            a.tx(),
            second[0].id,
            second[0].lease,
            outcome(DeliveryState::Delivered, 8_002),
        )
        .await
        .unwrap(),
        "a late outcome does not revive it"
    );

    let st = s.message_status(&a, message).await.unwrap().unwrap();
    let states: std::collections::HashMap<_, _> = st
        .deliveries
        .iter()
        .map(|d| (d.id, (d.state, d.attempts, d.response.clone())))
        .collect();
    assert_eq!(states[&first[0].id].0, DeliveryState::Delivered);
    assert_eq!(states[&first[0].id].1, 1);
    assert_eq!(states[&first[1].id].0, DeliveryState::Bounced);
    assert_eq!(states[&second[0].id].0, DeliveryState::Failed);
    assert!(states[&second[0].id]
        .2
        .as_deref()
        .unwrap()
        .contains("interrupted"));
    assert_eq!(states[&list[3].id].0, DeliveryState::Suppressed);
    assert!(s.message_status(&b, message).await.unwrap().is_none());
    let kinds: Vec<String> = s
        .audit_chain(&a.chain())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        ["tenant_created", "message_queued", "email_delivery"],
        "the queueing and the interruption are logged with their changes"
    );
}
both!(outbox_leases_once_and_fails_interrupted_sends);

/// A report without a Message-ID is matched by address (E5) only when one tenant has mailed that
/// address: if two have, it matches neither, so one center's report cannot suppress or bounce
/// another center's recipient.
async fn a_report_without_message_id_matches_only_an_address_one_tenant_wrote_to(u: &Under) {
    use kinfold_store::outbox::*;
    use uuid::Uuid;
    let s = &*u.store;
    let a = crate::tenants_and_sessions::tenant(s, "maple").await;
    let b = crate::tenants_and_sessions::tenant(s, "harbor").await;
    let mut header_ids = Vec::new();
    // Each tenant sends one message to the same address and it is delivered.
    let deliver = |scope: TenantScope, at: i64| async move {
        let id = Uuid::now_v7();
        let header_id = format!("{id}@mail.example.org");
        let m = NewMessage {
            id: Uuid::now_v7(),
            category: "announcement".into(),
            created_by: None,
            body: vec![7; 40],
            created_ms: at,
        };
        let d = NewDelivery {
            id,
            recipient_id: "g1".into(),
            recipient_name: "Guardian".into(),
            address: "Shared@Families.test".into(),
            header_id: header_id.clone(),
            state: DeliveryState::Queued,
            response: None,
        };
        s.enqueue_message(scope.tx(), m, vec![d]).await.unwrap();
        let log = |lost: Interrupted| interrupted(lost, at);
        let claimed = s
            .claim_deliveries(scope.tenant_id(), at, at + 1_000, 10, &log)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        let done = Outcome {
            state: DeliveryState::Delivered,
            response: "250 ok".into(),
            next_ms: at,
            at_ms: at,
        };
        assert!(s
            .finish_delivery(scope.tx(), id, claimed[0].lease, done)
            .await
            .unwrap());
        header_id
    };
    header_ids.push(deliver(a.clone(), 5_000).await);

    let found = s
        .find_delivery(None, "shared@families.TEST")
        .await
        .unwrap()
        .expect("one tenant wrote to it: matched by address, case-insensitively");
    assert_eq!(found.scope.tenant_id(), a.tenant_id());
    assert_eq!(found.header_id, header_ids[0]);

    header_ids.push(deliver(b.clone(), 6_000).await);
    assert!(
        s.find_delivery(None, "shared@families.test")
            .await
            .unwrap()
            .is_none(),
        "two tenants wrote to it: a report without a Message-ID matches neither"
    );
    // With the Message-ID, each report still finds its own tenant's delivery.
    for (scope, header_id) in [(&a, &header_ids[0]), (&b, &header_ids[1])] {
        let f = s
            .find_delivery(Some(header_id), "shared@families.test")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f.scope.tenant_id(), scope.tenant_id());
    }
    assert!(s
        .find_delivery(Some("unknown@mail.example.org"), "shared@families.test")
        .await
        .unwrap()
        .is_none());
}
both!(a_report_without_message_id_matches_only_an_address_one_tenant_wrote_to);
