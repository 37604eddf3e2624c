//! Enrollment links, MFA challenges and password-reset links: each works once, and a reset
//! changes the password and ends the sessions in one transaction.

use kinfold_crypto::token::TokenHash;
use kinfold_store::*;

use crate::tenants_and_sessions::{tenant, user};
use crate::{both, Under};

async fn enrollment_links_and_challenges_are_single_use(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let pat = user(s, &a, "pat@example.org", Role::Teacher).await;
    let t1 = TokenHash([5; 32]);
    s.create_enrollment(a.tx(), pat.id, t1, 100_000, 1_000)
        .await
        .unwrap();
    let e = s.enrollment(t1).await.unwrap().unwrap();
    assert_eq!((e.scope, e.user_id), (a.clone(), pat.id));
    s.set_enrollment_secret(t1, vec![3; 40]).await.unwrap();
    assert_eq!(
        s.enrollment(t1).await.unwrap().unwrap().pending_totp,
        Some(vec![3; 40])
    );
    assert!(!s.consume_enrollment(t1, 200_000).await.unwrap(), "expired");
    assert!(s.consume_enrollment(t1, 2_000).await.unwrap());
    assert!(
        !s.consume_enrollment(t1, 2_001).await.unwrap(),
        "single use"
    );
    // A new link replaces an unused earlier one.
    let t2 = TokenHash([6; 32]);
    let t3 = TokenHash([7; 32]);
    s.create_enrollment(a.tx(), pat.id, t2, 100_000, 3_000)
        .await
        .unwrap();
    s.create_enrollment(a.tx(), pat.id, t3, 100_000, 4_000)
        .await
        .unwrap();
    assert!(!s.consume_enrollment(t2, 5_000).await.unwrap());
    assert!(s.consume_enrollment(t3, 5_000).await.unwrap());

    let c = TokenHash([8; 32]);
    s.create_challenge(&a, pat.id, c, 50_000, &ClientInfo::default())
        .await
        .unwrap();
    assert_eq!(s.attempt_challenge(c).await.unwrap().unwrap().attempts, 1);
    let again = s.attempt_challenge(c).await.unwrap().unwrap();
    assert_eq!((again.attempts, again.scope), (2, a.clone()));
    assert!(s.consume_challenge(c, 6_000).await.unwrap());
    assert!(!s.consume_challenge(c, 6_001).await.unwrap());
    assert!(s
        .attempt_challenge(TokenHash([99; 32]))
        .await
        .unwrap()
        .is_none());
}
both!(enrollment_links_and_challenges_are_single_use);

async fn a_password_reset_link_works_once_and_changes_password_and_sessions_together(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let b = tenant(s, "birch").await;
    let pat = user(s, &a, "pat@example.org", Role::Parent).await;
    let bo = user(s, &b, "bo@example.org", Role::Parent).await;
    let live = |id: UserId, scope: &TenantScope| {
        let scope = scope.clone();
        async move { s.live_sessions(&scope, id).await.unwrap().len() }
    };
    for (n, scope, id) in [(1u8, &a, pat.id), (2, &a, pat.id), (3, &b, bo.id)] {
        s.create_session(
            scope.tx(),
            NewSession {
                id: SessionId::new(),
                token: TokenHash([40 + n; 32]),
                user_id: id,
                created_ms: 1_000,
                expires_ms: 900_000,
                client: ClientInfo::default(),
            },
            5,
        )
        .await
        .unwrap();
    }
    // An enrollment link still out (say, after an MFA reset) dies with the reset.
    let enroll = TokenHash([23; 32]);
    s.create_enrollment(a.tx(), pat.id, enroll, 100_000, 1_000)
        .await
        .unwrap();
    let (t1, t2) = (TokenHash([21; 32]), TokenHash([22; 32]));
    s.create_password_reset(a.tx(), pat.id, t1, 100_000, 1_000)
        .await
        .unwrap();
    let r1 = s.password_reset(t1).await.unwrap().unwrap();
    assert_eq!(
        (r1.scope.clone(), r1.user_id, r1.used_ms),
        (a.clone(), pat.id, None)
    );
    assert!(s
        .password_reset(TokenHash([99; 32]))
        .await
        .unwrap()
        .is_none());
    // A second link supersedes the first.
    s.create_password_reset(a.tx(), pat.id, t2, 100_000, 2_000)
        .await
        .unwrap();
    assert_eq!(
        s.password_reset(t1).await.unwrap().unwrap().used_ms,
        Some(2_000)
    );
    assert!(s
        .reset_password(r1.scope.tx(), r1.user_id, t1, "h1".into(), 3_000)
        .await
        .unwrap()
        .is_none());
    let r2 = s.password_reset(t2).await.unwrap().unwrap();
    // Expired: nothing changes.
    assert!(s
        .reset_password(r2.scope.tx(), r2.user_id, t2, "h2".into(), 100_001)
        .await
        .unwrap()
        .is_none());
    // Claimed for another user or tenant: nothing changes.
    let forged = PasswordReset {
        scope: b.clone(),
        user_id: bo.id,
        ..r2.clone()
    };
    assert!(s
        .reset_password(forged.scope.tx(), forged.user_id, t2, "h2".into(), 4_000)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        s.user(&b, bo.id).await.unwrap().unwrap().password_hash,
        bo.password_hash
    );
    assert_eq!((live(pat.id, &a).await, live(bo.id, &b).await), (2, 1));
    let ended = s
        .reset_password(r2.scope.tx(), r2.user_id, t2, "h2".into(), 4_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.len(), 2);
    assert_eq!(
        s.user(&a, pat.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .as_deref(),
        Some("h2")
    );
    assert_eq!((live(pat.id, &a).await, live(bo.id, &b).await), (0, 1));
    assert!(
        s.reset_password(r2.scope.tx(), r2.user_id, t2, "h3".into(), 4_001)
            .await
            .unwrap()
            .is_none(),
        "single use"
    );
    assert!(
        !s.consume_enrollment(enroll, 4_002).await.unwrap(),
        "the reset voided the enrollment link"
    );
    // A password change and an MFA reset each void the reset links still out.
    for (n, void) in [(31u8, "password change"), (32, "MFA reset")] {
        let t = TokenHash([n; 32]);
        s.create_password_reset(a.tx(), pat.id, t, 100_000, 5_000)
            .await
            .unwrap();
        let r = s.password_reset(t).await.unwrap().unwrap();
        if n == 31 {
            s.set_password(a.tx(), pat.id, "h4".into(), None, 5_001)
                .await
                .unwrap();
        } else {
            s.reset_mfa(a.tx(), pat.id, 5_001).await.unwrap();
        }
        assert!(
            s.reset_password(r.scope.tx(), r.user_id, t, "h5".into(), 5_002)
                .await
                .unwrap()
                .is_none(),
            "{void} voids the link"
        );
    }
}
both!(a_password_reset_link_works_once_and_changes_password_and_sessions_together);
