#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Messages refused before anything is queued: bad fields, each named, and a center that has
//! not given its legal name and postal address (CAN-SPAM's footer).

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestApp;
use crate::messages::ready;

#[tokio::test]
async fn bad_messages_get_field_errors_and_queue_nothing() {
    let m = ready().await;
    let room = m.r.rooms[0].clone();
    let ok = |extra: Value| {
        let mut b = json!({"category": "announcement", "audience": {"classroom_id": room},
                           "subject": "Hello", "text": "Hi."});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let long = "x".repeat(50_001);
    for (body, field) in [
        (
            ok(json!({"subject": "Hi\r\nBcc: everyone@evil.example"})),
            "subject",
        ),
        (ok(json!({"subject": "Hi\nthere"})), "subject"),
        (ok(json!({"subject": ""})), "subject"),
        (ok(json!({"text": "Hi {{child_medical_notes}}"})), "text"),
        (ok(json!({"html": "<p>{{guardian_name</p>"})), "html"),
        (ok(json!({"text": long})), "text"),
        (ok(json!({"reply_to": "not an address"})), "reply_to"),
        (
            ok(json!({"reply_to": "a@b.example\r\nBcc: x@evil.example"})),
            "reply_to",
        ),
        (ok(json!({"category": "security"})), "category"),
        (ok(json!({"category": "nope"})), "category"),
        (ok(json!({"audience": {}})), "audience"),
        (
            ok(json!({"audience": {"all": true, "classroom_id": room}})),
            "audience",
        ),
    ] {
        let r = m.send(body.clone(), &m.admin).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.text);
    }
    let unknown = m.send(ok(json!({"bcc": "x@evil.example"})), &m.admin).await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.text
    );

    // Teachers write to their own classrooms only; parents and front desk not at all.
    let teacher = m.app.sign_in(&m.t.slug, &m.t.teacher).await;
    let other = m
        .send(
            json!({"category": "announcement", "audience": {"classroom_id": m.r.rooms[1]},
                   "subject": "Hi", "text": "x"}),
            &teacher,
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.text);
    let all = m
        .send(
            json!({"category": "announcement", "audience": {"all": true}, "subject": "Hi", "text": "x"}),
            &teacher,
        )
        .await;
    assert_eq!(all.status, StatusCode::FORBIDDEN, "{}", all.text);
    let parent = m.app.sign_in(&m.t.slug, &m.t.parent).await;
    let p = m.send(ok(json!({})), &parent).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.text);

    // Nothing above was queued: no mail went out, and no message was recorded.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(m.sink.count(), 0);
    m.app.flush_audit().await;
    let kinds = m.app.audit_kinds(&m.t.scope).await;
    assert!(!kinds.iter().any(|k| k == "message_queued"), "{kinds:?}");

    // The teacher's own classroom works, and the teacher can read the status of it.
    let mine = m.send(ok(json!({})), &teacher).await;
    assert_eq!(mine.status, StatusCode::ACCEPTED, "{}", mine.text);
    let id = mine.body["id"].as_str().unwrap();
    let s = m
        .app
        .get(&format!("/api/v1/messages/{id}"), Some(&teacher))
        .await;
    assert_eq!(s.status, StatusCode::OK);
    // Another tenant's administrator cannot see it.
    let other_tenant = m.app.seed_tenant("harbor", "Harbor").await;
    let stranger = m.app.sign_in("harbor", &other_tenant.admin).await;
    let s = m
        .app
        .get(&format!("/api/v1/messages/{id}"), Some(&stranger))
        .await;
    assert_eq!(s.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_center_without_legal_details_cannot_send() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let r = app
        .post(
            "/api/v1/messages",
            json!({"category": "announcement", "audience": {"all": true}, "subject": "Hi", "text": "x"}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["error"]["field"], "tenant");
    assert!(
        r.text.contains("legal name and postal address"),
        "{}",
        r.text
    );
}
