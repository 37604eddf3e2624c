#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A2 against an attacker who knows a password, or holds a session cookie: wrong codes are
//! counted per account across every `mfa_token`, and a factor is replaced only with proof.

use std::time::Duration;

use axum::http::{header, Method, StatusCode};
use serde_json::json;

use crate::harness::{Resp, TestApp, TestUser};
use crate::messages::{header as mail_header, ready, Mail};

/// The messages the sink holds for `to` with this subject.
fn mails(m: &Mail, to: &str, subject: &str) -> usize {
    m.sink
        .received()
        .iter()
        .filter(|x| x.to.iter().any(|t| t.contains(to)))
        .filter(|x| mail_header(&String::from_utf8_lossy(&x.data), "Subject") == Some(subject))
        .count()
}

async fn wait_for_mail(m: &Mail, to: &str, subject: &str) {
    for _ in 0..100 {
        if mails(m, to, subject) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no '{subject}' mail to {to}");
}

async fn code_step(app: &TestApp, token: &serde_json::Value, code: &str) -> Resp {
    code_step_from(app, "127.0.0.1", token, code).await
}

/// The code step as sent from `ip` (the harness trusts loopback as a proxy).
async fn code_step_from(app: &TestApp, ip: &str, token: &serde_json::Value, code: &str) -> Resp {
    let body = json!({"mfa_token": token, "code": code});
    app.send(TestApp::post_from("/api/v1/sessions/mfa", body, ip))
        .await
}

/// A code that is not the current one (nor, almost surely, a neighbouring step's).
fn wrong_code(right: &str) -> &'static str {
    if right == "000000" {
        "111111"
    } else {
        "000000"
    }
}

/// Item 1: 3 tokens x 4 wrong codes, the correct password entered again for each token, each
/// token's codes from another address. The password no longer resets the code limit, and the
/// count is the account's: after 10 wrong codes the account's next attempts get 429, even
/// with the right code and from a fourth address, until the doubling delay passes; the owner
/// is emailed once a day; only a correct code clears the count.
#[tokio::test]
async fn a_known_password_does_not_reset_the_code_limit() {
    let m = ready().await;
    let (app, t) = (&m.app, &m.t);
    let teacher: &TestUser = &t.teacher;
    let secret = teacher.totp.clone().unwrap();
    let right = app.code_now(&secret);
    let wrong = wrong_code(&right);
    let mut statuses = Vec::new();
    for ip in ["203.0.113.1", "203.0.113.2", "2001:db8::1"] {
        let step = app.password_step(&t.slug, teacher).await;
        assert_eq!(step.status, StatusCode::OK, "the password still works");
        for _ in 0..4 {
            let r = code_step_from(app, ip, &step.body["mfa_token"], wrong).await;
            statuses.push(r.status);
        }
    }
    let unauthorized = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(unauthorized, 10, "{statuses:?}");
    let step = app.password_step(&t.slug, teacher).await;
    let r = code_step_from(app, "198.51.100.9", &step.body["mfa_token"], &right).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.code(), "throttled");
    assert_eq!(r.headers[header::RETRY_AFTER], "1");
    // The delay doubles with each further wrong code.
    app.advance(Duration::from_secs(1));
    assert_eq!(
        code_step(app, &step.body["mfa_token"], wrong).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = code_step(app, &step.body["mfa_token"], &right).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers[header::RETRY_AFTER], "2");

    let subject = "Wrong sign-in codes for your account";
    wait_for_mail(&m, &teacher.email, subject).await;
    // More wrong codes the same day send no second email.
    app.advance(Duration::from_secs(3));
    let step = app.password_step(&t.slug, teacher).await;
    assert_eq!(
        code_step(app, &step.body["mfa_token"], wrong).await.status,
        StatusCode::UNAUTHORIZED
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(mails(&m, &teacher.email, subject), 1);

    // After the delay, the right code signs in and clears the count.
    app.advance(Duration::from_secs(60));
    let step = app.password_step(&t.slug, teacher).await;
    let code = app.fresh_code(&secret);
    let ok = code_step(app, &step.body["mfa_token"], &code).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let step = app.password_step(&t.slug, teacher).await;
    let again = code_step(app, &step.body["mfa_token"], wrong_code(&code)).await;
    assert_eq!(
        again.status,
        StatusCode::UNAUTHORIZED,
        "the count starts again"
    );
}

