//! Tenants, users and sessions (enrollment links, challenges and password resets:
//! `enrollment_and_resets`).

use kinfold_audit::{Draft, Event};
use kinfold_crypto::token::TokenHash;
use kinfold_store::*;

use crate::{both, Under};

pub async fn tenant(s: &dyn Store, slug: &str) -> TenantScope {
    let (_, scope) = s
        .create_tenant(
            NewTenant {
                slug: slug.into(),
                name: format!("{slug} center"),
                created_ms: 1_000,
            },
            NewTenantTx::new().audit(Draft::new(
                "",
                1_000,
                Event::TenantCreated { slug: slug.into() },
            )),
        )
        .await
        .unwrap();
    scope
}

pub async fn user(s: &dyn Store, scope: &TenantScope, email: &str, role: Role) -> User {
    s.create_user(
        scope.tx(),
        NewUser {
            email: email.into(),
            name: "Test User".into(),
            role,
            password_hash: Some("$argon2id$stub".into()),
            created_ms: 2_000,
        },
    )
    .await
    .unwrap()
}

fn new_session(user: UserId, token: u8, at_ms: i64) -> NewSession {
    NewSession {
        id: SessionId::new(),
        token: TokenHash([token; 32]),
        user_id: user,
        created_ms: at_ms,
        expires_ms: at_ms + 3_600_000,
        client: ClientInfo {
            ip: Some("192.0.2.7".into()),
            user_agent: Some("test".into()),
            device: Some("d1".into()),
        },
    }
}

async fn tenants_are_found_by_slug_and_slugs_are_unique(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let _b = tenant(s, "harbor").await;
    let (t, scope) = s.tenant_by_slug("maple").await.unwrap().unwrap();
    assert_eq!(scope, a);
    assert_eq!(t.name, "maple center");
    assert!(s.tenant_by_slug("nowhere").await.unwrap().is_none());
    let (by_id, id_scope) = s.tenant_by_id(t.id).await.unwrap().unwrap();
    assert_eq!((by_id.slug.as_str(), &id_scope), ("maple", &scope));
    assert!(s.tenant_by_id(TenantId::new()).await.unwrap().is_none());
    let dup = s
        .create_tenant(
            NewTenant {
                slug: "maple".into(),
                name: "again".into(),
                created_ms: 1,
            },
            NewTenantTx::new(),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let slugs: Vec<String> = s
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|(t, _)| t.slug)
        .collect();
    assert_eq!(slugs, ["harbor", "maple"]);
    let d = s.tenant_details(&a).await.unwrap();
    assert_eq!((d.time_zone.as_str(), d.legal_name), ("UTC", None));
    assert_eq!(d.version, 1);
    let changed = TenantDetails {
        legal_name: Some("Maple LLC".into()),
        postal_address: Some("1 Main St".into()),
        time_zone: "Europe/Berlin".into(),
        region: "eu".into(),
        sessions: CenterSessionPolicy {
            idle_timeout_secs: Some(600),
            max_sessions: Some(2),
        },
        version: 1,
    };
    let (written, ended) = s.set_tenant_details(a.tx(), &changed, None).await.unwrap();
    assert_eq!((written.version, ended.len()), (2, 0));
    assert_eq!(s.tenant_details(&a).await.unwrap(), written);
    // The session policy is read with the tenant, as a session's lookup reads it.
    assert_eq!(s.tenant(&a).await.unwrap().sessions, changed.sessions);
    // The schema's last wall: no idle timeout under five minutes, no cap under one.
    for sessions in [
        CenterSessionPolicy {
            idle_timeout_secs: Some(299),
            max_sessions: None,
        },
        CenterSessionPolicy {
            idle_timeout_secs: None,
            max_sessions: Some(0),
        },
    ] {
        let loose = TenantDetails {
            sessions,
            version: written.version,
            ..changed.clone()
        };
        assert!(s.set_tenant_details(a.tx(), &loose, None).await.is_err());
        assert_eq!(s.tenant_details(&a).await.unwrap(), written);
    }
    // Written over version 1 again (an edit that read the details before the one above):
    // refused, and nothing changes.
    let stale = TenantDetails {
        legal_name: Some("Stale LLC".into()),
        ..changed.clone()
    };
    assert!(matches!(
        s.set_tenant_details(a.tx(), &stale, None).await,
        Err(StoreError::WrongState(kinfold_store::STALE_RECORD))
    ));
    assert_eq!(s.tenant_details(&a).await.unwrap(), written);
    // The tenant's creation went into its own chain.
    let kinds: Vec<String> = s
        .audit_chain(&a.chain())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["tenant_created"]);
}
both!(tenants_are_found_by_slug_and_slugs_are_unique);

