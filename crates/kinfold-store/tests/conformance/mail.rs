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
    s.add_mail_domain(d.clone(), vec![]).await.unwrap();
    let again = s.add_mail_domain(d.clone(), vec![]).await;
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
            },
        )]
    };
    assert!(s
        .opt_out(&a, "g1", "announcement", 5, draft())
        .await
        .unwrap());
    assert!(
        !s.opt_out(&a, "g1", "announcement", 6, draft())
            .await
            .unwrap(),
        "once"
    );
    assert!(s
        .opt_out(&a, "g1", "daily_report", 7, vec![])
        .await
        .unwrap());
    assert_eq!(
        s.opt_outs(&a, "g1").await.unwrap(),
        ["announcement", "daily_report"]
    );
    assert!(s.opt_outs(&a, "g2").await.unwrap().is_empty());
    assert!(s.opt_outs(&b, "g1").await.unwrap().is_empty(), "per tenant");
    let audited = s.audit_chain(&a.chain()).await.unwrap();
    assert_eq!(
        audited.len(),
        2,
        "tenant_created and the first opt-out only"
    );
}
both!(opt_outs_are_per_recipient_category_and_tenant);