/// Item 4: a session cookie alone cannot bind, replace or probe a parent's factor. Binding the
/// first one takes the password; replacing it takes a code of the current one; each change is
/// emailed to the account.
#[tokio::test]
async fn a_session_cookie_alone_cannot_replace_a_parents_factor() {
    let m = ready().await;
    let (app, t) = (&m.app, &m.t);
    let cookie = app.sign_in(&t.slug, &t.parent).await;
    let confirm = |body: serde_json::Value| {
        let cookie = cookie.clone();
        async move {
            app.post("/api/v1/me/mfa/totp/confirm", body, Some(&cookie))
                .await
        }
    };
    let begin = || async {
        let r = app
            .call(Method::POST, "/api/v1/me/mfa/totp", None, Some(&cookie))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body["secret"].as_str().unwrap().to_owned()
    };

    // No factor yet: the password is the proof.
    let first = begin().await;
    let r = confirm(json!({"code": app.fresh_code(&first)})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["error"]["field"], "password");
    let r =
        confirm(json!({"code": app.fresh_code(&first), "password": "not-the-password-9"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = confirm(json!({"code": app.fresh_code(&first), "password": t.parent.password})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let recovery = r.body["recovery_codes"][0].as_str().unwrap().to_owned();

    // The attacker with the cookie: a new secret offered, but the password is no longer
    // enough, and a guessed current code is refused.
    let attacker = begin().await;
    let r =
        confirm(json!({"code": app.fresh_code(&attacker), "password": t.parent.password})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["error"]["field"], "current_code");
    let current = app.fresh_code(&first);
    let r = confirm(json!({"code": app.code_now(&attacker), "current_code": wrong_code(&current)}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    // The parent's factor still signs in.
    let step = app.password_step(&t.slug, &t.parent).await;
    assert_eq!(step.body["mfa_required"], true);
    let ok = code_step(app, &step.body["mfa_token"], &app.fresh_code(&first)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);

    // The owner replaces it with a recovery code of the current factor as proof.
    let second = begin().await;
    let r = confirm(json!({"code": app.fresh_code(&second), "current_code": recovery})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let step = app.password_step(&t.slug, &t.parent).await;
    let old = code_step(app, &step.body["mfa_token"], &app.fresh_code(&first)).await;
    assert_eq!(
        old.status,
        StatusCode::UNAUTHORIZED,
        "the old factor is gone"
    );

    // Each change was emailed to the account.
    let subject = "The second factor of your account changed";
    for _ in 0..100 {
        if mails(&m, &t.parent.email, subject) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(mails(&m, &t.parent.email, subject), 2);
}

/// Item 1: an administrator's MFA reset clears the account's code count, so the user is not
/// kept waiting with the new factor for the wrong codes entered against the old one.
#[tokio::test]
async fn an_administrators_mfa_reset_clears_the_code_count() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let secret = t.teacher.totp.clone().unwrap();
    let wrong = wrong_code(&app.code_now(&secret));
    for _ in 0..2 {
        let step = app.password_step(&t.slug, &t.teacher).await;
        for _ in 0..5 {
            code_step(&app, &step.body["mfa_token"], wrong).await;
        }
    }
    let step = app.password_step(&t.slug, &t.teacher).await;
    let r = code_step(&app, &step.body["mfa_token"], &app.code_now(&secret)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);

    let reset = app
        .call(
            Method::POST,
            &format!("/api/v1/users/{}/mfa/reset", t.teacher.id),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    let url = reset.body["enrollment_url"].as_str().unwrap();
    let token = url.rsplit('/').next().unwrap();
    let offer = app
        .post("/api/v1/enrollment/begin", json!({"token": token}), None)
        .await;
    let new_secret = offer.body["secret"].as_str().unwrap().to_owned();
    let done = app
        .post(
            "/api/v1/enrollment/confirm",
            json!({"token": token, "code": app.code_now(&new_secret), "password": t.teacher.password}),
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    // Same instant on the test clock: without the reset the count would still ask to wait.
    let step = app.password_step(&t.slug, &t.teacher).await;
    let r = code_step(
        &app,
        &step.body["mfa_token"],
        wrong_code(&app.code_now(&new_secret)),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
}
