#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The administrators' classroom pages and API (issue 14): create, rename, set the age group
//! and capacity, assign and unassign teachers, archive. Each change is an administrative
//! action in the chain; each page has its unhappy paths (wrong role, another tenant's ID, a
//! bad field, CSRF), and parallel requests cannot make two rooms of one name.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::at_once::{
    at_once, one_lands_the_rest_conflict, redrawn_as_it_is, refused_as_stale_api,
};
use crate::harness::TestApp;

/// The room ID in a redirect to `/admin/classrooms/{id}?done=...`.
fn room_in(location: &str) -> String {
    location
        .trim_start_matches("/admin/classrooms/")
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_administrator_runs_a_classroom_from_the_console() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;

    let list = app.get("/admin/classrooms", Some(&admin)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.text.contains("No classrooms yet") && list.text.contains("Add a classroom"));

    let made = app
        .post_form(
            "/admin/classrooms",
            "name=Bluebirds&age_group=toddler&capacity=12",
            &admin,
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text);
    let id = room_in(&made.location());
    let page = app
        .get(
            &format!("/admin/classrooms/{id}?done=created"),
            Some(&admin),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Classroom created.") && page.text.contains("Bluebirds"));
    assert!(
        page.text.contains(r#"<option value="toddler" selected>"#),
        "{}",
        page.text
    );

    // Rename, and the API shows the settings.
    let saved = app
        .post_form(
            &format!("/admin/classrooms/{id}"),
            &format!(
                "name=Blue+Jays&age_group=preschool&capacity=16&version={}",
                page.drawn_version()
            ),
            &admin,
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let api = app.get("/api/v1/classrooms", Some(&admin)).await;
    assert_eq!(api.body["items"][0]["name"], "Blue Jays");
    assert_eq!(api.body["items"][0]["age_group"], "preschool");
    assert_eq!(api.body["items"][0]["capacity"], 16);
    assert_eq!(api.body["items"][0]["archived"], false);

    // Assign the teacher, then unassign them.
    let assigned = app
        .post_form(
            &format!("/admin/classrooms/{id}/staff"),
            &format!("user_id={}", t.teacher.id),
            &admin,
        )
        .await;
    assert_eq!(assigned.status, StatusCode::SEE_OTHER, "{}", assigned.text);
    // Assigning again changes nothing, and writes no second entry.
    let again = app
        .post_form(
            &format!("/admin/classrooms/{id}/staff"),
            &format!("user_id={}", t.teacher.id),
            &admin,
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let kinds = app.audit_kinds(&t.scope).await;
    assert_eq!(kinds.iter().filter(|k| *k == "staff_assigned").count(), 1);
    let page = app
        .get(&format!("/admin/classrooms/{id}"), Some(&admin))
        .await;
    assert!(page.text.contains("Unassign"), "{}", page.text);
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let theirs = app.get("/api/v1/classrooms", Some(&teacher)).await;
    assert_eq!(theirs.body["items"].as_array().unwrap().len(), 1);
    let removed = app
        .post_form(
            &format!("/admin/classrooms/{id}/staff/{}/remove", t.teacher.id),
            "",
            &admin,
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.text);
    let theirs = app.get("/api/v1/classrooms", Some(&teacher)).await;
    assert_eq!(theirs.body["items"].as_array().unwrap().len(), 0);

    // Archive: the box must be ticked; then the room leaves the day's lists and keeps its page.
    let unticked = app
        .post_form(&format!("/admin/classrooms/{id}/archive"), "", &admin)
        .await;
    assert_eq!(unticked.status, StatusCode::UNPROCESSABLE_ENTITY);
    let archived = app
        .post_form(
            &format!("/admin/classrooms/{id}/archive"),
            "confirm=yes",
            &admin,
        )
        .await;
    assert_eq!(archived.status, StatusCode::SEE_OTHER, "{}", archived.text);
    let api = app.get("/api/v1/classrooms", Some(&admin)).await;
    assert_eq!(api.body["items"].as_array().unwrap().len(), 0);
    let page = app
        .get(&format!("/admin/classrooms/{id}"), Some(&admin))
        .await;
    assert!(page.text.contains("Archived") && !page.text.contains("room-settings"));
    let again = app
        .post_form(
            &format!("/admin/classrooms/{id}/staff"),
            &format!("user_id={}", t.teacher.id),
            &admin,
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "an archived room takes no teacher"
    );

    let kinds = app.audit_kinds(&t.scope).await;
    for k in [
        "classroom_created",
        "classroom_updated",
        "staff_assigned",
        "staff_unassigned",
        "classroom_archived",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
}

#[tokio::test]
async fn a_bad_field_is_shown_beside_it_and_nothing_is_saved() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    for (body, field) in [
        ("name=&capacity=", "new-room-name"),
        ("name=Owls&capacity=0", "new-room-capacity"),
        ("name=Owls&capacity=abc", "new-room-capacity"),
        ("name=Owls&capacity=99999999999", "new-room-capacity"),
        ("name=Owls&age_group=adults", "new-room-age-group"),
        // U+202E (right-to-left override) would show the name reversed.
        ("name=Ow%E2%80%AEls", "new-room-name"),
        ("name=%3Cscript%3E", "new-room-name"),
    ] {
        let r = app.post_form("/admin/classrooms", body, &admin).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        assert!(
            r.text.contains(&format!(r#"id="{field}-error""#))
                && r.text
                    .contains(&format!(r#"aria-describedby="{field}-error""#)),
            "{body}: the error is beside {field}: {}",
            r.text
        );
    }
    // The typed value comes back, escaped.
    let r = app
        .post_form("/admin/classrooms", "name=%22%3E%3Cb%3E&capacity=0", &admin)
        .await;
    assert!(!r.text.contains("\"><b>"), "{}", r.text);
    let api = app.get("/api/v1/classrooms", Some(&admin)).await;
    assert_eq!(
        api.body["items"].as_array().unwrap().len(),
        0,
        "nothing was saved"
    );

    // The API takes the same rules, with the same codes.
    let r = app
        .post(
            "/api/v1/classrooms",
            json!({"name": "Owls", "age_group": "adults"}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"]["field"], "age_group");
    let r = app
        .post(
            "/api/v1/classrooms",
            json!({"name": "Owls", "capacity": 0}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.body["error"]["field"], "capacity");
}

#[tokio::test]
async fn other_roles_other_tenants_and_cross_site_forms_are_refused() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let r = app.seed_records(&other).await;
    let theirs = &r.rooms[0];
    let admin = app.sign_in(&t.slug, &t.admin).await;

    // Another tenant's room: not found, on every page and operation, and unchanged.
    let page = app
        .get(&format!("/admin/classrooms/{theirs}"), Some(&admin))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    for (path, body) in [
        (
            format!("/admin/classrooms/{theirs}"),
            "name=Mine".to_owned(),
        ),
        (
            format!("/admin/classrooms/{theirs}/archive"),
            "confirm=yes".to_owned(),
        ),
        (
            format!("/admin/classrooms/{theirs}/staff"),
            format!("user_id={}", t.teacher.id),
        ),
    ] {
        let resp = app.post_form(&path, &body, &admin).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{path}: {}", resp.text);
    }
    let put = app
        .call(
            Method::PUT,
            &format!("/api/v1/classrooms/{theirs}"),
            Some(json!({"name": "Mine"})),
            Some(&admin),
        )
        .await;
    assert_eq!(put.status, StatusCode::NOT_FOUND);
    let other_admin = app.sign_in(&other.slug, &other.admin).await;
    let still = app.get("/api/v1/classrooms", Some(&other_admin)).await;
    assert_eq!(still.body["items"][0]["name"], "Room A");

    // Other roles: the pages and the changes are administrators' only.
    for user in [&t.teacher, &t.front_desk, &t.parent] {
        let c = app.sign_in(&t.slug, user).await;
        let page = app.get("/admin/classrooms", Some(&c)).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{:?}", user.role);
        let made = app.post_form("/admin/classrooms", "name=Sneaky", &c).await;
        assert_eq!(made.status, StatusCode::FORBIDDEN, "{:?}", user.role);
        let home = app.get("/", Some(&c)).await;
        assert!(
            !home.text.contains("/admin/classrooms"),
            "no link for {:?}",
            user.role
        );
    }
    // The administrator's way there: the bar's Administration page.
    let admin_page = app.get("/admin", Some(&admin)).await;
    assert!(admin_page.text.contains(r#"href="/admin/classrooms""#));

    // A cross-site form is refused before it reaches the page.
    let mut req = TestApp::form_req("/admin/classrooms", "name=Forged", &admin);
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
    let api = app.get("/api/v1/classrooms", Some(&admin)).await;
    assert_eq!(api.body["items"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_room_with_children_is_not_archived_and_one_name_is_one_room() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let busy = app
        .post_form(
            &format!("/admin/classrooms/{}/archive", r.rooms[0]),
            "confirm=yes",
            &admin,
        )
        .await;
    assert_eq!(busy.status, StatusCode::CONFLICT, "{}", busy.text);
    assert!(busy.text.contains("move them to another room first"));
    // Room C holds no child: it archives.
    let api = app
        .post(
            &format!("/api/v1/classrooms/{}/archive", r.rooms[2]),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(api.status, StatusCode::NO_CONTENT, "{}", api.text);
    let renamed = app
        .call(
            Method::PUT,
            &format!("/api/v1/classrooms/{}", r.rooms[1]),
            Some(json!({"name": "Room A"})),
            Some(&admin),
        )
        .await;
    assert_eq!(
        renamed.status,
        StatusCode::CONFLICT,
        "a rename to a taken name"
    );

    // 12 parallel creations of one name, on the runtime's threads: one room.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (app, admin) = (app.clone(), admin.clone());
        set.spawn(async move {
            app.post_form("/admin/classrooms", "name=Twins", &admin)
                .await
        });
    }
    let (mut made, mut refused) = (0, 0);
    while let Some(r) = set.join_next().await {
        match r.unwrap().status {
            StatusCode::SEE_OTHER => made += 1,
            StatusCode::CONFLICT => refused += 1,
            other => panic!("{other}"),
        }
    }
    assert_eq!((made, refused), (1, 11));
}

/// The room `id` as `GET /api/v1/classrooms` lists it.
async fn listed(app: &TestApp, cookie: &str, id: &str) -> serde_json::Value {
    let list = app.get("/api/v1/classrooms", Some(cookie)).await;
    list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
        .clone()
}

/// Two administrators with the settings open: the second save, made from the version both
/// opened, is refused with a note to reload, over the form and the API, and the first stands.
/// Eight saves at once from one version: exactly one lands.
#[tokio::test]
async fn a_settings_change_made_from_an_older_version_is_refused() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let other = app.sign_in(&t.slug, &t.admin).await;
    let room = &r.rooms[0];
    let path = format!("/admin/classrooms/{room}");

    let page = app.get(&path, Some(&other)).await;
    let version = page.drawn_version();
    let first = app
        .post_form(
            &path,
            &format!("name=Sunflowers&age_group=toddler&capacity=10&version={version}"),
            &admin,
        )
        .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.text);
    let now = listed(&app, &admin, room).await;
    assert_eq!(now["name"], "Sunflowers");
    assert_eq!(now["version"].as_i64(), Some(version + 1));

    // From the page opened before, and from a form without its version: refused.
    let fields = "name=Daisies&age_group=&capacity=";
    for body in [format!("{fields}&version={version}"), fields.to_owned()] {
        let stale = app.post_form(&path, &body, &other).await;
        redrawn_as_it_is(&stale, version + 1, "value=\"Sunflowers\"");
    }
    let api_stale = app
        .call(
            Method::PUT,
            &format!("/api/v1/classrooms/{room}"),
            Some(json!({"name": "Daisies", "version": version})),
            Some(&other),
        )
        .await;
    refused_as_stale_api(&api_stale);
    let reloaded = app.get(&path, Some(&other)).await;
    assert!(reloaded.text.contains("Sunflowers"));
    assert!(!reloaded.text.contains("Daisies"));

    // Eight saves at once from the same version: one lands, seven are refused.
    let bodies = (0..8)
        .map(|i| json!({"name": format!("Room {i}"), "version": version + 1}))
        .collect();
    let api = format!("/api/v1/classrooms/{room}");
    let answers = at_once(&app, Method::PUT, &api, bodies, &admin).await;
    one_lands_the_rest_conflict(&answers, StatusCode::OK);
    let room_now = listed(&app, &admin, room).await;
    assert_eq!(room_now["version"].as_i64(), Some(version + 2));
}
