#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A child's enrollment and the day (issue 14: "record withdrawal (`left_on`) and archive"): an
//! archived child keeps their record and history but leaves the rosters and is not checked in;
//! one archived while in the room stays on its roster, in its ratio, until checked out.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::TestApp;
use crate::rooms::guardian;

#[tokio::test]
async fn an_archived_child_leaves_the_rosters_and_one_still_in_goes_home_first() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let room = format!("/rooms/{}", r.rooms[0]);
    let ava = guardian(&app, &r.a, "full", &admin).await;
    let gran = app
        .post(
            &format!("/api/v1/children/{}/guardians", r.c),
            json!({"name": "Gran Quill", "relationship": "Grandmother", "custody": "full", "may_pick_up": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(gran.status, StatusCode::CREATED, "{}", gran.text);
    let cleo = guardian(&app, &r.c, "full", &admin).await;

    // Ava is in; then both she and Cleo (not in) are archived.
    let form = format!("child={}&action=check_in&person={ava}", r.a);
    let done = app
        .post_form(&format!("{room}/attendance"), &form, &desk)
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    for child in [&r.a, &r.c] {
        let archived = app
            .call(
                Method::PATCH,
                &format!("/api/v1/children/{child}"),
                Some(json!({"enrollment_status": "archived", "left_on": "2026-06-30"})),
                Some(&admin),
            )
            .await;
        assert_eq!(archived.status, StatusCode::OK, "{}", archived.text);
        assert_eq!(archived.body["enrollment_status"], "archived");
    }

    // Cleo leaves the roster; Ava, still in the room, stays on it (and in its count) to be
    // checked out.
    let page = app.get(&room, Some(&desk)).await;
    assert!(!page.text.contains("Cleo Quill"), "{}", page.text);
    assert!(page.text.contains("Ava Quill"), "{}", page.text);
    assert!(page.text.contains("Check out Ava"), "{}", page.text);
    let out = format!("child={}&action=check_out&person={ava}", r.a);
    let done = app
        .post_form(&format!("{room}/attendance"), &out, &desk)
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let page = app.get(&room, Some(&desk)).await;
    assert!(
        !page.text.contains("Ava Quill") && !page.text.contains("Cleo Quill"),
        "gone home, she leaves the roster: {}",
        page.text
    );

    // Not checked in again, at the kiosk, on the child's page or over the API: a clear 409,
    // nothing written; her page says why and offers no check-in.
    let again = app
        .post_form(&format!("{room}/attendance"), &form, &desk)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert!(again.text.contains("only an enrolled child is checked in"));
    let api = app
        .check(
            "in",
            json!({"child_id": r.c, "guardian_id": cleo.trim_start_matches("guardian:")}),
            &desk,
        )
        .await;
    assert_eq!((api.status, api.code()), (StatusCode::CONFLICT, "conflict"));
    let child_page = app.get(&format!("/children/{}", r.c), Some(&desk)).await;
    assert!(
        child_page.text.contains(r#"id="not-enrolled""#),
        "{}",
        child_page.text
    );
    assert!(!child_page.text.contains(r#"value="check_in""#));
    let day = app.get("/api/v1/attendance", Some(&admin)).await;
    assert_eq!(day.status, StatusCode::OK, "{}", day.text);
    let ins = day.text.matches(&r.c).count();
    assert_eq!(ins, 0, "Cleo is on no roster today: {}", day.text);

    // The record and its history stay: the administrator reads both, and the chain names
    // the change.
    let record = app
        .get(&format!("/api/v1/children/{}", r.a), Some(&admin))
        .await;
    assert_eq!(record.status, StatusCode::OK);
    assert_eq!(record.body["left_on"], "2026-06-30");
    let history = app.get(&format!("/children/{}", r.a), Some(&admin)).await;
    assert!(history.text.contains("Checked in"), "{}", history.text);
    app.flush_audit().await;
    let chain = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    assert!(chain.iter().any(|e| e.kind == "child_updated"
        && e.event.contains(&r.c)
        && e.event.contains("enrollment_status")));

    // Enrolled again, she is checked in as before.
    let back = app
        .call(
            Method::PATCH,
            &format!("/api/v1/children/{}", r.c),
            Some(json!({"enrollment_status": "enrolled", "left_on": null})),
            Some(&admin),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
    let cleo_in = format!("child={}&action=check_in&person={cleo}", r.c);
    let done = app
        .post_form(&format!("{room}/attendance"), &cleo_in, &desk)
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
}
