#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The administrators' people page and API (issue 14): staff invited by email with a role
//! (the enrollment link through the outbox), invitations sent again (the old link dies), roles
//! changed (the person's sessions end), and a center that cannot lose its last administrator,
//! even when two administrators demote each other at once. Unhappy paths: other roles, other
//! tenants, bad fields, a taken email, CSRF.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::at_once::{
    at_once, one_lands_the_rest_conflict, refused_as_stale_api, refused_as_stale_form,
};
use crate::harness::{TestApp, PASSWORD};

/// The token at the end of an enrollment link.
pub(crate) fn token_of(link: &str) -> String {
    link.rsplit('/').next().unwrap().to_owned()
}

/// Enrolls through the link's token; returns the new session's cookie.
pub(crate) async fn enroll(app: &TestApp, token: &str) -> String {
    let offer = app
        .post("/api/v1/enrollment/begin", json!({"token": token}), None)
        .await;
    assert_eq!(offer.status, StatusCode::OK, "{}", offer.text);
    let secret = offer.body["secret"].as_str().unwrap().to_owned();
    let done = app
        .post(
            "/api/v1/enrollment/confirm",
            json!({"token": token, "code": app.fresh_code(&secret), "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    done.cookie().unwrap()
}

#[tokio::test]
async fn an_administrator_invites_a_teacher_who_enrolls_from_the_email() {
    let m = crate::messages::ready().await;
    let app = &m.app;
    let page = app.get("/admin/people", Some(&m.admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Test teacher") && page.text.contains("This is you."));

    let form = "name=Rosa+Diaz&email=rosa%40maple-grove.example&role=teacher";
    let sent = app.post_form("/admin/people", form, &m.admin).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert!(sent.text.contains("Invitation sent to Rosa Diaz"));
    let shown = sent
        .text
        .split(r#"<code id="invite-link">"#)
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    // The email carries the same link.
    let mut mail = None;
    for _ in 0..50 {
        mail = m
            .sink
            .received()
            .into_iter()
            .find(|x| x.to.iter().any(|t| t.contains("rosa@maple-grove.example")));
        if mail.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let raw = String::from_utf8_lossy(&mail.expect("the invitation is emailed").data).into_owned();
    let unfolded = raw.replace("=\r\n", "").replace("\r\n", "\n");
    assert!(unfolded.contains(&shown), "{shown} not in {unfolded}");
    // Until she enrolls, the administrators' home page lists her invitation as pending.
    let pending = || async {
        let home = app.get("/", Some(&m.admin)).await;
        home.text
            .split(r#"id="pending-enrollment""#)
            .nth(1)
            .and_then(|s| s.split("</p>").next())
            .is_some_and(|line| line.contains("Rosa Diaz"))
    };
    assert!(pending().await, "the invitation is not on the home page");

    // Sent again: the first link no longer works, the new one does.
    let users = app.get("/api/v1/users", Some(&m.admin)).await;
    let rosa = users.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "rosa@maple-grove.example")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = app
        .post_form(&format!("/admin/people/{rosa}/invitation"), "", &m.admin)
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    let old = app
        .post(
            "/api/v1/enrollment/begin",
            json!({"token": token_of(&shown)}),
            None,
        )
        .await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST);
    let fresh = app
        .post(
            &format!("/api/v1/users/{rosa}/invitation"),
            json!({}),
            Some(&m.admin),
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK);
    let cookie = enroll(
        app,
        &token_of(fresh.body["enrollment_url"].as_str().unwrap()),
    )
    .await;
    let me = app.get("/api/v1/me", Some(&cookie)).await;
    assert_eq!(me.body["role"], "teacher", "{}", me.text);
    assert!(!pending().await, "enrolled, she is no longer pending");
    // Enrolled: no invitation any more, a reset instead.
    let late = app
        .post(
            &format!("/api/v1/users/{rosa}/invitation"),
            json!({}),
            Some(&m.admin),
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    app.flush_audit().await;
    let chain = app.store.audit_chain(&m.t.scope.chain()).await.unwrap();
    // Who invited is in the entry; each link issued is one too.
    let created = chain
        .iter()
        .find(|e| e.kind == "user_created" && e.event.contains(&rosa))
        .unwrap();
    assert!(
        created.event.contains(m.t.admin.id.as_str()),
        "{}",
        created.event
    );
    let issued = chain
        .iter()
        .filter(|e| e.kind == "enrollment_issued" && e.event.contains(&rosa))
        .count();
    assert_eq!(issued, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_role_change_ends_sessions_and_the_last_administrator_stays() {
    let app = Arc::new(TestApp::new().await);
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;

    // The teacher becomes front desk: their session ends with the old role.
    let changed = app
        .post_form(
            &format!("/admin/people/{}/role", t.teacher.id),
            "role=front_desk&from=teacher",
            &admin,
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert!(changed.text.contains("is now front desk"));
    assert_eq!(
        app.get("/api/v1/me", Some(&teacher)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let users = app.get("/api/v1/users", Some(&admin)).await;
    let role = users.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == t.teacher.id.as_str())
        .unwrap()["role"]
        .clone();
    assert_eq!(role, "front_desk");

    // The only administrator cannot step down.
    let alone = app
        .call(
            Method::PUT,
            &format!("/api/v1/users/{}/role", t.admin.id),
            Some(json!({"role": "teacher"})),
            Some(&admin),
        )
        .await;
    assert_eq!(alone.status, StatusCode::CONFLICT, "{}", alone.text);

    // Two administrators demote each other at the same moment: one stays.
    let invited = app
        .post(
            "/api/v1/users",
            json!({"email": "second@maple-grove.example", "name": "Second Admin", "role": "administrator"}),
            Some(&admin),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
    let second_id = invited.body["user"]["id"].as_str().unwrap().to_owned();
    let second = enroll(
        &app,
        &token_of(invited.body["enrollment_url"].as_str().unwrap()),
    )
    .await;
    let demote = |who: String, cookie: String| {
        let app = app.clone();
        tokio::spawn(async move {
            app.call(
                Method::PUT,
                &format!("/api/v1/users/{who}/role"),
                Some(json!({"role": "teacher"})),
                Some(&cookie),
            )
            .await
            .status
        })
    };
    let a = demote(second_id.clone(), admin.clone());
    let b = demote(t.admin.id.clone(), second.clone());
    let codes = [a.await.unwrap(), b.await.unwrap()];
    assert_eq!(
        codes.iter().filter(|c| **c == StatusCode::OK).count(),
        1,
        "{codes:?}"
    );
    let admins = app
        .store
        .users(&t.scope)
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.role == kinfold_store::Role::Administrator)
        .count();
    assert_eq!(admins, 1, "exactly one administrator is left");
}

/// A role is changed from the role the administrator saw: a change made from a role someone
/// has changed since is refused, never written over it, from the page, the API, and eight
/// administrators at once; the chain names the role each change was made from.
#[tokio::test]
async fn a_role_change_made_from_an_older_role_is_refused() {
    let app = Arc::new(TestApp::new().await);
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let other = app.sign_in(&t.slug, &t.admin).await;
    let page = app.get("/admin/people", Some(&other)).await;
    assert!(
        page.text.contains(r#"name="from" value="teacher""#),
        "the form carries the role it shows"
    );
    let api = format!("/api/v1/users/{}/role", t.teacher.id);
    let first = app
        .call(
            Method::PUT,
            &api,
            Some(json!({"role": "front_desk", "from": "teacher"})),
            Some(&admin),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);

    // The other administrator's page still says teacher: its change is refused.
    let stale_form = app
        .post_form(
            &format!("/admin/people/{}/role", t.teacher.id),
            "role=administrator&from=teacher",
            &other,
        )
        .await;
    refused_as_stale_form(&stale_form);
    let stale_api = app
        .call(
            Method::PUT,
            &api,
            Some(json!({"role": "administrator", "from": "teacher"})),
            Some(&other),
        )
        .await;
    refused_as_stale_api(&stale_api);
    let bad = app
        .call(
            Method::PUT,
            &api,
            Some(json!({"role": "teacher", "from": "owner"})),
            Some(&admin),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);

    let bodies = (0..8)
        .map(|i| {
            let to = if i % 2 == 0 {
                "teacher"
            } else {
                "administrator"
            };
            json!({"role": to, "from": "front_desk"})
        })
        .collect();
    let answers = at_once(&app, Method::PUT, &api, bodies, &admin).await;
    one_lands_the_rest_conflict(&answers, StatusCode::OK);

    app.flush_audit().await;
    let chain = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let changes: Vec<&str> = chain
        .iter()
        .filter(|e| e.kind == "role_changed")
        .map(|e| e.event.as_str())
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes[1].contains(r#""from":"front_desk""#), "{changes:?}");
}

#[tokio::test]
async fn people_refuse_other_roles_tenants_bad_fields_and_cross_site_forms() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    for user in [&t.teacher, &t.front_desk, &t.parent] {
        let c = app.sign_in(&t.slug, user).await;
        assert_eq!(
            app.get("/admin/people", Some(&c)).await.status,
            StatusCode::FORBIDDEN
        );
        let made = app
            .post_form(
                "/admin/people",
                "name=X&email=x%40e.example&role=teacher",
                &c,
            )
            .await;
        assert_eq!(made.status, StatusCode::FORBIDDEN, "{:?}", user.role);
    }
    // Another tenant's user: not found on every action, and unchanged.
    for path in ["role", "invitation", "mfa-reset", "sessions-end"] {
        let resp = app
            .post_form(
                &format!("/admin/people/{}/{path}", other.teacher.id),
                "role=administrator",
                &admin,
            )
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{path}: {}", resp.text);
    }
    let theirs = app.sign_in(&other.slug, &other.teacher).await;
    assert_eq!(
        app.get("/api/v1/me", Some(&theirs)).await.body["role"],
        "teacher"
    );
    // Bad fields come back beside them, with what was typed; nothing is created.
    for (form, field) in [
        ("name=&email=a%40b.example&role=teacher", "name"),
        ("name=Ann&email=not-an-email&role=teacher", "email"),
        ("name=Ann&email=a%40b.example&role=par%E2%80%8Bent", "role"),
        ("name=Ann&email=a%40b.example&role=owner", "role"),
    ] {
        let resp = app.post_form("/admin/people", form, &admin).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{form}");
        assert!(
            resp.text.contains(&format!(r#"id="invite-{field}-error""#)),
            "{form}: {}",
            resp.text
        );
    }
    let taken = app
        .post_form(
            "/admin/people",
            &format!(
                "name=Twin&email={}&role=teacher",
                t.teacher.email.replace('@', "%40")
            ),
            &admin,
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    let users = app.get("/api/v1/users", Some(&admin)).await;
    assert_eq!(
        users.body["items"].as_array().unwrap().len(),
        4,
        "nothing was created"
    );
    // A cross-site form is refused before it reaches the page.
    let mut req = TestApp::form_req(
        &format!("/admin/people/{}/role", t.teacher.id),
        "role=administrator",
        &admin,
    );
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_deactivated_account_cannot_sign_in_reset_or_enroll() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;

    // Halfway through signing in (password given, code not yet), the account is deactivated:
    // the code no longer makes a session.
    let half = app.password_step(&t.slug, &t.front_desk).await;
    assert_eq!(half.status, StatusCode::OK);
    let desk_gone = app
        .post(
            &format!("/api/v1/users/{}/deactivate", t.front_desk.id),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(desk_gone.status, StatusCode::OK, "{}", desk_gone.text);
    assert_eq!(desk_gone.body["deactivated"], true);
    let secret = t.front_desk.totp.clone().unwrap();
    let code = app.fresh_code(&secret);
    let late = app
        .post(
            "/api/v1/sessions/mfa",
            json!({"mfa_token": half.body["mfa_token"], "code": code}),
            None,
        )
        .await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED, "{}", late.text);
    assert!(late.cookie().is_none());

    // From the people page: the teacher's session ends, and the password no longer works.
    let page = app
        .post_form(
            &format!("/admin/people/{}/deactivate", t.teacher.id),
            "",
            &admin,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("is deactivated"));
    assert_eq!(
        app.get("/api/v1/me", Some(&teacher)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = app.password_step(&t.slug, &t.teacher).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    // A reset request is answered as for anyone, and makes no link.
    let reset = app
        .post(
            "/api/v1/password-reset",
            json!({"tenant": t.slug, "email": t.teacher.email}),
            None,
        )
        .await;
    assert!(reset.status.is_success(), "{}", reset.text);
    app.flush_audit().await;
    let chain = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    assert!(!chain
        .iter()
        .any(|e| e.kind == "password_reset_requested" && e.event.contains(&t.teacher.id)));
    assert_eq!(
        chain
            .iter()
            .filter(|e| e.kind == "user_deactivated")
            .count(),
        2
    );

    // An invited member deactivated before enrolling: the link is dead.
    let invited = app
        .post(
            "/api/v1/users",
            json!({"email": "late@maple-grove.example", "name": "Late Hire", "role": "teacher"}),
            Some(&admin),
        )
        .await;
    let id = invited.body["user"]["id"].as_str().unwrap().to_owned();
    let token = token_of(invited.body["enrollment_url"].as_str().unwrap());
    let gone = app
        .post(
            &format!("/api/v1/users/{id}/deactivate"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK);
    let dead = app
        .post("/api/v1/enrollment/begin", json!({"token": token}), None)
        .await;
    assert_eq!(dead.status, StatusCode::BAD_REQUEST);
    let resend = app
        .post(
            &format!("/api/v1/users/{id}/invitation"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(resend.status, StatusCode::CONFLICT);

    // Not oneself, not twice, not another tenant's, not by a teacher.
    for (who, cookie, want) in [
        (t.admin.id.clone(), admin.clone(), StatusCode::CONFLICT),
        (id.clone(), admin.clone(), StatusCode::CONFLICT),
        (
            other.teacher.id.clone(),
            admin.clone(),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let resp = app
            .post(
                &format!("/api/v1/users/{who}/deactivate"),
                json!({}),
                Some(&cookie),
            )
            .await;
        assert_eq!(resp.status, want, "{who}: {}", resp.text);
    }
    let parent = app.sign_in(&t.slug, &t.parent).await;
    let resp = app
        .post(
            &format!("/api/v1/users/{id}/deactivate"),
            json!({}),
            Some(&parent),
        )
        .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    // Reactivated from the people page, the teacher signs in again with the same password
    // and second factor; the old session stays ended. A second reactivation is a conflict.
    let page = app.get("/admin/people", Some(&admin)).await;
    assert!(page
        .text
        .contains(&format!("/admin/people/{}/reactivate", t.teacher.id)));
    let back = app
        .post_form(
            &format!("/admin/people/{}/reactivate", t.teacher.id),
            "",
            &admin,
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
    assert!(back.text.contains("can sign in again"));
    assert_eq!(
        app.get("/api/v1/me", Some(&teacher)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let fresh = app.sign_in(&t.slug, &t.teacher).await;
    assert_eq!(
        app.get("/api/v1/me", Some(&fresh)).await.status,
        StatusCode::OK
    );
    let twice = app
        .post(
            &format!("/api/v1/users/{}/reactivate", t.teacher.id),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    let by_parent = app
        .post(
            &format!("/api/v1/users/{id}/reactivate"),
            json!({}),
            Some(&parent),
        )
        .await;
    assert_eq!(by_parent.status, StatusCode::FORBIDDEN);
    // The other tenant's teacher still signs in.
    let theirs = app.sign_in(&other.slug, &other.teacher).await;
    assert_eq!(
        app.get("/api/v1/me", Some(&theirs)).await.status,
        StatusCode::OK
    );
}