/// A center lowering its cap ends each person's sessions beyond it, oldest first, with the
/// change: not another person's, not another center's, and not a stale change's.
async fn a_lower_cap_ends_the_sessions_beyond_it_with_the_change(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let b = tenant(s, "harbor").await;
    let ann = user(s, &a, "ann@maple.example", Role::Teacher).await;
    let bo = user(s, &a, "bo@maple.example", Role::Parent).await;
    let cy = user(s, &b, "cy@harbor.example", Role::Teacher).await;
    let mut ann_sessions = Vec::new();
    for i in 0..3u8 {
        let (made, _) = s
            .create_session(
                a.tx(),
                new_session(ann.id, 10 + i, 10_000 + i64::from(i)),
                5,
            )
            .await
            .unwrap();
        ann_sessions.push(made.id);
    }
    s.create_session(a.tx(), new_session(bo.id, 20, 10_000), 5)
        .await
        .unwrap();
    for i in 0..3u8 {
        s.create_session(b.tx(), new_session(cy.id, 30 + i, 10_000 + i64::from(i)), 5)
            .await
            .unwrap();
    }
    let details = s.tenant_details(&a).await.unwrap();
    let lowered = TenantDetails {
        sessions: CenterSessionPolicy {
            idle_timeout_secs: None,
            max_sessions: Some(1),
        },
        ..details.clone()
    };
    // From a stale version: refused, and no session ends.
    let stale = TenantDetails {
        version: details.version + 7,
        ..lowered.clone()
    };
    let cap = Some(LowerCap {
        cap: 1,
        at_ms: 20_000,
    });
    assert!(s.set_tenant_details(a.tx(), &stale, cap).await.is_err());
    assert_eq!(s.live_sessions(&a, ann.id).await.unwrap().len(), 3);
    let (_, ended) = s.set_tenant_details(a.tx(), &lowered, cap).await.unwrap();
    let mut ended_ids: Vec<SessionId> = ended.iter().map(|e| e.id).collect();
    ended_ids.sort_by_key(|id| id.to_string());
    let mut oldest: Vec<SessionId> = ann_sessions[..2].to_vec();
    oldest.sort_by_key(|id| id.to_string());
    assert_eq!(ended_ids, oldest, "Ann's two oldest end");
    let live: Vec<SessionId> = s
        .live_sessions(&a, ann.id)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(live, [ann_sessions[2]], "her newest stays");
    assert_eq!(s.live_sessions(&a, bo.id).await.unwrap().len(), 1);
    assert_eq!(s.live_sessions(&b, cy.id).await.unwrap().len(), 3);
    let evicted = s
        .audit_chain(&a.chain())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "session_evicted")
        .count();
    assert_eq!(evicted, 2);
    // A sign-in after the change is held to the center's cap of 1 by its own transaction,
    // whatever the operator allows: her last session ends with it.
    let (_, evicted) = s
        .create_session(a.tx(), new_session(ann.id, 40, 30_000), 5)
        .await
        .unwrap();
    assert_eq!(
        evicted.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ann_sessions[2]]
    );
    assert_eq!(s.live_sessions(&a, ann.id).await.unwrap().len(), 1);
    // Another center keeps the operator's cap.
    s.create_session(b.tx(), new_session(cy.id, 41, 30_000), 5)
        .await
        .unwrap();
    assert_eq!(s.live_sessions(&b, cy.id).await.unwrap().len(), 4);
}
both!(a_lower_cap_ends_the_sessions_beyond_it_with_the_change);

