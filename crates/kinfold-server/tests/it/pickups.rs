#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Authorized pickups (issue 14): an administrator adds one from the child's page with a photo
//! ID to ask for, edits it in place (a blank passphrase keeps the old one, a new one replaces
//! it), over the console and the API; the desk sees the photo ID. Unhappy paths: other roles,
//! another tenant's pickup, bad fields, an ID number's worth of text, invisible characters,
//! cross-site forms.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::at_once::{
    at_once, edits_and_removals_at_once, one_lands_the_rest_conflict, refused_as_garbled,
    refused_as_stale_api, refused_as_stale_form,
};
use crate::harness::{Records, TestApp};

async fn pickups(app: &TestApp, r: &Records, cookie: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/children/{}", r.a), Some(cookie))
        .await
        .body["authorized_pickups"]
        .as_array()
        .unwrap()
        .clone()
}

/// Checks the child in by a guardian, then out by `pickup` with `passphrase`: the check-out's
/// status and code.
async fn pick_up(
    app: &TestApp,
    r: &Records,
    desk: &str,
    pickup: &str,
    passphrase: &str,
) -> (StatusCode, String) {
    let guardian = app
        .get(&format!("/api/v1/children/{}/guardians", r.a), Some(desk))
        .await
        .body["items"][0]["id"]
        .clone();
    let inn = app
        .check(
            "in",
            json!({"child_id": r.a, "guardian_id": guardian}),
            desk,
        )
        .await;
    assert!(
        inn.status == StatusCode::CREATED || inn.code() == "conflict",
        "{}",
        inn.text
    );
    let out = app
        .check(
            "out",
            json!({"child_id": r.a, "pickup_id": pickup, "passphrase": passphrase}),
            desk,
        )
        .await;
    (out.status, out.code().to_owned())
}

