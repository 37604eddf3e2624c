#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A4: idle and absolute expiry on every request, the per-user cap, listing and revoking.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::{TestApp, PASSWORD};

#[tokio::test]
async fn an_idle_session_is_refused() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let cookie = app.sign_in(&t.slug, &t.parent).await;
    // Activity inside the window keeps it alive...
    for _ in 0..3 {
        app.advance(Duration::from_secs(7 * 3600));
        assert_eq!(
            app.get("/api/v1/me", Some(&cookie)).await.status,
            StatusCode::OK
        );
    }
    // ...and 8 h of silence ends it.
    app.advance(Duration::from_secs(8 * 3600 + 1));
    let r = app.get("/api/v1/me", Some(&cookie)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let kinds = app.audit_kinds(&t.scope).await;
    assert!(kinds.contains(&"session_expired".into()));
}

#[tokio::test]
async fn a_short_idle_timeout_works_with_lazy_last_seen() {
    let app = TestApp::with(|s, _| s.session_idle_timeout = Duration::from_secs(3)).await;
    let t = app.seed().await;
    let cookie = app.sign_in(&t.slug, &t.parent).await;
    for _ in 0..5 {
        app.advance(Duration::from_secs(2));
        assert_eq!(
            app.get("/api/v1/me", Some(&cookie)).await.status,
            StatusCode::OK
        );
    }
    app.advance(Duration::from_secs(4));
    assert_eq!(
        app.get("/api/v1/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn staff_sessions_end_after_12_hours_even_when_active() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let cookie = app.sign_in(&t.slug, &t.teacher).await;
    for _ in 0..11 {
        app.advance(Duration::from_secs(3600));
        assert_eq!(
            app.get("/api/v1/me", Some(&cookie)).await.status,
            StatusCode::OK
        );
    }
    app.advance(Duration::from_secs(3601));
    assert_eq!(
        app.get("/api/v1/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_oldest_session_is_evicted_at_the_cap() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let mut cookies = Vec::new();
    for _ in 0..5 {
        cookies.push(app.sign_in(&t.slug, &t.parent).await);
        app.advance(Duration::from_secs(1));
    }
    for c in &cookies {
        assert_eq!(app.get("/api/v1/me", Some(c)).await.status, StatusCode::OK);
    }
    let sixth = app.sign_in(&t.slug, &t.parent).await;
    assert_eq!(
        app.get("/api/v1/me", Some(&cookies[0])).await.status,
        StatusCode::UNAUTHORIZED,
        "oldest evicted"
    );
    for c in cookies.iter().skip(1).chain([&sixth]) {
        assert_eq!(app.get("/api/v1/me", Some(c)).await.status, StatusCode::OK);
    }
    let list = app.get("/api/v1/sessions", Some(&sixth)).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 5);
    assert!(app
        .audit_kinds(&t.scope)
        .await
        .contains(&"session_evicted".into()));
}

#[tokio::test]
async fn users_list_and_revoke_their_own_sessions_only() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let a = app.sign_in(&t.slug, &t.parent).await;
    let b = app.sign_in(&t.slug, &t.parent).await;
    let list = app.get("/api/v1/sessions", Some(&a)).await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for key in [
        "id",
        "created_at",
        "last_seen_at",
        "ip",
        "device",
        "user_agent",
        "current",
    ] {
        assert!(items[0].get(key).is_some(), "session field {key}");
    }
    let other = items.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/sessions/{other}"),
            None,
            Some(&a),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", Some(&b)).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Another user's session ID answers 404 and stays alive.
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let tl = app.get("/api/v1/sessions", Some(&teacher)).await;
    let tid = tl.body["items"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/sessions/{tid}"),
            None,
            Some(&a),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/v1/me", Some(&teacher)).await.status,
        StatusCode::OK
    );
    let r = app
        .call(
            Method::DELETE,
            "/api/v1/sessions/not-a-uuid",
            None,
            Some(&a),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let out = app
        .call(Method::DELETE, "/api/v1/sessions/current", None, Some(&a))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", Some(&a)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let kinds = app.audit_kinds(&t.scope).await;
    assert!(kinds.contains(&"signed_out".into()) && kinds.contains(&"session_revoked".into()));
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let a = app.sign_in(&t.slug, &t.parent).await;
    let b = app.sign_in(&t.slug, &t.parent).await;
    let weak = app
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "12345678"}),
            Some(&a),
        )
        .await;
    assert_eq!(
        (weak.status, weak.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "weak_password")
    );
    let wrong = app.post("/api/v1/me/password", json!({"current_password": "nope-nope-nope", "new_password": "a-much-better-passphrase-2"}), Some(&a)).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let ok = app
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "a-much-better-passphrase-2"}),
            Some(&a),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.body["revoked_sessions"], 1);
    assert_eq!(app.get("/api/v1/me", Some(&a)).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/me", Some(&b)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(app
        .audit_kinds(&t.scope)
        .await
        .contains(&"password_changed".into()));
}

#[tokio::test]
async fn an_administrator_revokes_all_sessions_of_a_user() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let p1 = app.sign_in(&t.slug, &t.parent).await;
    let p2 = app.sign_in(&t.slug, &t.parent).await;
    let denied = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{}/sessions", t.admin.id),
            None,
            Some(&p1),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{}/sessions", t.parent.id),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["revoked"], 2);
    for c in [&p1, &p2] {
        assert_eq!(
            app.get("/api/v1/me", Some(c)).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn garbage_cookies_are_simply_unauthenticated() {
    let app = TestApp::new().await;
    for c in [
        "kinfold_session=",
        "kinfold_session=abc",
        "kinfold_session=;;;",
        &format!("kinfold_session={}", "x".repeat(5000)),
        "other=1",
    ] {
        let r = app.get("/api/v1/me", Some(c)).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            "{c}"
        );
    }
}