/// The attacker's version: sign-ins racing the change that lowers the cap. Each sign-in
/// either commits before the change (whose eviction then ends what is beyond the new cap) or
/// reads the new cap in its own transaction; none keeps the old one. With the cap read
/// before the sign-in's transaction, one that read 5 and committed after the change left two
/// sessions alive.
async fn sign_ins_racing_a_lower_cap_never_exceed_it(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let dee = user(s, &a, "dee@maple.example", Role::Teacher).await;
    for round in 0..4u8 {
        let base = 100 * i64::from(round) + 1_000_000;
        let details = s.tenant_details(&a).await.unwrap();
        let open = TenantDetails {
            sessions: CenterSessionPolicy::default(),
            ..details
        };
        let (open, _) = s.set_tenant_details(a.tx(), &open, None).await.unwrap();
        for i in 0..3u8 {
            s.create_session(
                a.tx(),
                new_session(dee.id, 200 + round * 3 + i, base + i64::from(i)),
                5,
            )
            .await
            .unwrap();
        }
        let lowered = TenantDetails {
            sessions: CenterSessionPolicy {
                idle_timeout_secs: None,
                max_sessions: Some(1),
            },
            ..open
        };
        let mut racers = tokio::task::JoinSet::new();
        for i in 0..8u8 {
            let (store, scope) = (u.store.clone(), a.clone());
            racers.spawn(async move {
                let token = round * 10 + i;
                store
                    .create_session(scope.tx(), new_session(dee.id, token, base + 10), 5)
                    .await
                    .map(|_| ())
            });
            if i == 3 {
                let (store, scope, lowered) = (u.store.clone(), a.clone(), lowered.clone());
                racers.spawn(async move {
                    let cap = Some(LowerCap {
                        cap: 1,
                        at_ms: base + 10,
                    });
                    store
                        .set_tenant_details(scope.tx(), &lowered, cap)
                        .await
                        .map(|_| ())
                });
            }
        }
        while let Some(done) = racers.join_next().await {
            done.unwrap().unwrap();
        }
        let live = s.live_sessions(&a, dee.id).await.unwrap();
        assert_eq!(live.len(), 1, "round {round}: {} live sessions", live.len());
    }
}
both!(sign_ins_racing_a_lower_cap_never_exceed_it);

