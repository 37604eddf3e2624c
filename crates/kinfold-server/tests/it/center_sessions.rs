#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A4, per center (issue 14): an administrator sets the center's own idle timeout and session
//! cap on `/admin/center` or `PATCH /api/v1/tenant`, only stricter than the operator's, and
//! every session of that center, and no other center's, is held to it from the next request.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::TestApp;

/// The center settings form as the page posts it, with the two session fields.
fn form(idle: &str, cap: &str, version: i64) -> String {
    format!(
        "legal_name=Sunny+Days+LLC&postal_address=12+Elm+St&time_zone=UTC\
         &session_idle_minutes={idle}&max_sessions_per_user={cap}&version={version}"
    )
}

#[tokio::test]
async fn a_center_sets_a_stricter_session_policy_and_its_sessions_follow_it() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let other = app.seed_tenant("harbor", "Harbor").await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let older = app.sign_in(&t.slug, &t.teacher).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let elsewhere = app.sign_in(&other.slug, &other.teacher).await;
    let other_second = app.sign_in(&other.slug, &other.teacher).await;

    let page = app.get("/admin/center", Some(&admin)).await;
    assert!(
        page.text.contains("the operator's setting"),
        "{}",
        page.text
    );
    assert!(page.text.contains(r#"id="center-session-idle-minutes""#));
    let version = page.drawn_version();
    // The teacher's newer session is in this node's cache when the policy changes.
    assert_eq!(
        app.get("/api/v1/me", Some(&teacher)).await.status,
        StatusCode::OK
    );
    let r = app
        .post_form("/admin/center", &form("10", "1", version), &admin)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    // A cap of one: the teacher's older session ended with the change.
    assert_eq!(
        app.get("/api/v1/me", Some(&older)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Eleven quiet minutes: this center's sessions end, the cached one too.
    app.advance(Duration::from_secs(11 * 60));
    let r = app.get("/api/v1/me", Some(&teacher)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    // The other center, on the operator's eight hours and five sessions, keeps both of its.
    for c in [&elsewhere, &other_second] {
        assert_eq!(app.get("/api/v1/me", Some(c)).await.status, StatusCode::OK);
    }

    let admin = app.sign_in(&t.slug, &t.admin).await;
    let api = app.get("/api/v1/tenant", Some(&admin)).await;
    let s = &api.body["sessions"];
    assert_eq!(
        (
            &s["idle_minutes"],
            &s["effective_idle_minutes"],
            &s["max_per_user"],
            &s["effective_max_per_user"],
            &s["operator_idle_minutes"]
        ),
        (&json!(10), &json!(10), &json!(1), &json!(1), &json!(480))
    );
    let page = app.get("/admin/center", Some(&admin)).await;
    assert!(
        page.text
            .contains("a session ends after 10m without activity"),
        "{}",
        page.text
    );
    // The change and its values are in the chain, and the cap of one ended the teacher's
    // older session there and then, not at her next sign-in.
    app.flush_audit().await;
    let chain = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let policy = chain
        .iter()
        .find(|e| e.kind == "session_policy_changed")
        .expect("the change is audited");
    assert!(
        policy.event.contains(r#""idle_minutes":10"#)
            && policy.event.contains(r#""max_per_user":1"#),
        "{}",
        policy.event
    );
    let evicted = chain
        .iter()
        .filter(|e| e.kind == "session_evicted" && e.event.contains(&t.teacher.id))
        .count();
    assert_eq!(
        evicted, 1,
        "the teacher's older session ended with the change"
    );

    // Exactly ten quiet minutes are within it; a second more is not.
    let first = app.sign_in(&t.slug, &t.teacher).await;
    app.advance(Duration::from_secs(10 * 60));
    assert_eq!(
        app.get("/api/v1/me", Some(&first)).await.status,
        StatusCode::OK
    );
    app.advance(Duration::from_secs(10 * 60 + 1));
    assert_eq!(
        app.get("/api/v1/me", Some(&first)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // One session each: a second sign-in ends the first.
    let first = app.sign_in(&t.slug, &t.teacher).await;
    let second = app.sign_in(&t.slug, &t.teacher).await;
    assert_eq!(
        app.get("/api/v1/me", Some(&first)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&second)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_form_without_the_session_fields_or_above_a_lowered_operator_limit_keeps_the_policy() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let version = app.get("/admin/center", Some(&admin)).await.drawn_version();
    let r = app
        .post_form("/admin/center", &form("30", "2", version), &admin)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    // A form that does not carry the session fields (an older page, a script saving the
    // name) leaves them as they are.
    let r = app
        .post_form(
            "/admin/center",
            &format!(
                "legal_name=Renamed+LLC&postal_address=12+Elm+St&time_zone=UTC&version={}",
                version + 1
            ),
            &admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let api = app.get("/api/v1/tenant", Some(&admin)).await;
    assert_eq!(api.body["legal_name"], "Renamed LLC");
    assert_eq!(api.body["sessions"]["idle_minutes"], json!(30));
    assert_eq!(api.body["sessions"]["max_per_user"], json!(2));

    // A stored value above the operator's limit (the operator lowered it since): the
    // operator's holds on every request, and the form, which sends the stored value back,
    // still saves its other fields.
    let raw = app.raw().await;
    raw.execute(
        "UPDATE tenants SET session_idle_secs = 600 * 60 WHERE id = $1",
        &[&t.scope.tenant_id().to_string()],
    )
    .await;
    let page = app.get("/admin/center", Some(&admin)).await;
    assert!(
        page.text
            .contains("a session ends after 8h without activity"),
        "{}",
        page.text
    );
    let version = page.drawn_version();
    let r = app
        .post_form("/admin/center", &form("600", "2", version), &admin)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let api = app.get("/api/v1/tenant", Some(&admin)).await;
    assert_eq!(api.body["sessions"]["effective_idle_minutes"], json!(480));
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    app.advance(Duration::from_secs(8 * 3600 + 1));
    assert_eq!(
        app.get("/api/v1/me", Some(&teacher)).await.status,
        StatusCode::UNAUTHORIZED,
        "the operator's eight hours hold"
    );
}

#[tokio::test]
async fn a_looser_or_garbled_session_policy_is_refused_and_nothing_changes() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let version = app.get("/admin/center", Some(&admin)).await.drawn_version();
    let idle = "center-session-idle-minutes-error";
    let cap = "center-max-sessions-per-user-error";
    for (i, c, error) in [
        ("4", "", idle),
        ("481", "", idle),
        ("abc", "", idle),
        ("1e3", "", idle),
        ("-10", "", idle),
        ("1%E2%80%8B0", "", idle),
        ("99999999999999999999", "", idle),
        ("", "0", cap),
        ("", "6", cap),
        ("", "%EF%BC%92", cap),
    ] {
        let r = app
            .post_form("/admin/center", &form(i, c, version), &admin)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{i:?} {c:?}: {}",
            r.text
        );
        assert!(
            r.text.contains(&format!(r#"id="{error}""#)),
            "{i:?} {c:?}: {}",
            r.text
        );
    }
    let api = app.get("/api/v1/tenant", Some(&admin)).await;
    assert_eq!(api.body["version"], json!(version), "nothing was saved");
    assert_eq!(api.body["sessions"]["idle_minutes"], json!(null));

    // The API: a value out of bounds names its field; a negative or fractional one is not a
    // number of minutes; `null` goes back to the operator's setting.
    for (body, field) in [
        (json!({"session_idle_minutes": 481}), "session_idle_minutes"),
        (json!({"max_sessions_per_user": 0}), "max_sessions_per_user"),
    ] {
        let r = app
            .call(Method::PATCH, "/api/v1/tenant", Some(body), Some(&admin))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")
        );
        assert_eq!(r.body["error"]["field"], field, "{}", r.text);
    }
    for body in [
        json!({"session_idle_minutes": -5}),
        json!({"session_idle_minutes": 7.5}),
        json!({"session_idle_minutes": "10"}),
    ] {
        let r = app
            .call(Method::PATCH, "/api/v1/tenant", Some(body), Some(&admin))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    }
    let set = app
        .call(
            Method::PATCH,
            "/api/v1/tenant",
            Some(json!({"session_idle_minutes": 30, "max_sessions_per_user": 2})),
            Some(&admin),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(set.body["sessions"]["effective_idle_minutes"], json!(30));
    let back = app
        .call(
            Method::PATCH,
            "/api/v1/tenant",
            Some(json!({"session_idle_minutes": null})),
            Some(&admin),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
    let s = &back.body["sessions"];
    assert_eq!(
        (
            &s["idle_minutes"],
            &s["effective_idle_minutes"],
            &s["max_per_user"]
        ),
        (&json!(null), &json!(480), &json!(2)),
        "null follows the operator; the cap left out stays"
    );

    // Only administrators, and only from the center's own pages.
    for user in [&t.teacher, &t.front_desk, &t.parent] {
        let c = app.sign_in(&t.slug, user).await;
        let r = app
            .call(
                Method::PATCH,
                "/api/v1/tenant",
                Some(json!({"session_idle_minutes": 5})),
                Some(&c),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", user.role);
    }
    let version = back.body["version"].as_i64().unwrap();
    let r = app
        .post_form_cross_site("/admin/center", &form("5", "1", version), &admin)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let api = app.get("/api/v1/tenant", Some(&admin)).await;
    assert_eq!(api.body["sessions"]["effective_idle_minutes"], json!(480));
    assert_eq!(api.body["version"], json!(version));
}
