#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A2: TOTP, recovery codes, the mfa_token's limits, enrollment links, and MFA reset.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use kinfold_core::tenants::UserDraft;
use kinfold_crypto::totp::TotpSecret;
use kinfold_store::Role;
use serde_json::json;

use crate::harness::{TestApp, PASSWORD};

#[tokio::test]
async fn a_totp_code_is_accepted_once() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let secret = t.teacher.totp.clone().unwrap();
    let code = app.fresh_code(&secret);
    let first = app.password_step(&t.slug, &t.teacher).await;
    let ok = app
        .post(
            "/api/v1/sessions/mfa",
            json!({"mfa_token": first.body["mfa_token"], "code": code}),
            None,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert!(ok.cookie().is_some());
    assert_eq!(ok.body["role"], "teacher");
    let second = app.password_step(&t.slug, &t.teacher).await;
    let replay = app
        .post(
            "/api/v1/sessions/mfa",
            json!({"mfa_token": second.body["mfa_token"], "code": code}),
            None,
        )
        .await;
    assert_eq!(
        replay.status,
        StatusCode::UNAUTHORIZED,
        "a replayed code is refused"
    );
    assert!(replay.cookie().is_none());
    // An older code from the skew window is refused too, once a newer step was used.
    app.advance(Duration::from_secs(30));
    let older = {
        use kinfold_core::Clock;
        let t0 = u64::try_from(app.clock.now_ms() / 1000).unwrap() - 60;
        TotpSecret::from_base32(&secret)
            .unwrap()
            .code_at(t0)
            .unwrap()
    };
    let third = app.password_step(&t.slug, &t.teacher).await;
    let r = app
        .post(
            "/api/v1/sessions/mfa",
            json!({"mfa_token": third.body["mfa_token"], "code": older}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let kinds = app.audit_kinds(&t.scope).await;
    assert!(kinds.contains(&"mfa_failed".into()) && kinds.contains(&"mfa_succeeded".into()));
}

#[tokio::test]
async fn the_mfa_token_allows_five_tries() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let step = app.password_step(&t.slug, &t.admin).await;
    let token = step.body["mfa_token"].clone();
    // Each try from its own address, so the per-(account, IP) throttle stays out of the way.
    let try_from = |code: String, i: u8| {
        let mut r = TestApp::req(
            Method::POST,
            "/api/v1/sessions/mfa",
            Some(json!({"mfa_token": token, "code": code})),
            None,
        );
        r.headers_mut().insert(
            "x-forwarded-for",
            format!("198.51.100.{i}").parse().unwrap(),
        );
        r
    };
    for i in 0..5 {
        let r = app.send(try_from("000000".into(), i)).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "invalid_code"),
            "try {i}"
        );
    }
    let code = app.code_now(t.admin.totp.as_ref().unwrap());
    let r = app.send(try_from(code, 9)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "invalid_mfa_token"),
        "{}",
        r.text
    );
    assert!(
        r.cookie().is_none(),
        "the sixth try never signs in, even with the right code"
    );
}

#[tokio::test]
async fn the_mfa_token_expires_after_five_minutes_and_is_single_use() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let secret = t.admin.totp.clone().unwrap();
    let step = app.password_step(&t.slug, &t.admin).await;
    app.advance(Duration::from_secs(301));
    let r = app
        .post(
            "/api/v1/sessions/mfa",
            json!({"mfa_token": step.body["mfa_token"], "code": app.code_now(&secret)}),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "invalid_mfa_token")
    );

    let step = app.password_step(&t.slug, &t.admin).await;
    let code = app.fresh_code(&secret);
    let ok = app
        .post(
            "/api/v1/sessions/mfa",
            json!({"mfa_token": step.body["mfa_token"], "code": code}),
            None,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let again = app
        .post(
            "/api/v1/sessions/mfa",
            json!({"mfa_token": step.body["mfa_token"], "code": app.fresh_code(&secret)}),
            None,
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::UNAUTHORIZED, "invalid_mfa_token")
    );
    let bogus = app
        .post(
            "/api/v1/sessions/mfa",
            json!({"mfa_token": "made-up", "code": "123456"}),
            None,
        )
        .await;
    assert_eq!(bogus.code(), "invalid_mfa_token");
}

async fn create_teacher_with_link(
    app: &TestApp,
    t: &crate::harness::Seeded,
    email: &str,
) -> (String, String) {
    let draft = UserDraft {
        email: email.into(),
        name: "Link Teacher".into(),
        role: Role::Teacher,
        password: None,
    };
    let (user, link) = app
        .core
        .tenants()
        .create_user(&t.scope, draft, "test")
        .await
        .unwrap();
    (user.id.to_string(), link.unwrap().expose().to_owned())
}

