#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Parents on the administrators' people page (issue 14: "invite staff (with a role) and
//! parents by email"): a parent invited from `/admin/people` (or `POST /api/v1/users` with
//! `role: parent`) enrolls from the link, sees no child until linked to one, and is then
//! managed like staff: the invitation sent again, sessions ended, second factor reset,
//! deactivated and reactivated. And the console's "Reset second factor" for a staff member.

use axum::http::StatusCode;
use serde_json::json;

use crate::harness::{TestApp, PASSWORD};
use crate::people::{enroll, token_of};

/// The link a people page shows after an invitation, a reset or a resend.
fn shown_link(page: &str) -> String {
    page.split(r#"<code id="invite-link">"#)
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the page shows the link")
        .to_owned()
}

/// The people page's line for one person.
fn line<'a>(page: &'a str, id: &str) -> &'a str {
    page.split(&format!(r#"id="user-{id}""#))
        .nth(1)
        .and_then(|s| s.split("</li>").next())
        .unwrap_or_else(|| panic!("no line for {id}: {page}"))
}

fn id_of(users: &serde_json::Value, email: &str) -> String {
    users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap_or_else(|| panic!("{email} not in {users}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_administrator_invites_a_parent_and_manages_their_account() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;

    let sent = app
        .post_form(
            "/admin/people",
            "name=Rosa+Diaz&email=rosa%40family.example&role=parent",
            &admin,
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert!(sent.text.contains("Invitation sent to Rosa Diaz"));
    let first = shown_link(&sent.text);
    let rosa = id_of(
        &app.get("/api/v1/users", Some(&admin)).await.body,
        "rosa@family.example",
    );
    let parents = sent.text.split(r#"id="parent-list""#).nth(1).unwrap();
    assert!(parents.contains(&format!(r#"id="user-{rosa}""#)));
    let mine = line(&sent.text, &rosa);
    assert!(mine.contains("Parent") && mine.contains("invitation pending"));
    assert!(mine.contains("Send the invitation again") && !mine.contains("Change role"));

    // Sent again from her line: the first link dies, the new one works.
    let again = app
        .post_form(&format!("/admin/people/{rosa}/invitation"), "", &admin)
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    let dead = app
        .post(
            "/api/v1/enrollment/begin",
            json!({"token": token_of(&first)}),
            None,
        )
        .await;
    assert_eq!(dead.status, StatusCode::BAD_REQUEST);
    let cookie = enroll(&app, &token_of(&shown_link(&again.text))).await;
    let me = app.get("/api/v1/me", Some(&cookie)).await;
    assert_eq!(me.body["role"], "parent", "{}", me.text);
    let none = app.get("/api/v1/children", Some(&cookie)).await;
    assert_eq!(
        none.body["items"],
        json!([]),
        "no child before she is linked"
    );

    // Linked from the child's page to her account, she sees that child and no other.
    let linked = app
        .post_form(
            &format!("/children/{}/guardians", r.b),
            &format!("name=Rosa+Diaz&relationship=Mother&account=user%3A{rosa}&custody=shared"),
            &admin,
        )
        .await;
    assert_eq!(linked.status, StatusCode::SEE_OTHER, "{}", linked.text);
    let seen = app.get("/api/v1/children", Some(&cookie)).await;
    let ids: Vec<&str> = seen.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [r.b.as_str()], "{}", seen.text);

    // Enrolled: her line offers a reset, not an invitation, and a resend is a conflict.
    let page = app.get("/admin/people", Some(&admin)).await;
    let mine = line(&page.text, &rosa);
    assert!(mine.contains("enrolled") && mine.contains("Reset second factor"));
    assert!(!mine.contains("Send the invitation again"));
    let late = app
        .post_form(&format!("/admin/people/{rosa}/invitation"), "", &admin)
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.text);

    // Her sessions end; deactivated, her password no longer signs her in; reactivated, it
    // does again.
    let ended = app
        .post_form(&format!("/admin/people/{rosa}/sessions-end"), "", &admin)
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.text);
    assert!(ended.text.contains("1 session(s) ended."), "{}", ended.text);
    assert_eq!(
        app.get("/api/v1/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let off = app
        .post_form(&format!("/admin/people/{rosa}/deactivate"), "", &admin)
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text);
    assert!(line(&off.text, &rosa).contains("deactivated"));
    let attempt = json!({"tenant": t.slug, "email": "rosa@family.example", "password": PASSWORD});
    let refused = app.post("/api/v1/sessions", attempt.clone(), None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    let on = app
        .post_form(&format!("/admin/people/{rosa}/reactivate"), "", &admin)
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.text);
    let back = app.post("/api/v1/sessions", attempt, None).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
    assert_eq!(back.body["mfa_required"], true, "her factor is as it was");

    // The API invites a parent the same way; a teacher may not.
    let api = app
        .post(
            "/api/v1/users",
            json!({"email": "sam@family.example", "name": "Sam Lee", "role": "parent"}),
            Some(&admin),
        )
        .await;
    assert_eq!(api.status, StatusCode::CREATED, "{}", api.text);
    assert_eq!(api.body["user"]["role"], "parent");
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let refused = app
        .post(
            "/api/v1/users",
            json!({"email": "kim@family.example", "name": "Kim", "role": "parent"}),
            Some(&teacher),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let cross = app
        .post_form_cross_site(
            "/admin/people",
            "name=Forged&email=forged%40family.example&role=parent",
            &admin,
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let users = app.get("/api/v1/users", Some(&admin)).await.body;
    let emails: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert!(!emails
        .iter()
        .any(|e| e.starts_with("kim@") || e.starts_with("forged@")));

    // A parent invited at a staff member's address is the same address taken (409), and a
    // role only the page's own values name: nothing is created either way.
    let taken = app
        .post_form(
            "/admin/people",
            &format!(
                "name=Twin&email={}&role=parent",
                t.teacher.email.replace('@', "%40")
            ),
            &admin,
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
    for role in ["Parent", "+parent", "parent%E2%80%8B", "guardian"] {
        let r = app
            .post_form(
                "/admin/people",
                &format!("name=Odd&email=odd%40family.example&role={role}"),
                &admin,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{role}: {}",
            r.text
        );
        assert!(r.text.contains(r#"id="invite-role-error""#), "{role}");
    }
    let after = app.get("/api/v1/users", Some(&admin)).await.body;
    assert_eq!(
        after["items"].as_array().unwrap().len(),
        users["items"].as_array().unwrap().len(),
        "nothing was created"
    );

    let kinds = app.audit_kinds(&t.scope).await;
    for kind in [
        "user_created",
        "enrollment_issued",
        "sessions_revoked_for_user",
        "user_deactivated",
        "user_reactivated",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} not in {kinds:?}");
    }
}

#[tokio::test]
async fn the_console_resets_a_teachers_second_factor_and_they_enroll_again() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let page = app.get("/admin/people", Some(&admin)).await;
    assert!(line(&page.text, &t.teacher.id).contains("Reset second factor"));

    let reset = app
        .post_form(
            &format!("/admin/people/{}/mfa-reset", t.teacher.id),
            "",
            &admin,
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    assert!(
        reset
            .text
            .contains("Their second factor was reset and their sessions ended"),
        "{}",
        reset.text
    );
    // Their session ended, the old code no longer completes a sign-in, and their line now
    // waits for them to enroll again.
    assert_eq!(
        app.get("/api/v1/me", Some(&teacher)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let mine = line(&reset.text, &t.teacher.id);
    assert!(mine.contains("invitation pending") && mine.contains("Send the invitation again"));
    let kinds = app.audit_kinds(&t.scope).await;
    assert!(kinds.iter().any(|k| k == "mfa_reset"), "{kinds:?}");
    // The link shown (and emailed) enrolls a new factor; they are a teacher as before.
    let cookie = enroll(&app, &token_of(&shown_link(&reset.text))).await;
    let me = app.get("/api/v1/me", Some(&cookie)).await;
    assert_eq!(me.body["role"], "teacher", "{}", me.text);
    // Another tenant's teacher is not found.
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let theirs = app
        .post_form(
            &format!("/admin/people/{}/mfa-reset", other.teacher.id),
            "",
            &admin,
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
}
