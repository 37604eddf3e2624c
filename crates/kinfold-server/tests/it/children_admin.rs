#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The administrators' child form (issue 14): a child added and edited from the console, sealed
//! fields included, with its unhappy paths (wrong role, another tenant's child, bad fields,
//! CSRF, an archived room).

use axum::http::StatusCode;

use crate::at_once::{at_once, one_lands_the_rest_conflict, refused_as_stale_api};
use crate::harness::TestApp;

const NEW: &str = "given_name=Juniper&family_name=Okoye&preferred_name=June\
&date_of_birth=2023-02-14&enrollment_status=enrolled&enrolled_on=2025-09-01\
&allergy_0=Sesame&severity_0=life_threatening&allergy_1=&severity_1=mild\
&medical_notes=Inhaler+in+the+blue+bag\
&contact_name_0=Ngozi+Okoye&contact_relation_0=Aunt&contact_phone_0=%2B14155550199";

#[tokio::test]
async fn an_administrator_adds_and_edits_a_child_from_the_console() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;

    let list = app.get("/children", Some(&admin)).await;
    assert!(list.text.contains(r#"href="/admin/children/new""#));
    let form = app.get("/admin/children/new", Some(&admin)).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text.contains("Room A") && form.text.contains(r#"name="allergy_1""#));

    let body = format!("{NEW}&classroom_id={}", r.rooms[1]);
    let made = app.post_form("/admin/children/new", &body, &admin).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text);
    let at = made.location();
    let id = at
        .trim_start_matches("/children/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let page = app.get(&at, Some(&admin)).await;
    assert!(
        page.text.contains("Child added.") && page.text.contains("Sesame"),
        "{}",
        page.text
    );

    let api = app
        .get(&format!("/api/v1/children/{id}"), Some(&admin))
        .await;
    assert_eq!(api.body["preferred_name"], "June");
    assert_eq!(api.body["classroom_id"], r.rooms[1].as_str());
    assert_eq!(api.body["allergies"][0]["severity"], "life_threatening");
    assert_eq!(
        api.body["allergies"].as_array().unwrap().len(),
        1,
        "blank rows add nothing"
    );
    assert_eq!(api.body["emergency_contacts"][0]["phone"], "+14155550199");
    assert_eq!(api.body["medical_notes"], "Inhaler in the blue bag");

    // The edit page shows what is stored; a move and a withdrawal are saved.
    let edit = app.get(&format!("/children/{id}/edit"), Some(&admin)).await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(
        edit.text.contains(r#"value="Sesame""#) && edit.text.contains("Inhaler in the blue bag")
    );
    let moved = NEW.replace("enrollment_status=enrolled", "enrollment_status=withdrawn")
        + &format!(
            "&classroom_id={}&left_on=2026-06-30&version={}",
            r.rooms[0],
            edit.drawn_version()
        );
    let saved = app
        .post_form(&format!("/children/{id}/edit"), &moved, &admin)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let api = app
        .get(&format!("/api/v1/children/{id}"), Some(&admin))
        .await;
    assert_eq!(api.body["classroom_id"], r.rooms[0].as_str());
    assert_eq!(api.body["enrollment_status"], "withdrawn");
    assert_eq!(api.body["left_on"], "2026-06-30");

    let kinds = app.audit_kinds(&t.scope).await;
    assert!(
        kinds.iter().any(|k| k == "child_created") && kinds.iter().any(|k| k == "child_updated")
    );
    // The edit sent only what changed: the entry names those fields, and no others.
    let chain = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let updated = chain
        .iter()
        .rev()
        .find(|e| e.kind == "child_updated")
        .unwrap();
    let event: serde_json::Value = serde_json::from_str(&updated.event).unwrap();
    assert_eq!(
        event["changed"],
        serde_json::json!(["classroom_id", "enrollment_status", "left_on"]),
        "{event}"
    );

    // A withdrawal recorded by mistake is taken back: the emptied date is cleared, from the
    // form as from the API.
    let edit = app.get(&format!("/children/{id}/edit"), Some(&admin)).await;
    let back = NEW.to_owned()
        + &format!(
            "&classroom_id={}&left_on=&version={}",
            r.rooms[0],
            edit.drawn_version()
        );
    let saved = app
        .post_form(&format!("/children/{id}/edit"), &back, &admin)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let api = app
        .get(&format!("/api/v1/children/{id}"), Some(&admin))
        .await;
    assert_eq!(api.body["enrollment_status"], "enrolled");
    assert!(api.body["left_on"].is_null(), "{}", api.body);
    let cleared = app
        .call(
            axum::http::Method::PATCH,
            &format!("/api/v1/children/{id}"),
            Some(serde_json::json!({"enrolled_on": ""})),
            Some(&admin),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    assert!(cleared.body["enrolled_on"].is_null(), "{}", cleared.body);
}

#[tokio::test]
async fn bad_fields_come_back_beside_them_and_nothing_is_saved() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let before = app.get("/api/v1/children", Some(&admin)).await.body["items"]
        .as_array()
        .unwrap()
        .len();
    for (from, to, id) in [
        (
            "date_of_birth=2023-02-14",
            "date_of_birth=2099-01-01",
            "child-date-of-birth-error",
        ),
        (
            "date_of_birth=2023-02-14",
            "date_of_birth=14%2F02%2F2023",
            "child-date-of-birth-error",
        ),
        (
            "given_name=Juniper",
            "given_name=Juni%E2%80%8Bper",
            "child-given-name-error",
        ),
        (
            "given_name=Juniper",
            "given_name=",
            "child-given-name-error",
        ),
        ("%2B14155550199", "call+me", "emergency-contacts-error"),
        (
            "severity_0=life_threatening",
            "severity_0=itchy",
            "allergies-error",
        ),
        (
            "enrollment_status=enrolled",
            "enrollment_status=graduated",
            "child-enrollment-status-error",
        ),
        (
            "enrolled_on=2025-09-01",
            "enrolled_on=1800-01-01",
            "child-enrolled-on-error",
        ),
    ] {
        let body = NEW.replace(from, to);
        let r = app.post_form("/admin/children/new", &body, &admin).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{to}: {}",
            r.text
        );
        assert!(
            r.text.contains(&format!(r#"id="{id}""#)),
            "{to}: no {id} in {}",
            r.text
        );
        assert!(r.text.contains("Nothing was saved"), "{to}");
        assert!(
            r.text.contains("Ngozi Okoye"),
            "{to}: what was typed is kept"
        );
    }
    // Oversized: a 5,000-character note is refused, not truncated.
    let long = NEW.replace("Inhaler+in+the+blue+bag", &"x".repeat(5000));
    let r = app.post_form("/admin/children/new", &long, &admin).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains(r#"id="child-medical-notes-error""#));
    let after = app.get("/api/v1/children", Some(&admin)).await.body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "nothing was saved");
}

#[tokio::test]
async fn other_roles_tenants_rooms_and_sites_are_refused() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let theirs = app.seed_records(&other).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;

    for user in [&t.teacher, &t.front_desk, &t.parent] {
        let c = app.sign_in(&t.slug, user).await;
        assert_eq!(
            app.get("/admin/children/new", Some(&c)).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.post_form("/admin/children/new", NEW, &c).await.status,
            StatusCode::FORBIDDEN
        );
        let edit = app.get(&format!("/children/{}/edit", r.a), Some(&c)).await;
        assert_eq!(edit.status, StatusCode::FORBIDDEN, "{:?}", user.role);
        let child = app.get(&format!("/children/{}", r.a), Some(&c)).await;
        assert!(
            !child.text.contains("/edit\""),
            "no edit link for {:?}",
            user.role
        );
    }
    // Another tenant's child and room.
    let edit = app
        .get(&format!("/children/{}/edit", theirs.a), Some(&admin))
        .await;
    assert_eq!(edit.status, StatusCode::NOT_FOUND);
    let post = app
        .post_form(&format!("/children/{}/edit", theirs.a), NEW, &admin)
        .await;
    assert_eq!(post.status, StatusCode::NOT_FOUND);
    let into_theirs = format!("{NEW}&classroom_id={}", theirs.rooms[0]);
    let r1 = app
        .post_form("/admin/children/new", &into_theirs, &admin)
        .await;
    assert_eq!(r1.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r1.text.contains(r#"id="child-classroom-id-error""#));
    // An archived room is not offered and not taken.
    let gone = app
        .post(
            &format!("/api/v1/classrooms/{}/archive", r.rooms[2]),
            serde_json::json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let form = app.get("/admin/children/new", Some(&admin)).await;
    assert!(
        !form.text.contains(&r.rooms[2]),
        "the archived room is offered"
    );
    let into_archived = format!("{NEW}&classroom_id={}", r.rooms[2]);
    let r2 = app
        .post_form("/admin/children/new", &into_archived, &admin)
        .await;
    assert_eq!(r2.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A cross-site form.
    let mut req = TestApp::form_req("/admin/children/new", NEW, &admin);
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
    let list = app.get("/api/v1/children", Some(&admin)).await;
    assert!(!list.text.contains("Juniper"), "nothing was created");
}

/// Two people edit one child: the second save, made from the version both opened, is refused
/// with a message that says to reload; it does not undo the first. Eight saves at once from
/// one version: exactly one lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edit_made_from_an_older_version_is_refused_not_merged() {
    use axum::http::Method;
    use serde_json::json;
    let app = std::sync::Arc::new(TestApp::new().await);
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let other = app.sign_in(&t.slug, &t.admin).await;

    // Both open the edit page, at one version; the API shows the same one.
    let page = app
        .get(&format!("/children/{}/edit", r.a), Some(&other))
        .await;
    let version = page.drawn_version();
    let view = app
        .get(&format!("/api/v1/children/{}", r.a), Some(&admin))
        .await;
    assert_eq!(
        view.body["version"].as_i64(),
        Some(version),
        "{}",
        view.text
    );

    // The first save lands and moves the version on.
    let first = app
        .call(
            Method::PATCH,
            &format!("/api/v1/children/{}", r.a),
            Some(json!({"medical_notes": "Inhaler in the red bag", "version": version})),
            Some(&admin),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    // A counter, not the edit's time: one more than the version it was made from.
    let newer = first.body["version"].as_i64().unwrap();
    assert_eq!(newer, version + 1);

    // The second, from the page opened before it: refused, and the notes stand.
    let stale = app
        .post_form(
            &format!("/children/{}/edit", r.a),
            &format!("version={version}&medical_notes=Nothing+to+note"),
            &other,
        )
        .await;
    crate::at_once::redrawn_as_it_is(&stale, newer, "Inhaler in the red bag");
    // A form without its version is as old: refused, not saved over what is there.
    let blind = app
        .post_form(
            &format!("/children/{}/edit", r.a),
            "medical_notes=Nothing+to+note",
            &other,
        )
        .await;
    crate::at_once::redrawn_as_it_is(&blind, newer, "Inhaler in the red bag");
    let api_stale = app
        .call(
            Method::PATCH,
            &format!("/api/v1/children/{}", r.a),
            Some(json!({"medical_notes": "Nothing to note", "version": version})),
            Some(&other),
        )
        .await;
    refused_as_stale_api(&api_stale);
    let now = app
        .get(&format!("/api/v1/children/{}", r.a), Some(&admin))
        .await;
    assert_eq!(now.body["medical_notes"], "Inhaler in the red bag");
    assert_eq!(now.body["version"].as_i64(), Some(newer));

    // Eight saves at once from the same version: one lands, seven are refused.
    let bodies = (0..8)
        .map(|i| json!({"medical_notes": format!("Note {i}"), "version": newer}))
        .collect();
    let path = format!("/api/v1/children/{}", r.a);
    let answers = at_once(&app, Method::PATCH, &path, bodies, &admin).await;
    one_lands_the_rest_conflict(&answers, StatusCode::OK);
}
