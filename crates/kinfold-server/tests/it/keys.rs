#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! D3: key rotation reseals every value sealed with a tenant data key (children's fields, TOTP
//! secrets bound, pending and offered on enrollment links, outbox messages with their reset and
//! enrollment links), and a version that seals nothing can be retired (destroyed, audited).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use kinfold_core::keys::{KeyVersionStatus, Slot};
use kinfold_core::{Core, CoreError, Settings};
use kinfold_store::{SealedColumn, Store, TenantScope, UserId};
use serde_json::json;

use crate::harness::TestApp;

/// Every sealed value of the tenant, read raw from the database: (column, key version).
async fn sealed_versions(app: &TestApp, tenant: &str) -> Vec<(&'static str, u32)> {
    let raw = app.raw().await;
    let mut out = Vec::new();
    for (sql, names) in [
        (
            "SELECT allergies, medical_notes, emergency_contacts FROM children WHERE tenant_id = $1",
            &["allergies", "medical_notes", "emergency_contacts"][..],
        ),
        (
            "SELECT totp_sealed, pending_totp FROM users WHERE tenant_id = $1",
            &["totp_sealed", "pending_totp"][..],
        ),
        (
            "SELECT pending_totp FROM enrollments WHERE tenant_id = $1",
            &["enrollment_totp"][..],
        ),
        (
            "SELECT body FROM email_messages WHERE tenant_id = $1",
            &["message_body"][..],
        ),
    ] {
        for row in raw.blobs(sql, &[tenant]).await {
            for (name, b) in names.iter().zip(row) {
                if let Some(b) = b {
                    out.push((*name, kinfold_crypto::seal::key_version(&b).unwrap()));
                }
            }
        }
    }
    out
}

