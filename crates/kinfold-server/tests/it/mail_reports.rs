#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Provider reports on email to families (E3, E4): signed webhooks from Mailgun and the generic
//! format, suppression and pausing on bounces and complaints, and deferred deliveries retried
//! with backoff until they fail.

use std::time::Duration;

use axum::http::StatusCode;
use kinfold_store::{Custody, NewGuardian, UserId};
use serde_json::{json, Value};

use crate::messages::{
    mailgun_event, message_id_of, raw_post, ready_with, received, state_of, states, MAILGUN_KEY,
    SECRET,
};

#[tokio::test]
async fn provider_reports_need_valid_signatures_and_suppress_and_pause() {
    let m = ready_with(|mail| {
        mail.mailgun_key = Some(kinfold_core::settings::WebhookKey::new(MAILGUN_KEY));
        mail.webhook_secret = Some(kinfold_core::settings::WebhookKey::new(SECRET));
        mail.rate_min_volume = 2;
    })
    .await;
    let (id, status) = m.announce_to_first_room().await;
    let gran_id = message_id_of(&status, "gran@families.test");
    let parent_id = message_id_of(&status, &m.t.parent.email);
    let now = m.app.core.now_ms() / 1000;
    let mg = "/api/v1/email/events/mailgun";

    // Refused: another key, a changed body, an old timestamp, junk; unknown providers are 404.
    let forged = mailgun_event(
        "failed",
        "permanent",
        "gran@families.test",
        &gran_id,
        now,
        b"wrong-key",
    );
    let r = m.app.send(raw_post(mg, forged, None)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "invalid_signature"),
        "{}",
        r.text
    );
    let old = mailgun_event(
        "failed",
        "permanent",
        "gran@families.test",
        &gran_id,
        now - 3600,
        MAILGUN_KEY,
    );
    let r = m.app.send(raw_post(mg, old, None)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "stale_signature")
    );
    let r = m.app.send(raw_post(mg, "{not json".into(), None)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = m
        .app
        .send(raw_post("/api/v1/email/events/sendgrid", "{}".into(), None))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let status = m.settled(&id).await;
    assert_eq!(
        state_of(&status, "gran@families.test"),
        "delivered",
        "nothing changed"
    );

    // A genuine hard bounce: bounced, suppressed, logged; a replay is acknowledged only.
    let genuine = mailgun_event(
        "failed",
        "permanent",
        "gran@families.test",
        &gran_id,
        now,
        MAILGUN_KEY,
    );
    let r = m.app.send(raw_post(mg, genuine.clone(), None)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["matched"], 1);
    let r = m.app.send(raw_post(mg, genuine.clone(), None)).await;
    assert_eq!(r.body["duplicate"], true, "{}", r.text);
    // Mailgun signs the timestamp and token, not the body: a captured token with another body
    // is a replay, and is not applied.
    let changed = genuine.replace("\"failed\"", "\"complained\"");
    let r = m.app.send(raw_post(mg, changed, None)).await;
    assert_eq!(r.body["duplicate"], true, "{}", r.text);
    let status = m.settled(&id).await;
    assert_eq!(state_of(&status, "gran@families.test"), "bounced");
    let suppressed = m
        .app
        .store
        .suppressed(&m.t.scope, &["gran@families.test".into()])
        .await
        .unwrap();
    assert_eq!(suppressed, ["gran@families.test"]);

    // One bounce in two sent is above 1.4% with the minimum volume met: sending pauses.
    let paused = m.refused_as_paused().await;
    assert!(
        paused
            .text
            .contains("50.00% of this center's recent email bounced"),
        "{}",
        paused.text
    );

    // The administrators are told, and security email still goes out while paused.
    let admin_mail = |subject: &str| {
        m.sink
            .received()
            .iter()
            .filter(|x| x.to.iter().any(|t| t.contains(&m.t.admin.email)))
            .any(|x| String::from_utf8_lossy(&x.data).contains(subject))
    };
    for _ in 0..400 {
        if admin_mail("Email from your center is paused") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admin_mail("Email from your center is paused"));
    let before = m.sink.count();
    let reset = m
        .app
        .post(
            &format!("/api/v1/users/{}/mfa/reset", m.t.teacher.id),
            json!({}),
            Some(&m.admin),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    let got = received(&m.sink, before + 1).await;
    assert!(got
        .iter()
        .any(|x| x.to.iter().any(|t| t.contains(&m.t.teacher.email))
            && String::from_utf8_lossy(&x.data).contains("Set up your sign-in code again")));

    // Kinfold's signed JSON: a complaint about the parent's copy.
    let gen = "/api/v1/email/events/generic";
    let body = json!({"event": "complaint", "recipient": m.t.parent.email, "message_id": format!("<{parent_id}>")}).to_string();
    let r = m.app.send(raw_post(gen, body.clone(), None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "unsigned");
    let bad = kinfold_core::mail::reports::sign(body.as_bytes(), b"other", now);
    let r = m.app.send(raw_post(gen, body.clone(), bad)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let sig = kinfold_core::mail::reports::sign(body.as_bytes(), SECRET, now);
    let r = m.app.send(raw_post(gen, body.clone(), sig.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["matched"], 1);
    // The same signed report again is acknowledged, not applied twice.
    let again = m.app.send(raw_post(gen, body, sig)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["duplicate"], true, "{}", again.text);
    let suppressed = m
        .app
        .store
        .suppressed(&m.t.scope, &[m.t.parent.email.to_lowercase()])
        .await
        .unwrap();
    assert_eq!(suppressed.len(), 1, "a complaint suppresses the address");

    // A raw DSN naming an address we never wrote to matches nothing, and changes nothing.
    let dsn = "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n\
Final-Recipient: rfc822; stranger@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--B--\r\n"
        .to_owned();
    let sig = kinfold_core::mail::reports::sign(dsn.as_bytes(), SECRET, now);
    let r = m
        .app
        .send(raw_post("/api/v1/email/events/raw", dsn, sig))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["matched"].as_i64(), r.body["reports"].as_i64()),
        (Some(0), Some(1))
    );

    m.app.flush_audit().await;
    let kinds = m.app.audit_kinds(&m.t.scope).await;
    assert!(kinds.iter().any(|k| k == "sending_paused"), "{kinds:?}");
}

#[tokio::test]
async fn a_deferred_delivery_is_retried_with_backoff_then_fails_after_max_attempts() {
    let m = ready_with(|mail| mail.max_attempts = 3).await;
    // A guardian whose mailbox the relay keeps refusing for now (451), in room A.
    let op = m
        .app
        .core
        .operator_actor(&m.t.scope, UserId::parse(&m.t.admin.id).unwrap())
        .await
        .unwrap();
    let g = NewGuardian {
        user_id: None,
        name: "Dee Later".into(),
        email: Some("defer@families.test".into()),
        phone: None,
    };
    m.app
        .core
        .children()
        .add_guardian(
            &op,
            kinfold_store::ChildId::parse(&m.r.a).unwrap(),
            g,
            "Aunt",
            Custody::Full,
            false,
            false,
        )
        .await
        .unwrap();
    let queued = m
        .send(
            json!({"category": "announcement", "audience": {"classroom_id": m.r.rooms[0]},
                   "subject": "Trip", "text": "Zoo on Tuesday."}),
            &m.admin,
        )
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    let id = queued.body["id"].as_str().unwrap().to_owned();
    let recipient = |status: &Value| {
        status["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == "defer@families.test")
            .cloned()
            .unwrap()
    };

    let mut admin = m.admin.clone();
    for attempt in 1..=2 {
        let status = m.settled_as(&id, &admin).await;
        let d = recipient(&status);
        assert_eq!(
            (d["state"].as_str(), d["attempts"].as_i64()),
            (Some("deferred"), Some(attempt)),
            "{status}"
        );
        assert!(d["response"].as_str().unwrap().contains("451"), "{d}");
        // Not due before its backoff: nothing more happens on the same clock.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let s = m
            .app
            .get(&format!("/api/v1/messages/{id}"), Some(&admin))
            .await;
        assert_eq!(recipient(&s.body)["attempts"].as_i64(), Some(attempt));
        // Past the longest backoff for this attempt (base 60 s doubling, jitter below 1.5x).
        m.app.advance(Duration::from_secs(60 * (1 << attempt)));
        admin = m.app.sign_in(&m.t.slug, &m.t.admin).await;
        // Wait for the worker to take it up again.
        for _ in 0..50 {
            let s = m
                .app
                .get(&format!("/api/v1/messages/{id}"), Some(&admin))
                .await;
            if recipient(&s.body)["attempts"].as_i64() > Some(attempt) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let status = m.settled_as(&id, &admin).await;
    let d = recipient(&status);
    assert_eq!(
        (d["state"].as_str(), d["attempts"].as_i64()),
        (Some("failed"), Some(3)),
        "{status}"
    );
    let response = d["response"].as_str().unwrap();
    assert!(
        response.contains("gave up after 3 attempts") && response.contains("451"),
        "{response}"
    );
    // The other recipients were delivered once; the deferred address never reached a mailbox.
    assert_eq!(state_of(&status, &m.t.parent.email), "delivered");
    assert!(!m
        .sink
        .received()
        .iter()
        .any(|r| r.to.iter().any(|t| t.contains("defer@"))));
    // Further clock time changes nothing: a failed delivery is not tried again.
    m.app.advance(Duration::from_secs(8 * 3600));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let admin = m.app.sign_in(&m.t.slug, &m.t.admin).await;
    let s = m
        .app
        .get(&format!("/api/v1/messages/{id}"), Some(&admin))
        .await;
    assert_eq!(recipient(&s.body)["attempts"].as_i64(), Some(3));
    // Each attempt is in the delivery log.
    m.app.flush_audit().await;
    let kinds = m.app.audit_kinds(&m.t.scope).await;
    assert!(
        kinds.iter().filter(|k| *k == "email_delivery").count() >= 3 + 2,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn complaints_alone_pause_sending_without_any_bounce() {
    let m = ready_with(|mail| {
        mail.mailgun_key = Some(kinfold_core::settings::WebhookKey::new(MAILGUN_KEY));
        mail.rate_min_volume = 2;
    })
    .await;
    let (id, status) = m.announce_to_first_room().await;
    assert_eq!(states(&status), ["delivered", "delivered"], "{status}");
    let gran_id = message_id_of(&status, "gran@families.test");
    let now = m.app.core.now_ms() / 1000;
    let complaint = mailgun_event(
        "complained",
        "",
        "gran@families.test",
        &gran_id,
        now,
        MAILGUN_KEY,
    );
    let r = m
        .app
        .send(raw_post("/api/v1/email/events/mailgun", complaint, None))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["matched"], 1, "{}", r.text);
    // A complaint suppresses the address but does not make the copy a bounce.
    let status = m.settled(&id).await;
    assert_eq!(states(&status), ["delivered", "delivered"], "{status}");
    let suppressed = m
        .app
        .store
        .suppressed(&m.t.scope, &["gran@families.test".into()])
        .await
        .unwrap();
    assert_eq!(suppressed, ["gran@families.test"]);

    // No bounce at all, one complaint in two sent (above 0.03%): non-essential sending pauses.
    let paused = m.refused_as_paused().await;
    assert!(
        paused
            .text
            .contains("0.00% of this center's recent email bounced")
            && paused.text.contains("50.000% drew spam complaints"),
        "{}",
        paused.text
    );
    m.app.flush_audit().await;
    let kinds = m.app.audit_kinds(&m.t.scope).await;
    assert!(kinds.iter().any(|k| k == "sending_paused"), "{kinds:?}");
}
