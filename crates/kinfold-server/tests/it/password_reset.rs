#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Password reset by email: the link reaches the user through the real delivery worker and a
//! loopback SMTP server, works once, signs every session out, keeps the second factor, and the
//! request answers the same for addresses that do not exist.

use std::time::Duration;

use axum::http::StatusCode;
use kinfold_core::mail::verify::{self, DkimResult};
use serde_json::json;

use crate::messages::{header, ready, received, Mail};

const NEW_PASSWORD: &str = "juniper-lantern-harbor-93";

/// The mail to `to` with this subject, among what the sink has.
pub(crate) fn mail_to(m: &Mail, to: &str, subject: &str) -> Vec<String> {
    m.sink
        .received()
        .iter()
        .filter(|x| x.to.iter().any(|t| t.contains(to)))
        .map(|x| String::from_utf8_lossy(&x.data).replace("=\r\n", ""))
        .filter(|raw| header(raw, "Subject") == Some(subject))
        .collect()
}

/// The token of the reset link in a message.
pub(crate) fn token_in(raw: &str) -> String {
    let at = raw.find("https://kinfold.example/reset/").unwrap();
    raw[at + "https://kinfold.example/reset/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn request(m: &Mail, tenant: &str, email: &str) -> crate::harness::Resp {
    m.app
        .post(
            "/api/v1/password-reset",
            json!({"tenant": tenant, "email": email}),
            None,
        )
        .await
}

async fn confirm(m: &Mail, token: &str, password: &str) -> crate::harness::Resp {
    m.app
        .post(
            "/api/v1/password-reset/confirm",
            json!({"token": token, "password": password}),
            None,
        )
        .await
}

#[tokio::test]
async fn a_reset_link_is_emailed_works_once_and_signs_every_session_out() {
    let m = ready().await;
    let teacher = &m.t.teacher;
    let old_session = m.app.sign_in(&m.t.slug, teacher).await;

    // Unknown address, unknown center: the same answer, and no mail.
    let known = request(&m, &m.t.slug, &teacher.email).await;
    assert_eq!(known.status, StatusCode::ACCEPTED, "{}", known.text);
    for (tenant, email) in [
        (m.t.slug.as_str(), "nobody@example.org"),
        ("no-such-center", teacher.email.as_str()),
    ] {
        let other = request(&m, tenant, email).await;
        assert_eq!(other.status, StatusCode::ACCEPTED);
        assert_eq!(other.body, known.body, "no enumeration");
    }
    let got = received(&m.sink, 1).await;
    let raw = mail_to(&m, &teacher.email, "Reset your Kinfold password");
    assert_eq!(raw.len(), 1, "one link: {got:?}", got = got.len());
    let signed = got
        .iter()
        .find(|x| x.to.iter().any(|t| t.contains(&teacher.email)))
        .unwrap();
    let results = verify::dkim(&signed.data, &m.records).await.unwrap();
    assert!(
        results.iter().all(|r| r == &DkimResult::Pass),
        "{results:?}"
    );
    let token = token_in(&raw[0]);
    assert!(token.len() >= 40, "{token}");

    // The page names the account; a weak password is refused and the link still works.
    let page = m.app.get(&format!("/reset/{token}"), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains(&teacher.email), "{}", page.text);
    let weak = confirm(&m, &token, "password").await;
    assert_eq!(
        weak.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        weak.text
    );
    assert_eq!(weak.code(), "weak_password");

    let done = confirm(&m, &token, NEW_PASSWORD).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.body["sessions_ended"], 1);
    let again = confirm(&m, &token, "another-juniper-lantern-7").await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.code(), "invalid_reset_link");
    let gone = m.app.get(&format!("/reset/{token}"), None).await;
    assert_eq!(gone.status, StatusCode::BAD_REQUEST);

    // Every session ended; the old password fails; the new one still needs the second factor.
    let me = m.app.get("/api/v1/me", Some(&old_session)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    let old = m.app.password_step(&m.t.slug, teacher).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let renewed = crate::harness::TestUser {
        id: teacher.id.clone(),
        email: teacher.email.clone(),
        password: NEW_PASSWORD.into(),
        role: teacher.role,
        totp: teacher.totp.clone(),
    };
    let step = m.app.password_step(&m.t.slug, &renewed).await;
    assert_eq!(step.status, StatusCode::OK, "{}", step.text);
    assert_eq!(step.body["mfa_required"], true);
    m.app.sign_in(&m.t.slug, &renewed).await;

    // The user is told, and the trail has the request and the reset, never the secrets.
    received(&m.sink, 2).await;
    assert_eq!(
        mail_to(&m, &teacher.email, "Your password was changed").len(),
        1
    );
    let kinds = m.app.audit_kinds(&m.t.scope).await;
    for k in [
        "password_reset_requested",
        "password_reset",
        "session_revoked",
    ] {
        assert!(kinds.contains(&k.to_owned()), "{k} in {kinds:?}");
    }
    let trail = serde_json::to_string(
        &m.app
            .store
            .audit_chain(&m.t.scope.chain())
            .await
            .unwrap()
            .iter()
            .map(|e| e.event.clone())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(!trail.contains(&token) && !trail.contains(NEW_PASSWORD));
    // Nothing went to the unknown address.
    assert!(m
        .sink
        .received()
        .iter()
        .all(|x| x.to.iter().all(|t| !t.contains("nobody@"))));
}

#[tokio::test]
async fn links_expire_and_supersede_and_requests_are_throttled_alike() {
    let m = ready().await;
    let parent = &m.t.parent;
    assert_eq!(
        request(&m, &m.t.slug, &parent.email).await.status,
        StatusCode::ACCEPTED
    );
    received(&m.sink, 1).await;
    assert_eq!(
        request(&m, &m.t.slug, &parent.email).await.status,
        StatusCode::ACCEPTED
    );
    received(&m.sink, 2).await;
    let links = mail_to(&m, &parent.email, "Reset your Kinfold password");
    assert_eq!(links.len(), 2);
    let (first, second) = (token_in(&links[0]), token_in(&links[1]));
    let older = if m.sink.received().iter().position(|x| {
        String::from_utf8_lossy(&x.data)
            .replace("=\r\n", "")
            .contains(&first)
    }) < m.sink.received().iter().position(|x| {
        String::from_utf8_lossy(&x.data)
            .replace("=\r\n", "")
            .contains(&second)
    }) {
        (first, second)
    } else {
        (second, first)
    };
    let (superseded, live) = older;
    let r = confirm(&m, &superseded, NEW_PASSWORD).await;
    assert_eq!(r.code(), "invalid_reset_link", "a newer link supersedes");
    // An hour later the live one has expired too.
    m.app.advance(Duration::from_secs(3601));
    let r = confirm(&m, &live, NEW_PASSWORD).await;
    assert_eq!(r.code(), "invalid_reset_link", "expired");
    m.app.sign_in(&m.t.slug, parent).await;

    // (The hour also cleared the throttle.) Three requests pass; the fourth waits, for a known
    // and an unknown address alike.
    for _ in 0..3 {
        assert_eq!(
            request(&m, &m.t.slug, &parent.email).await.status,
            StatusCode::ACCEPTED
        );
    }
    let fourth = request(&m, &m.t.slug, &parent.email).await;
    assert_eq!(
        fourth.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        fourth.text
    );
    for _ in 0..3 {
        request(&m, &m.t.slug, "ghost@example.org").await;
    }
    let ghost = request(&m, &m.t.slug, "ghost@example.org").await;
    assert_eq!(ghost.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(ghost.body, fourth.body);
}

#[tokio::test]
async fn hostile_reset_input_gets_field_errors_and_changes_nothing() {
    let m = ready().await;
    let long = "a".repeat(300);
    let huge = "a".repeat(100_000);
    for (body, want, field) in [
        (
            json!({"tenant": m.t.slug, "email": "pat@x.org\r\nBcc: all@x.org"}),
            "invalid_input",
            Some("email"),
        ),
        (
            json!({"tenant": "../etc", "email": "pat@x.org"}),
            "invalid_input",
            Some("tenant"),
        ),
        (
            json!({"tenant": m.t.slug, "email": long}),
            "invalid_input",
            Some("email"),
        ),
        (
            json!({"tenant": m.t.slug, "email": huge}),
            "payload_too_large",
            None,
        ),
        (
            json!({"tenant": m.t.slug, "email": "pat@x.org", "admin": true}),
            "invalid_input",
            None,
        ),
        (json!({"tenant": m.t.slug}), "invalid_input", None),
    ] {
        let r = m
            .app
            .post("/api/v1/password-reset", body.clone(), None)
            .await;
        assert!(
            r.status.is_client_error(),
            "{body:.80}: {} {}",
            r.status,
            r.text
        );
        assert_eq!(r.code(), want, "{body:.80}: {}", r.text);
        if let Some(f) = field {
            assert_eq!(r.body["error"]["field"], f, "{}", r.text);
        }
    }
    for token in ["", "x", long.as_str(), "\u{0}\u{202e}", "../../etc/passwd"] {
        let r = confirm(&m, token, NEW_PASSWORD).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{token:.20}: {}", r.text);
        assert_eq!(r.code(), "invalid_reset_link");
    }
    let odd = m.app.get("/reset/%00%ff..%2f", None).await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST, "{}", odd.text);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(m.sink.count(), 0, "no mail for bad input");
    // The old password still works.
    m.app.sign_in(&m.t.slug, &m.t.parent).await;
}

#[tokio::test]
async fn a_reset_voids_a_pending_enrollment_link_so_the_mailbox_alone_cannot_bind_a_factor() {
    let m = ready().await;
    let teacher = &m.t.teacher;
    let r = m
        .app
        .post(
            &format!("/api/v1/users/{}/mfa/reset", teacher.id),
            json!({}),
            Some(&m.admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let enroll = r.body["enrollment_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    // Whoever reads the mailbox asks for a reset and sets a password of their choosing...
    assert_eq!(
        request(&m, &m.t.slug, &teacher.email).await.status,
        StatusCode::ACCEPTED
    );
    received(&m.sink, 2).await;
    let link = mail_to(&m, &teacher.email, "Reset your Kinfold password");
    let done = confirm(&m, &token_in(&link[0]), NEW_PASSWORD).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    // ...but the enrollment link died with it: binding a factor needs a new one from an
    // administrator.
    let begin = m
        .app
        .post("/api/v1/enrollment/begin", json!({"token": enroll}), None)
        .await;
    assert_eq!(begin.status, StatusCode::BAD_REQUEST, "{}", begin.text);
    assert_eq!(begin.code(), "invalid_enrollment");
}
