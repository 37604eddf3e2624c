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