#[tokio::test]
async fn a_director_adds_and_edits_a_pickup_from_the_child_page() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;

    // Added from the page, with the photo ID to ask for.
    let added = app
        .post_form(
            &format!("/children/{}/pickups", r.a),
            "name=Uncle+Bo&relation=Uncle&photo_id=Passport&passphrase=green+kite+9",
            &admin,
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    assert!(added.text.contains("Added: they can pick up from now on."));
    assert!(
        added.text.contains("Uncle Bo</strong> (Uncle)"),
        "{}",
        added.text
    );
    assert!(added.text.contains("photo ID: Passport."));
    assert!(!added.text.contains("green kite 9"));
    let bo = pickups(&app, &r, &desk)
        .await
        .into_iter()
        .find(|p| p["name"] == "Uncle Bo")
        .unwrap();
    assert_eq!(bo["photo_id"], "Passport");
    let version = bo["version"].as_i64().unwrap();
    let bo = bo["id"].as_str().unwrap().to_owned();

    // Edited in place with a blank passphrase: the fields change, the passphrase stays.
    let edited = app
        .post_form(
            &format!("/children/{}/pickups/{bo}", r.a),
            &format!(
                "name=Uncle+Bo+Reyes&relation=Great-uncle&photo_id=State+ID&passphrase=&version={version}"
            ),
            &admin,
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    assert!(edited
        .text
        .contains("Saved: it holds from the next pickup."));
    assert!(edited
        .text
        .contains("Uncle Bo Reyes</strong> (Great-uncle)"));
    assert!(edited.text.contains("photo ID: State ID."));
    assert_eq!(
        pick_up(&app, &r, &desk, &bo, "green kite 9").await.0,
        StatusCode::CREATED
    );

    // Over the API with a new passphrase: the old one no longer takes the child.
    let put = app
        .call(
            Method::PUT,
            &format!("/api/v1/children/{}/pickups/{bo}", r.a),
            Some(
                json!({"name": "Bo Reyes", "relation": "Great-uncle", "passphrase": "amber owl 3"}),
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.text);
    let now = pickups(&app, &r, &desk).await;
    let bo_now = now.iter().find(|p| p["id"] == bo.as_str()).unwrap();
    assert_eq!(
        (bo_now["name"].as_str(), bo_now["photo_id"].as_str()),
        (Some("Bo Reyes"), Some(""))
    );
    assert_eq!(
        pick_up(&app, &r, &desk, &bo, "green kite 9").await,
        (StatusCode::FORBIDDEN, "pickup_refused".to_owned())
    );
    assert_eq!(
        pick_up(&app, &r, &desk, &bo, "amber owl 3").await.0,
        StatusCode::CREATED
    );

    // In the chain: added, changed twice (once with a new passphrase), never the passphrase
    // nor the new name.
    app.flush_audit().await;
    let chain = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let changed: Vec<_> = chain
        .iter()
        .filter(|e| e.kind == "pickup_changed")
        .collect();
    assert_eq!(changed.len(), 2);
    assert!(
        changed[0].event.contains("\"passphrase_replaced\":false"),
        "{}",
        changed[0].event
    );
    assert!(changed[1].event.contains("\"passphrase_replaced\":true"));
    // Which fields changed, never their values.
    assert!(
        changed[0]
            .event
            .contains("\"changed\":[\"name\",\"relation\",\"photo_id\"]"),
        "{}",
        changed[0].event
    );
    assert!(
        changed[1]
            .event
            .contains("\"changed\":[\"name\",\"photo_id\"]"),
        "{}",
        changed[1].event
    );
    assert!(!chain.iter().any(|e| e.event.contains("Bo Reyes")));
    assert!(!chain
        .iter()
        .any(|e| e.event.contains("amber owl") || e.event.contains("green kite")));
}

#[tokio::test]
async fn pickup_edits_refuse_other_roles_tenants_and_bad_fields() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let theirs = app.seed_records(&other).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let aunt = pickups(&app, &r, &admin).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let edit = |body: Value| {
        (
            Method::PUT,
            format!("/api/v1/children/{}/pickups/{aunt}", r.a),
            body,
        )
    };
    let fine = json!({"name": "Aunt Quill", "relation": "Aunt"});

    for user in [&t.teacher, &t.front_desk, &t.parent] {
        let c = app.sign_in(&t.slug, user).await;
        let (m, path, body) = edit(fine.clone());
        let resp = app.call(m, &path, Some(body), Some(&c)).await;
        assert!(
            matches!(resp.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{}",
            resp.text
        );
        let form = app
            .post_form(
                &format!("/children/{}/pickups/{aunt}", r.a),
                "name=X&relation=Y",
                &c,
            )
            .await;
        assert!(!form.text.contains("Saved:"), "{}", form.text);
    }
    // Another tenant's administrator, with their own child's id or ours: not found.
    let theirs_admin = app.sign_in(&other.slug, &other.admin).await;
    for child in [&r.a, &theirs.a] {
        let resp = app
            .call(
                Method::PUT,
                &format!("/api/v1/children/{child}/pickups/{aunt}"),
                Some(fine.clone()),
                Some(&theirs_admin),
            )
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{}", resp.text);
    }
    // Bad fields: each a 422 naming the field, nothing changed.
    let long = "x".repeat(121);
    for (body, field) in [
        (json!({"name": "", "relation": "Aunt"}), "name"),
        (
            json!({"name": "Aunt Quill", "relation": "Aunt", "photo_id": long}),
            "photo_id",
        ),
        (
            json!({"name": "Aunt Quill", "relation": "Aunt", "photo_id": "Passport\nNo 123"}),
            "photo_id",
        ),
        (
            json!({"name": "Aunt Quill", "relation": "Aunt", "photo_id": "Pass\u{202e}port"}),
            "photo_id",
        ),
        (
            json!({"name": "Aunt Quill", "relation": "Aunt", "passphrase": "short"}),
            "passphrase",
        ),
    ] {
        let (m, path, body) = edit(body);
        let resp = app.call(m, &path, Some(body), Some(&admin)).await;
        assert_eq!(
            resp.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            resp.text
        );
        assert_eq!(resp.body["error"]["field"], field, "{}", resp.text);
    }
    let (m, path, _) = edit(Value::Null);
    let unknown = app
        .call(
            m,
            &path,
            Some(json!({"name": "A", "relation": "B", "passphrase_hash": "x"})),
            Some(&admin),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.text
    );
    let still = &pickups(&app, &r, &admin).await[0];
    assert_eq!(
        (still["name"].as_str(), still["photo_id"].as_str()),
        (Some("Aunt Quill"), Some("Driver's licence"))
    );
    // A form with a bad field shows the error beside the form, not a saved notice.
    let bad = app
        .post_form(
            &format!("/children/{}/pickups/{aunt}", r.a),
            "name=&relation=Aunt",
            &admin,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert!(!bad.text.contains("Saved:"));

    // Another site's page cannot add, edit or remove a pickup with the administrator's cookie.
    let before = pickups(&app, &r, &admin).await;
    let version = before[0]["version"].as_i64().unwrap();
    let child = format!("/children/{}/pickups", r.a);
    for (path, body) in [
        (
            child.clone(),
            "name=Mallory&relation=Friend&passphrase=open+sesame+1".to_owned(),
        ),
        (
            format!("{child}/{aunt}"),
            format!("name=Mallory&relation=Aunt&version={version}"),
        ),
        (
            format!("{child}/{aunt}/remove"),
            format!("version={version}"),
        ),
    ] {
        let cross = app.post_form_cross_site(&path, &body, &admin).await;
        assert_eq!(
            cross.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            cross.text
        );
    }
    assert_eq!(pickups(&app, &r, &admin).await, before, "nothing changed");
}

/// Two administrators who read the aunt's pickup at `version`; then the first edited it (name
/// "Aunt Quill", and `change`).
struct Stale {
    app: std::sync::Arc<TestApp>,
    t: crate::harness::Seeded,
    r: Records,
    admin: String,
    other: String,
    id: String,
    version: i64,
    api: String,
}

async fn edited_after_both_read(change: Value) -> Stale {
    let app = std::sync::Arc::new(TestApp::new().await);
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let other = app.sign_in(&t.slug, &t.admin).await;
    let aunt = pickups(&app, &r, &admin).await[0].clone();
    let (id, version) = (
        aunt["id"].as_str().unwrap().to_owned(),
        aunt["version"].as_i64().unwrap(),
    );
    let api = format!("/api/v1/children/{}/pickups/{id}", r.a);
    let mut body = json!({"name": "Aunt Quill", "relation": "Aunt", "version": version});
    for (k, v) in change.as_object().unwrap() {
        body[k] = v.clone();
    }
    let first = app.call(Method::PUT, &api, Some(body), Some(&admin)).await;
    assert_eq!(first.status, StatusCode::NO_CONTENT, "{}", first.text);
    Stale {
        app,
        t,
        r,
        admin,
        other,
        id,
        version,
        api,
    }
}

/// Two administrators with the child's page open: an edit of a pickup made from the version
/// both read is refused once the other's edit landed (form and API), and the first stands.
/// Eight edits at once from one version: exactly one lands.
#[tokio::test]
async fn a_pickup_edit_made_from_an_older_version_is_refused() {
    let Stale {
        app,
        r,
        admin,
        other,
        id,
        version,
        api,
        ..
    } = edited_after_both_read(json!({"photo_id": "Passport"})).await;
    // From the page opened before, and from a form without its version: refused.
    let fields = "name=Aunt+Q&relation=Aunt&photo_id=&passphrase=";
    for body in [format!("{fields}&version={version}"), fields.to_owned()] {
        let form = format!("/children/{}/pickups/{id}", r.a);
        refused_as_stale_form(&app.post_form(&form, &body, &other).await);
    }
    let stale_api = app
        .call(
            Method::PUT,
            &api,
            Some(json!({"name": "Aunt Q", "relation": "Aunt", "passphrase": "new words 1", "version": version})),
            Some(&other),
        )
        .await;
    refused_as_stale_api(&stale_api);
    let now = pickups(&app, &r, &admin).await[0].clone();
    assert_eq!(
        (now["photo_id"].as_str(), now["version"].as_i64()),
        (Some("Passport"), Some(version + 1))
    );

    let bodies = (0..8)
        .map(|i| json!({"name": format!("Aunt {i}"), "relation": "Aunt", "version": version + 1}))
        .collect();
    let answers = at_once(&app, Method::PUT, &api, bodies, &admin).await;
    one_lands_the_rest_conflict(&answers, StatusCode::NO_CONTENT);
    let after = pickups(&app, &r, &admin).await[0].clone();
    assert_eq!(after["version"].as_i64(), Some(version + 2));
}

/// A removal made from an older view of the pickup keeps it: from the page opened before an
/// edit (a new passphrase), from a remove button without its version, and over the API with
/// the version read before. Four edits and four removals at once from one version: exactly
/// one lands. The page's own button, drawn from the version there now, removes it.
#[tokio::test]
async fn a_pickup_removal_made_from_an_older_version_keeps_it() {
    let Stale {
        app,
        t,
        r,
        admin,
        other,
        id,
        version,
        api,
    } = edited_after_both_read(json!({"passphrase": "new words 1"})).await;

    let form = format!("/children/{}/pickups/{id}/remove", r.a);
    for body in [
        format!("version={version}"),
        String::new(),
        "version=".into(),
    ] {
        let stale = app.post_form(&form, &body, &other).await;
        refused_as_stale_form(&stale);
        assert!(stale.text.contains("Aunt Quill</strong>"), "{}", stale.text);
    }
    refused_as_stale_api(
        &app.call(
            Method::DELETE,
            &format!("{api}?version={version}"),
            None,
            Some(&other),
        )
        .await,
    );
    // An invisible character before the number: not a version.
    let garbled = format!("{api}?version=%E2%80%8B2");
    refused_as_garbled(&app.call(Method::DELETE, &garbled, None, Some(&other)).await);
    let kept = pickups(&app, &r, &admin).await;
    assert_eq!(
        (kept.len(), kept[0]["version"].as_i64()),
        (1, Some(version + 1)),
        "the edited pickup stays"
    );

    // Edits and removals at once, all from the current version: one of them lands.
    let now = version + 1;
    let edit = |i| json!({"name": format!("Aunt {i}"), "relation": "Aunt", "version": now});
    edits_and_removals_at_once(&app, &api, Method::PUT, edit, now, &admin).await;

    // The page's own remove button, drawn from the version there now, removes it (if left).
    if let Some(left) = pickups(&app, &r, &admin).await.first() {
        let v = left["version"].as_i64().unwrap();
        let done = app.post_form(&form, &format!("version={v}"), &admin).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.text);
        assert!(pickups(&app, &r, &admin).await.is_empty(), "removed");
    }
    let kinds = app.audit_kinds(&t.scope).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "pickup_removed").count(),
        1,
        "one removal, none for a refused one"
    );
}
