#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Who may take a child (issue 14): an administrator changes a guardian's custody or pickup
//! permission, unlinks a guardian, removes an authorized pickup; each holds from the next
//! pickup on. Unhappy paths: other roles, other tenants, another child's guardian, bad fields,
//! CSRF.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::at_once::{
    at_once, edits_and_removals_at_once, one_lands_the_rest_conflict, refused_as_garbled,
    refused_as_stale_api, refused_as_stale_form,
};
use crate::harness::{Records, TestApp};

/// Child A's guardian links, as the API lists them.
async fn links(app: &TestApp, r: &Records, admin: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/children/{}/guardians", r.a), Some(admin))
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn mother(app: &TestApp, r: &Records, admin: &str) -> String {
    let all = links(app, r, admin).await;
    let full = all.iter().find(|g| g["custody"] == "full").unwrap();
    full["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_custody_change_holds_from_the_next_pickup() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let g = mother(&app, &r, &admin).await;
    let visit = json!({"child_id": r.a, "guardian_id": g});
    let inn = app.check("in", visit.clone(), &desk).await;
    assert_eq!(inn.status, StatusCode::CREATED);

    let path = format!("/api/v1/children/{}/guardians/{g}", r.a);
    let restricted = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({"custody": "court_restricted", "may_pick_up": true})),
            Some(&admin),
        )
        .await;
    assert_eq!(
        restricted.status,
        StatusCode::NO_CONTENT,
        "{}",
        restricted.text
    );
    let refused = app.check("out", visit.clone(), &desk).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused
            .text
            .contains("a court order restricts this guardian"),
        "{}",
        refused.text
    );

    // Set back from the child's page.
    let page = app.get(&format!("/children/{}", r.a), Some(&admin)).await;
    assert!(page.text.contains(&format!(r#"id="custody-{g}""#)));
    let saved = app
        .post_form(
            &format!("/children/{}/guardians/{g}", r.a),
            "custody=full&may_pick_up=true&version=2&action=save",
            &admin,
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    assert!(saved.text.contains("Saved: it holds from the next pickup."));
    let out = app.check("out", visit, &desk).await;
    assert_eq!(out.status, StatusCode::CREATED, "{}", out.text);
    app.flush_audit().await;
    let chain = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    assert_eq!(
        chain
            .iter()
            .filter(|e| e.kind == "guardian_link_changed")
            .count(),
        2
    );
}

/// Child A's link to guardian `g`, as the API lists it (`None` once unlinked).
async fn link_of(app: &TestApp, r: &Records, admin: &str, g: &str) -> Option<Value> {
    links(app, r, admin)
        .await
        .into_iter()
        .find(|l| l["id"] == g)
}

/// Sets a court restriction on the link at `api`, from its version `version`.
async fn restrict(app: &TestApp, api: &str, version: i64, admin: &str) {
    let restricted = app
        .call(
            Method::PATCH,
            api,
            Some(json!({"custody": "court_restricted", "may_pick_up": false, "version": version})),
            Some(admin),
        )
        .await;
    assert_eq!(
        restricted.status,
        StatusCode::NO_CONTENT,
        "{}",
        restricted.text
    );
}

/// Custody and pickup permission are saved together: a change made from a version of the link
/// someone has changed since (a court restriction set by another administrator) is refused,
/// never saved over it; from the form, from the API, and from eight administrators at once.
#[tokio::test]
async fn a_custody_change_made_from_an_older_version_is_refused() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let other = app.sign_in(&t.slug, &t.admin).await;
    let g = mother(&app, &r, &admin).await;
    let link = || async { link_of(&app, &r, &admin, &g).await.unwrap() };
    let version = link().await["version"].as_i64().unwrap();
    let page = app.get(&format!("/children/{}", r.a), Some(&other)).await;
    assert!(
        page.text
            .contains(&format!(r#"name="version" value="{version}""#)),
        "the form carries the link's version"
    );

    let api = format!("/api/v1/children/{}/guardians/{g}", r.a);
    restrict(&app, &api, version, &admin).await;

    // The other administrator's page was opened before: its save is refused.
    let stale_form = app
        .post_form(
            &format!("/children/{}/guardians/{g}", r.a),
            &format!("custody=full&may_pick_up=true&version={version}&action=save"),
            &other,
        )
        .await;
    refused_as_stale_form(&stale_form);
    let stale_api = app
        .call(
            Method::PATCH,
            &api,
            Some(json!({"custody": "shared", "may_pick_up": true, "version": version})),
            Some(&other),
        )
        .await;
    refused_as_stale_api(&stale_api);
    let now = link().await;
    assert_eq!(
        (
            now["custody"].as_str(),
            now["may_pick_up"].as_bool(),
            now["version"].as_i64()
        ),
        (Some("court_restricted"), Some(false), Some(version + 1)),
        "the restriction stands"
    );

    let bodies = (0..8)
        .map(|i| json!({"custody": if i % 2 == 0 { "full" } else { "shared" }, "may_pick_up": true, "version": version + 1}))
        .collect();
    let answers = at_once(&app, Method::PATCH, &api, bodies, &admin).await;
    one_lands_the_rest_conflict(&answers, StatusCode::NO_CONTENT);
    assert_eq!(link().await["version"].as_i64(), Some(version + 2));

    // Without a version, a change applies to what is there (API clients written before it).
    let blind = app
        .call(
            Method::PATCH,
            &api,
            Some(json!({"custody": "full", "may_pick_up": true})),
            Some(&admin),
        )
        .await;
    assert_eq!(blind.status, StatusCode::NO_CONTENT, "{}", blind.text);
    app.flush_audit().await;
    let chain = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    assert_eq!(
        chain
            .iter()
            .filter(|e| e.kind == "guardian_link_changed")
            .count(),
        3,
        "one entry per change that landed, none for a refused one"
    );
}

/// Unlinking from an older view of the link is refused, never a way to take a court
/// restriction set since away with the link: from the form (with the version it was drawn from,
/// or without one), and from the API (`?version=`). Unlinking and restricting at once from one
/// version: exactly one lands.
#[tokio::test]
async fn an_unlink_made_from_an_older_version_keeps_the_link() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let other = app.sign_in(&t.slug, &t.admin).await;
    let g = mother(&app, &r, &admin).await;
    let link = || link_of(&app, &r, &admin, &g);
    let version = link().await.unwrap()["version"].as_i64().unwrap();
    let api = format!("/api/v1/children/{}/guardians/{g}", r.a);
    restrict(&app, &api, version, &admin).await;

    let form = format!("/children/{}/guardians/{g}", r.a);
    for body in [
        format!("custody=full&version={version}&action=unlink"),
        "custody=full&action=unlink".to_owned(),
        "custody=full&version=&action=unlink".to_owned(),
    ] {
        refused_as_stale_form(&app.post_form(&form, &body, &other).await);
    }
    let stale = app
        .call(
            Method::DELETE,
            &format!("{api}?version={version}"),
            None,
            Some(&other),
        )
        .await;
    refused_as_stale_api(&stale);
    let garbled = format!("{api}?version=1%200");
    refused_as_garbled(&app.call(Method::DELETE, &garbled, None, Some(&other)).await);
    let kept = link().await.expect("the link stays");
    assert_eq!(
        (kept["custody"].as_str(), kept["version"].as_i64()),
        (Some("court_restricted"), Some(version + 1))
    );

    // Restricting and unlinking at once, both from the current version: one of them lands.
    let now = version + 1;
    let edit = |_| json!({"custody": "shared", "may_pick_up": true, "version": now});
    edits_and_removals_at_once(&app, &api, Method::PATCH, edit, now, &admin).await;

    // The page's own unlink, drawn from the version there now, lands (if the link is left).
    if let Some(l) = link().await {
        let v = l["version"].as_i64().unwrap();
        let done = app
            .post_form(
                &form,
                &format!("custody=full&version={v}&action=unlink"),
                &admin,
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.text);
        assert!(done.text.contains("Saved"), "{}", done.text);
        assert!(link().await.is_none(), "unlinked");
    }
    let kinds = app.audit_kinds(&t.scope).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "guardian_unlinked").count(),
        1,
        "one unlink, none for a refused one"
    );
}

#[tokio::test]
async fn unlinking_and_removing_a_pickup_take_them_off_the_list() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let parent = app.sign_in(&t.slug, &t.parent).await;
    assert_eq!(
        app.get(&format!("/api/v1/children/{}", r.a), Some(&parent))
            .await
            .status,
        StatusCode::OK
    );
    let g = mother(&app, &r, &admin).await;
    let gone = app
        .call(
            Method::DELETE,
            &format!("/api/v1/children/{}/guardians/{g}", r.a),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    // The parent no longer sees the child; the desk cannot record her.
    assert_eq!(
        app.get(&format!("/api/v1/children/{}", r.a), Some(&parent))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let inn = app
        .check("in", json!({"child_id": r.a, "guardian_id": g}), &desk)
        .await;
    assert_eq!(inn.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", inn.text);

    // The aunt, removed from the child's page: her passphrase no longer takes the child.
    let child = app
        .get(&format!("/api/v1/children/{}", r.a), Some(&admin))
        .await;
    let aunt = child.body["authorized_pickups"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let aunt_version = child.body["authorized_pickups"][0]["version"]
        .as_i64()
        .unwrap();
    let page = app.get(&format!("/children/{}", r.a), Some(&admin)).await;
    assert!(
        page.text.contains("Aunt Quill</strong> (Aunt)"),
        "{}",
        page.text
    );
    let removed = app
        .post_form(
            &format!("/children/{}/pickups/{aunt}/remove", r.a),
            &format!("version={aunt_version}"),
            &admin,
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    assert!(!removed.text.contains("Aunt Quill</strong>"));
    let in_by_aunt = app
        .check("in", json!({"child_id": r.a, "pickup_id": aunt}), &desk)
        .await;
    assert_eq!(in_by_aunt.status, StatusCode::UNPROCESSABLE_ENTITY);
    let again = app
        .call(
            Method::DELETE,
            &format!("/api/v1/children/{}/pickups/{aunt}", r.a),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    app.flush_audit().await;
    let chain = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    for kind in ["guardian_unlinked", "pickup_removed"] {
        assert_eq!(chain.iter().filter(|e| e.kind == kind).count(), 1, "{kind}");
    }
}

#[tokio::test]
async fn links_refuse_other_roles_tenants_children_bad_fields_and_cross_site_forms() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let theirs = app.seed_records(&other).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let g = mother(&app, &r, &admin).await;
    let body: Value = json!({"custody": "shared", "may_pick_up": true});
    for user in [&t.teacher, &t.front_desk, &t.parent] {
        let c = app.sign_in(&t.slug, user).await;
        let resp = app
            .call(
                Method::PATCH,
                &format!("/api/v1/children/{}/guardians/{g}", r.a),
                Some(body.clone()),
                Some(&c),
            )
            .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{:?}", user.role);
    }
    // Ava's guardian under Ben, under another tenant's child, a made-up guardian: not found.
    for path in [
        format!("/api/v1/children/{}/guardians/{g}", r.b),
        format!("/api/v1/children/{}/guardians/{g}", theirs.a),
        format!(
            "/api/v1/children/{}/guardians/{}",
            r.a,
            uuid::Uuid::now_v7()
        ),
        format!("/api/v1/children/{}/guardians/not-an-id", r.a),
    ] {
        let resp = app
            .call(Method::PATCH, &path, Some(body.clone()), Some(&admin))
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{path}");
    }
    let bad = app
        .call(
            Method::PATCH,
            &format!("/api/v1/children/{}/guardians/{g}", r.a),
            Some(json!({"custody": "sometimes", "may_pick_up": true})),
            Some(&admin),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("custody"))
    );
    let bad_form = app
        .post_form(
            &format!("/children/{}/guardians/{g}", r.a),
            "custody=sometimes&action=save",
            &admin,
        )
        .await;
    assert_eq!(bad_form.status, StatusCode::UNPROCESSABLE_ENTITY);
    let path = format!("/children/{}/guardians/{g}", r.a);
    let cross = app
        .post_form_cross_site(&path, "action=unlink", &admin)
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    // Nothing changed.
    let list = app
        .get(&format!("/api/v1/children/{}/guardians", r.a), Some(&admin))
        .await;
    assert!(list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == g.as_str() && x["custody"] == "full"));
}

#[tokio::test]
async fn a_parent_is_invited_from_the_childs_page_and_sees_only_their_child() {
    let m = crate::messages::ready().await;
    let app = &m.app;
    let r = &m.r;
    let users_before = app.get("/api/v1/users", Some(&m.admin)).await.body["items"]
        .as_array()
        .unwrap()
        .len();
    // Refused fields leave no account behind: no email to invite, a bad relationship.
    for (form, field) in [
        ("name=Pat+Parent&relationship=Mother&account=invite&custody=full", "email"),
        ("name=Pat+Parent&relationship=%3Cb%3E&email=pat%40families.test&account=invite&custody=full", "relationship"),
        ("name=Pat+Parent&relationship=Mother&account=user%3Anope&custody=full", "account"),
    ] {
        let resp = app
            .post_form(&format!("/children/{}/guardians", r.b), form, &m.admin)
            .await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{form}: {}", resp.text);
        assert!(resp.text.contains(field), "{form}");
    }
    let users = app.get("/api/v1/users", Some(&m.admin)).await.body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(users, users_before, "nothing was created");

    let form = "name=Pat+Parent&relationship=Mother&email=pat%40families.test&account=invite\
&custody=full&may_pick_up=true";
    let sent = app
        .post_form(&format!("/children/{}/guardians", r.b), form, &m.admin)
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert!(sent
        .text
        .contains("an invitation to see this child was emailed to pat@families.test"));
    let mut link = None;
    for _ in 0..50 {
        link = m
            .sink
            .received()
            .into_iter()
            .find(|x| x.to.iter().any(|t| t.contains("pat@families.test")))
            .map(|x| String::from_utf8_lossy(&x.data).replace("=\r\n", ""));
        if link.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mail = link.expect("the invitation is emailed");
    let token = mail.split("/enroll/").nth(1).unwrap();
    let token: String = token
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let offer = app
        .post("/api/v1/enrollment/begin", json!({"token": token}), None)
        .await;
    assert_eq!(offer.status, StatusCode::OK, "{}", offer.text);
    let secret = offer.body["secret"].as_str().unwrap().to_owned();
    let done = app
        .post(
            "/api/v1/enrollment/confirm",
            json!({"token": token, "code": app.fresh_code(&secret), "password": crate::harness::PASSWORD}),
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let pat = done.cookie().unwrap();
    let mine = app.get("/api/v1/children", Some(&pat)).await;
    let ids: Vec<&str> = mine.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [r.b.as_str()], "{}", mine.text);

    // An existing parent account linked to a second child sees both.
    let linked = app
        .post_form(
            &format!("/children/{}/guardians", r.b),
            &format!(
                "name=Parent&relationship=Mother&account=user%3A{}&custody=shared&may_pick_up=true",
                m.t.parent.id
            ),
            &m.admin,
        )
        .await;
    assert_eq!(linked.status, StatusCode::SEE_OTHER, "{}", linked.text);
    let parent = app.sign_in(&m.t.slug, &m.t.parent).await;
    let theirs = app.get("/api/v1/children", Some(&parent)).await;
    let seen: Vec<&str> = theirs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        seen.contains(&r.a.as_str()) && seen.contains(&r.b.as_str()),
        "{}",
        theirs.text
    );
}