fn per_version(v: &[(&'static str, u32)]) -> BTreeMap<u32, u64> {
    let mut m = BTreeMap::new();
    for (_, version) in v {
        *m.entry(*version).or_default() += 1;
    }
    m
}

/// A value in every sealed column: children and staff TOTP (seeded), a parent's pending TOTP,
/// a secret offered on an enrollment link, and outbox messages (an announcement, and the
/// enrollment link an MFA reset emails).
async fn every_kind_of_sealed_value(m: &crate::messages::Mail) {
    let (app, t) = (&m.app, &m.t);
    let parent = app.sign_in(&t.slug, &t.parent).await;
    let r = app
        .post("/api/v1/me/mfa/totp", json!({}), Some(&parent))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .post(
            &format!("/api/v1/users/{}/mfa/reset", t.front_desk.id),
            json!({}),
            Some(&m.admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let teacher = UserId::parse(&t.teacher.id).unwrap();
    let token = app
        .core
        .auth()
        .issue_enrollment(&t.scope, teacher, "test")
        .await
        .unwrap();
    app.core
        .auth()
        .enrollment_begin(token.expose())
        .await
        .unwrap();
    let r = app
        .post(
            "/api/v1/messages",
            json!({"category": "announcement", "audience": {"all": true},
                   "subject": "Hello", "text": "Hi."}),
            Some(&m.admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let tenant = t.scope.tenant_id().to_string();
    let kinds: Vec<&str> = sealed_versions(app, &tenant)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for k in [
        "allergies",
        "totp_sealed",
        "pending_totp",
        "enrollment_totp",
        "message_body",
    ] {
        assert!(kinds.contains(&k), "no {k} in {kinds:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_reseals_every_sealed_value() {
    let m = crate::messages::ready().await;
    every_kind_of_sealed_value(&m).await;
    let (app, t) = (&m.app, &m.t);
    let tenant = t.scope.tenant_id().to_string();
    let before = sealed_versions(app, &tenant).await;
    assert!(before.iter().all(|(_, v)| *v == 1), "{before:?}");

    let report = app.core.rotate_data_key(&t.scope, |_| {}).await.unwrap();
    assert_eq!(report.new_version, 2);
    let after = sealed_versions(app, &tenant).await;
    let left: Vec<_> = after.iter().filter(|(_, v)| *v != 2).collect();
    assert!(left.is_empty(), "left under the old key: {left:?}");
    assert_eq!(per_version(&after)[&2], before.len() as u64);
}

fn status(version: u32, sealed: u64, current: bool) -> KeyVersionStatus {
    KeyVersionStatus {
        version,
        sealed,
        current,
        stored: true,
    }
}

/// Opens every sealed value of the tenant in `store` through `core`; returns how many opened.
async fn open_all(core: &Core, store: &dyn Store, scope: &TenantScope) -> u64 {
    let mut n = 0;
    for column in SealedColumn::ALL {
        let (table, col) = column.aad_names();
        let mut after = None;
        loop {
            let page = store
                .sealed_values(scope, column, after.take(), 50)
                .await
                .unwrap();
            for v in &page {
                let slot = Slot {
                    table,
                    column: col,
                    row: &v.aad_row,
                };
                core.keys().open(scope, slot, &v.sealed).await.unwrap();
                n += 1;
            }
            match page.last() {
                Some(last) if page.len() == 50 => after = Some(last.key.clone()),
                _ => break,
            }
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_rotation_and_retirement_nothing_opens_with_the_old_version_and_everything_opens() {
    let m = crate::messages::ready().await;
    every_kind_of_sealed_value(&m).await;
    let (app, t) = (&m.app, &m.t);
    let (core, scope) = (&app.core, &t.scope);
    let tenant = scope.tenant_id().to_string();
    let total = sealed_versions(app, &tenant).await.len() as u64;
    assert_eq!(
        core.data_key_status(scope).await.unwrap(),
        [status(1, total, true)]
    );

    // Nothing is retired while it seals values, or while it is current, or if it never was.
    let refused = core.retire_data_key(scope, 1).await.unwrap_err();
    assert!(matches!(refused, CoreError::WrongState(_)), "{refused:?}");
    core.rotate_data_key(scope, |_| {}).await.unwrap();
    assert_eq!(
        core.data_key_status(scope).await.unwrap(),
        [status(1, 0, false), status(2, total, true)]
    );
    let refused = core.retire_data_key(scope, 2).await.unwrap_err();
    assert!(matches!(refused, CoreError::WrongState(_)), "{refused:?}");
    for v in [0, 3, u32::MAX] {
        let refused = core.retire_data_key(scope, v).await.unwrap_err();
        assert!(
            matches!(refused, CoreError::NotFound(_)),
            "{v}: {refused:?}"
        );
    }

    // Retired: gone from the store, audited; a second retirement finds nothing.
    core.retire_data_key(scope, 1).await.unwrap();
    assert!(app.store.data_key(scope, 1).await.unwrap().is_none());
    let again = core.retire_data_key(scope, 1).await.unwrap_err();
    assert!(matches!(again, CoreError::NotFound(_)), "{again:?}");

    // Rotate again and retire version 2 from several callers at once: one destroys it.
    core.rotate_data_key(scope, |_| {}).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (core, scope) = (core.clone(), scope.clone());
        tasks.push(tokio::spawn(async move {
            core.retire_data_key(&scope, 2).await.is_ok()
        }));
    }
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.unwrap());
    }
    assert_eq!(won, 1, "one caller retires a version");
    app.flush_audit().await;
    let kinds = app.audit_kinds(scope).await;
    assert_eq!(kinds.iter().filter(|k| *k == "key_retired").count(), 2);

    // Nothing in the store names an old version, whose keys are gone...
    let after = sealed_versions(app, &tenant).await;
    assert_eq!(per_version(&after), BTreeMap::from([(3, total)]));
    assert_eq!(app.store.data_key_versions(scope).await.unwrap(), [3]);
    assert_eq!(
        core.data_key_status(scope).await.unwrap(),
        [status(3, total, true)]
    );
    // ...and every value opens, through a node started afresh (no key cached), and in use.
    let fresh = Core::new(
        app.store.clone(),
        app.key.clone(),
        app.clock.clone(),
        Settings::default(),
    );
    assert_eq!(open_all(&fresh, app.store.as_ref(), scope).await, total);
    app.sign_in(&t.slug, &t.teacher).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let child = app
        .get(&format!("/api/v1/children/{}", m.r.a), Some(&admin))
        .await;
    assert_eq!(child.status, StatusCode::OK, "{}", child.text);
}