#[tokio::test]
async fn enrollment_link_sets_password_and_factor_once() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let (_, token) = create_teacher_with_link(&app, &t, "link.teacher@maple-grove.example").await;

    // No password yet: a password sign-in fails like any wrong password.
    let r = app.post("/api/v1/sessions", json!({"tenant": t.slug, "email": "link.teacher@maple-grove.example", "password": PASSWORD}), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let bad = app
        .post(
            "/api/v1/enrollment/begin",
            json!({"token": "not-a-real-token"}),
            None,
        )
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "invalid_enrollment")
    );

    let offer = app
        .post("/api/v1/enrollment/begin", json!({"token": token}), None)
        .await;
    assert_eq!(offer.status, StatusCode::OK, "{}", offer.text);
    let secret = offer.body["secret"].as_str().unwrap().to_owned();
    assert!(offer.body["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    assert!(offer.body["qr_svg"].as_str().unwrap().starts_with("<svg"));

    let weak = app
        .post(
            "/api/v1/enrollment/confirm",
            json!({"token": token, "code": app.fresh_code(&secret), "password": "password1"}),
            None,
        )
        .await;
    assert_eq!(
        (weak.status, weak.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "weak_password")
    );
    let wrong = app
        .post(
            "/api/v1/enrollment/confirm",
            json!({"token": token, "code": "000000", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let done = app
        .post(
            "/api/v1/enrollment/confirm",
            json!({"token": token, "code": app.fresh_code(&secret), "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let codes: Vec<String> = done.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let cookie = done.cookie().expect("signed in after enrollment");
    assert_eq!(
        app.get("/api/v1/me", Some(&cookie)).await.status,
        StatusCode::OK
    );

    let reuse = app
        .post("/api/v1/enrollment/begin", json!({"token": token}), None)
        .await;
    assert_eq!(reuse.code(), "invalid_enrollment", "the link is single-use");

    // The new factor works, and a recovery code works exactly once.
    let step = app.post("/api/v1/sessions", json!({"tenant": t.slug, "email": "link.teacher@maple-grove.example", "password": PASSWORD}), None).await;
    assert_eq!(step.body["mfa_required"], true);
    let r = app
        .post(
            "/api/v1/sessions/mfa",
            json!({"mfa_token": step.body["mfa_token"], "code": codes[0].to_uppercase()}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "recovery code: {}", r.text);
    let step = app.post("/api/v1/sessions", json!({"tenant": t.slug, "email": "link.teacher@maple-grove.example", "password": PASSWORD}), None).await;
    let r = app
        .post(
            "/api/v1/sessions/mfa",
            json!({"mfa_token": step.body["mfa_token"], "code": codes[0]}),
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "a recovery code works once"
    );
    let kinds = app.audit_kinds(&t.scope).await;
    assert!(kinds.contains(&"mfa_enrolled".into()) && kinds.contains(&"enrollment_issued".into()));
}

#[tokio::test]
async fn enrollment_links_expire_after_72_hours() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let (_, token) = create_teacher_with_link(&app, &t, "late.teacher@maple-grove.example").await;
    app.advance(Duration::from_secs(72 * 3600 + 1));
    let r = app
        .post("/api/v1/enrollment/begin", json!({"token": token}), None)
        .await;
    assert_eq!(r.code(), "invalid_enrollment");
}

#[tokio::test]
async fn a_session_alone_cannot_bind_a_factor_to_staff() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let cookie = app.sign_in(&t.slug, &t.teacher).await;
    let r = app
        .call(Method::POST, "/api/v1/me/mfa/totp", None, Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            "/api/v1/me/mfa/totp/confirm",
            json!({"code": "123456"}),
            Some(&cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let anon = app
        .call(Method::POST, "/api/v1/me/mfa/totp", None, None)
        .await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn parents_may_enroll_totp_and_then_need_it() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let cookie = app.sign_in(&t.slug, &t.parent).await;
    let offer = app
        .call(Method::POST, "/api/v1/me/mfa/totp", None, Some(&cookie))
        .await;
    assert_eq!(offer.status, StatusCode::OK, "{}", offer.text);
    let secret = offer.body["secret"].as_str().unwrap().to_owned();
    let bad = app
        .post(
            "/api/v1/me/mfa/totp/confirm",
            json!({"code": "000000", "password": t.parent.password}),
            Some(&cookie),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let ok = app
        .post(
            "/api/v1/me/mfa/totp/confirm",
            json!({"code": app.fresh_code(&secret), "password": t.parent.password}),
            Some(&cookie),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.body["recovery_codes"].as_array().unwrap().len(), 10);
    let step = app.password_step(&t.slug, &t.parent).await;
    assert_eq!(
        step.body["mfa_required"], true,
        "a parent with TOTP now has the second step"
    );
}

#[tokio::test]
async fn an_administrator_resets_mfa_with_an_audited_new_link() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;

    let denied = app
        .call(
            Method::POST,
            &format!("/api/v1/users/{}/mfa/reset", t.admin.id),
            None,
            Some(&teacher),
        )
        .await;
    assert_eq!(
        denied.status,
        StatusCode::FORBIDDEN,
        "only administrators reset MFA"
    );

    let r = app
        .call(
            Method::POST,
            &format!("/api/v1/users/{}/mfa/reset", t.teacher.id),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let url = r.body["enrollment_url"].as_str().unwrap();
    let token = url.rsplit('/').next().unwrap();
    assert_eq!(
        app.get("/api/v1/me", Some(&teacher)).await.status,
        StatusCode::UNAUTHORIZED,
        "the reset ends the user's sessions"
    );
    let step = app.password_step(&t.slug, &t.teacher).await;
    assert_eq!(step.code(), "mfa_enrollment_required");

    let offer = app
        .post("/api/v1/enrollment/begin", json!({"token": token}), None)
        .await;
    let secret = offer.body["secret"].as_str().unwrap().to_owned();
    let wrong_pw = app.post("/api/v1/enrollment/confirm", json!({"token": token, "code": app.fresh_code(&secret), "password": "not-my-password-9"}), None).await;
    assert_eq!(
        wrong_pw.code(),
        "invalid_credentials",
        "the link alone is not enough: the password is proved too"
    );
    let done = app
        .post(
            "/api/v1/enrollment/confirm",
            json!({"token": token, "code": app.fresh_code(&secret), "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);

    let other = app
        .seed_tenant("harbor-lights", "Harbor Lights Montessori")
        .await;
    let cross = app
        .call(
            Method::POST,
            &format!("/api/v1/users/{}/mfa/reset", other.teacher.id),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(
        cross.status,
        StatusCode::NOT_FOUND,
        "another tenant's user does not exist here"
    );
    let kinds = app.audit_kinds(&t.scope).await;
    assert!(kinds.contains(&"mfa_reset".into()));
}