async fn users_belong_to_one_tenant(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let b = tenant(s, "harbor").await;
    let ua = user(s, &a, "pat@example.org", Role::Teacher).await;
    // The same email in another tenant is another user.
    let ub = user(s, &b, "pat@example.org", Role::Parent).await;
    assert_ne!(ua.id, ub.id);
    let dup = s
        .create_user(
            a.tx(),
            NewUser {
                email: "pat@example.org".into(),
                name: "Again".into(),
                role: Role::Parent,
                password_hash: None,
                created_ms: 1,
            },
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    assert_eq!(
        s.user_by_email(&a, "pat@example.org")
            .await
            .unwrap()
            .unwrap()
            .id,
        ua.id
    );
    assert!(
        s.user(&b, ua.id).await.unwrap().is_none(),
        "not across tenants"
    );
    assert_eq!(s.users(&a).await.unwrap().len(), 1);

    // TOTP steps only move forward; recovery codes are single use.
    assert!(s.advance_totp_step(&a, ua.id, 10).await.unwrap());
    assert!(!s.advance_totp_step(&a, ua.id, 10).await.unwrap());
    assert!(!s.advance_totp_step(&a, ua.id, 9).await.unwrap());
    assert!(s.advance_totp_step(&a, ua.id, 11).await.unwrap());
    let codes = vec![TokenHash([1; 32]), TokenHash([2; 32])];
    s.set_totp(a.tx(), ua.id, vec![9; 40], 11, codes)
        .await
        .unwrap();
    assert!(s.user(&a, ua.id).await.unwrap().unwrap().has_mfa());
    assert_eq!(s.unused_recovery_codes(&a, ua.id).await.unwrap(), 2);
    assert!(s
        .use_recovery_code(&a, ua.id, TokenHash([1; 32]), 5)
        .await
        .unwrap());
    assert!(!s
        .use_recovery_code(&a, ua.id, TokenHash([1; 32]), 6)
        .await
        .unwrap());
    assert!(!s
        .use_recovery_code(&b, ua.id, TokenHash([2; 32]), 6)
        .await
        .unwrap());
    assert_eq!(s.unused_recovery_codes(&a, ua.id).await.unwrap(), 1);
}
both!(users_belong_to_one_tenant);

async fn sessions_are_found_by_token_capped_and_ended(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let pat = user(s, &a, "pat@example.org", Role::Teacher).await;
    let mut firsts = Vec::new();
    for i in 0..3u8 {
        let (sess, evicted) = s
            .create_session(a.tx(), new_session(pat.id, i + 1, 10_000 + i64::from(i)), 3)
            .await
            .unwrap();
        assert!(evicted.is_empty());
        firsts.push(sess.id);
    }
    let (_, evicted) = s
        .create_session(a.tx(), new_session(pat.id, 9, 20_000), 3)
        .await
        .unwrap();
    assert_eq!(
        evicted.iter().map(|e| e.id).collect::<Vec<_>>(),
        [firsts[0]]
    );
    assert_eq!(s.live_sessions(&a, pat.id).await.unwrap().len(), 3);

    let ctx = s
        .session_by_token(TokenHash([9; 32]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ctx.scope, a);
    assert_eq!(ctx.user.id, pat.id);
    assert_eq!(ctx.tenant.slug, "maple");
    assert_eq!(ctx.session.ip.as_deref(), Some("192.0.2.7"));
    assert!(s
        .session_by_token(TokenHash([77; 32]))
        .await
        .unwrap()
        .is_none());

    s.touch_session(&a, ctx.session.id, 30_000).await.unwrap();
    let ended = s
        .end_session(
            a.tx(),
            ctx.session.id,
            Some(pat.id),
            EndReason::SignedOut,
            31_000,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.last_seen_ms, 30_000);
    assert_eq!(ended.end_reason.as_deref(), Some("signed_out"));
    assert!(
        s.end_session(a.tx(), ctx.session.id, None, EndReason::Revoked, 32_000)
            .await
            .unwrap()
            .is_none(),
        "ending twice is a no-op"
    );
    let rest = s
        .end_user_sessions(a.tx(), pat.id, EndReason::Revoked, 33_000)
        .await
        .unwrap();
    assert_eq!(rest.len(), 2);
    assert!(s.live_sessions(&a, pat.id).await.unwrap().is_empty());
}
both!(sessions_are_found_by_token_capped_and_ended);

async fn touches_go_forward_and_a_lower_cap_evicts_every_extra_session(u: &Under) {
    let s = &*u.store;
    let a = tenant(s, "maple").await;
    let pat = user(s, &a, "pat@example.org", Role::Teacher).await;
    let sam = user(s, &a, "sam@example.org", Role::Teacher).await;
    let mut ids = Vec::new();
    for i in 0..3u8 {
        let (sess, _) = s
            .create_session(a.tx(), new_session(pat.id, i + 1, 10_000 + i64::from(i)), 5)
            .await
            .unwrap();
        ids.push(sess.id);
    }
    let last_seen = |list: Vec<Session>, id| list.into_iter().find(|x| x.id == id).unwrap();

    s.touch_session(&a, ids[0], 50_000).await.unwrap();
    s.touch_session(&a, ids[0], 40_000).await.unwrap();
    let live = s.live_sessions(&a, pat.id).await.unwrap();
    assert_eq!(last_seen(live, ids[0]).last_seen_ms, 50_000, "a late touch");

    let other = s
        .end_session(a.tx(), ids[0], Some(sam.id), EndReason::SignedOut, 30_000)
        .await
        .unwrap();
    assert!(other.is_none(), "another user's session is not ended");

    // Cap 2 with a fourth session: the two oldest go, in one change.
    let (newest, evicted) = s
        .create_session(a.tx(), new_session(pat.id, 4, 20_000), 2)
        .await
        .unwrap();
    assert_eq!(
        evicted.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[1], ids[0]]
    );
    for token in [1u8, 2] {
        let ctx = s
            .session_by_token(TokenHash([token; 32]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ctx.session.ended_ms, Some(20_000));
        assert_eq!(ctx.session.end_reason.as_deref(), Some("evicted"));
    }
    let live: Vec<SessionId> = s
        .live_sessions(&a, pat.id)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(live, [newest.id, ids[2]]);

    // A password change keeps the session that made it and ends the rest.
    let ended = s
        .set_password(a.tx(), pat.id, "h2".into(), Some(newest.id), 21_000)
        .await
        .unwrap();
    assert_eq!(ended.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[2]]);
    let live = s.live_sessions(&a, pat.id).await.unwrap();
    assert_eq!(live.iter().map(|x| x.id).collect::<Vec<_>>(), [newest.id]);
}
both!(touches_go_forward_and_a_lower_cap_evicts_every_extra_session);
