#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A1 (the policy table, cell by cell, over HTTP), A5 (cross-tenant probes), D3 (sealed
//! fields) and their audit events.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::TestApp;

async fn cookies(app: &TestApp, t: &crate::harness::Seeded) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (name, u) in [
        ("administrator", &t.admin),
        ("teacher", &t.teacher),
        ("front_desk", &t.front_desk),
        ("parent", &t.parent),
    ] {
        out.push((name, app.sign_in(&t.slug, u).await));
    }
    out
}

fn ids(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn the_policy_matrix_cell_by_cell() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let all = {
        let mut v = vec![r.a.clone(), r.b.clone(), r.c.clone()];
        v.sort();
        v
    };
    let sealed = [
        "allergies",
        "medical_notes",
        "emergency_contacts",
        "authorized_pickups",
    ];
    for (role, cookie) in cookies(&app, &t).await {
        let c = Some(cookie.as_str());
        // children, basic fields: whole tenant | own classrooms | whole tenant | own children
        let list = app.get("/api/v1/children", c).await;
        assert_eq!(list.status, StatusCode::OK, "{role}");
        let expected: Vec<String> = match role {
            "teacher" => {
                let mut v = vec![r.a.clone(), r.c.clone()];
                v.sort();
                v
            }
            "parent" => vec![r.a.clone()],
            _ => all.clone(),
        };
        assert_eq!(ids(&list.body), expected, "{role} list");
        for id in [&r.a, &r.b, &r.c] {
            let d = app.get(&format!("/api/v1/children/{id}"), c).await;
            if !expected.contains(id) {
                assert_eq!(
                    (d.status, d.code()),
                    (StatusCode::NOT_FOUND, "not_found"),
                    "{role} {id}: out of scope is 404"
                );
                assert!(!d.text.contains("Quill"), "no data leaks in the 404");
                continue;
            }
            assert_eq!(d.status, StatusCode::OK, "{role}: {}", d.text);
            assert_eq!(d.body["family_name"], "Quill");
            let redacted: Vec<&str> = d.body["redacted"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            // allergies, medical notes: whole tenant | own classrooms | — | own children
            let medical = role != "front_desk";
            for f in ["allergies", "medical_notes"] {
                assert_eq!(d.body.get(f).is_some(), medical, "{role} {f}");
                assert_eq!(redacted.contains(&f), !medical, "{role} redacted {f}");
            }
            if medical {
                assert!(d.body["medical_notes"]
                    .as_str()
                    .unwrap()
                    .starts_with("ZEBRA-NOTE-"));
                assert_eq!(d.body["allergies"][0]["severity"], "severe");
            }
            // emergency contacts, pickups: every role that sees the child
            for f in ["emergency_contacts", "authorized_pickups"] {
                assert!(d.body.get(f).is_some(), "{role} {f}");
            }
            assert!(redacted.iter().all(|f| sealed.contains(f)));
            if id == &r.a {
                let pickups = d.body["authorized_pickups"].as_array().unwrap();
                assert_eq!(pickups[0]["name"], "Aunt Quill");
                assert!(
                    pickups[0].get("passphrase").is_none() && !d.text.contains("blue kite"),
                    "never shown"
                );
            }
        }
    }
    // Writes come after every read, so the reads above see the same three children.
    for (role, cookie) in cookies(&app, &t).await {
        let c = Some(cookie.as_str());
        // create, edit, archive a child: administrators only
        let new_child = json!({"given_name": "Dana", "family_name": "Quill", "date_of_birth": "2023-01-01", "classroom_id": r.rooms[2]});
        let created = app.post("/api/v1/children", new_child, c).await;
        assert_eq!(
            created.status,
            if role == "administrator" {
                StatusCode::CREATED
            } else {
                StatusCode::FORBIDDEN
            },
            "{role} create: {}",
            created.text
        );
        let rename = app
            .call(
                Method::PATCH,
                &format!("/api/v1/children/{}", r.a),
                Some(json!({"preferred_name": "Avi"})),
                c,
            )
            .await;
        let expected_rename = match role {
            "administrator" => StatusCode::OK,
            "front_desk" | "teacher" | "parent" => StatusCode::FORBIDDEN,
            _ => unreachable!(),
        };
        assert_eq!(
            rename.status, expected_rename,
            "{role} edit: {}",
            rename.text
        );
        // edit contact details: administrators, and parents for their own children
        let contacts = json!({"emergency_contacts": [{"name": "Uncle Quill", "relation": "Uncle", "phone": "+14155550999"}]});
        let edit = app
            .call(
                Method::PATCH,
                &format!("/api/v1/children/{}", r.a),
                Some(contacts.clone()),
                c,
            )
            .await;
        let ok = matches!(role, "administrator" | "parent");
        assert_eq!(
            edit.status == StatusCode::OK,
            ok,
            "{role} contacts: {}",
            edit.text
        );
        let other = app
            .call(
                Method::PATCH,
                &format!("/api/v1/children/{}", r.b),
                Some(contacts),
                c,
            )
            .await;
        assert_eq!(
            other.status,
            if role == "administrator" {
                StatusCode::OK
            } else if role == "teacher" || role == "parent" {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::FORBIDDEN
            },
            "{role} contacts of b"
        );
        // guardians, staff, classrooms (admin)
        let admin_only = if role == "administrator" {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(
            app.get("/api/v1/staff", c).await.status,
            admin_only,
            "{role} staff"
        );
        let room = app
            .post(
                "/api/v1/classrooms",
                json!({"name": format!("New room by {role}")}),
                c,
            )
            .await;
        assert_eq!(
            room.status == StatusCode::CREATED,
            role == "administrator",
            "{role} classroom"
        );
        let guardian = app
            .post(
                &format!("/api/v1/children/{}/guardians", r.a),
                json!({"name": "Gran Quill", "relationship": "Grandmother", "custody": "shared"}),
                c,
            )
            .await;
        assert_eq!(
            guardian.status == StatusCode::CREATED,
            role == "administrator",
            "{role} guardian: {}",
            guardian.text
        );
        // classrooms: all for administrators and front desk, own for teachers, none for parents
        let rooms = app.get("/api/v1/classrooms", c).await;
        match role {
            "teacher" => assert_eq!(rooms.body["items"].as_array().unwrap().len(), 1),
            "parent" => assert_eq!(rooms.status, StatusCode::FORBIDDEN),
            _ => assert!(rooms.body["items"].as_array().unwrap().len() >= 3),
        }
        // tenant audit log: administrators; parents their own access events
        let audit = app.get("/api/v1/audit", c).await;
        assert_eq!(
            audit.status == StatusCode::OK,
            matches!(role, "administrator" | "parent"),
            "{role} audit"
        );
    }
}

#[tokio::test]
async fn cross_tenant_probes_answer_404() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let other = app
        .seed_tenant("harbor-lights", "Harbor Lights Montessori")
        .await;
    let _theirs = app.seed_records(&other).await;
    for u in [
        &other.admin,
        &other.teacher,
        &other.front_desk,
        &other.parent,
    ] {
        let c = app.sign_in(&other.slug, u).await;
        let c = Some(c.as_str());
        let list = app.get("/api/v1/children?limit=200", c).await;
        assert!(
            !list.text.contains(&r.a) && !list.text.contains(&r.b),
            "no foreign children listed"
        );
        for id in [&r.a, &r.b, &r.c] {
            for (m, path, body) in [
                (Method::GET, format!("/api/v1/children/{id}"), None),
                (
                    Method::PATCH,
                    format!("/api/v1/children/{id}"),
                    Some(json!({"preferred_name": "X"})),
                ),
                (
                    Method::GET,
                    format!("/api/v1/children/{id}/guardians"),
                    None,
                ),
                (
                    Method::POST,
                    format!("/api/v1/children/{id}/guardians"),
                    Some(json!({"name": "X Y", "relationship": "Parent", "custody": "full"})),
                ),
                (
                    Method::POST,
                    format!("/api/v1/children/{id}/pickups"),
                    Some(json!({"name": "X Y", "relation": "Aunt", "passphrase": "secret words"})),
                ),
            ] {
                let resp = app.call(m.clone(), &path, body, c).await;
                if u.role == kinfold_store::Role::Administrator || m == Method::GET {
                    assert_eq!(
                        resp.status,
                        StatusCode::NOT_FOUND,
                        "{:?} {m} {path}: {}",
                        u.role,
                        resp.text
                    );
                } else {
                    assert!(
                        matches!(resp.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
                        "{:?} {m} {path}",
                        u.role
                    );
                }
                assert!(
                    !resp.text.contains("Quill") && !resp.text.contains("ZEBRA"),
                    "nothing leaks"
                );
            }
        }
        let assign = app
            .post(
                &format!("/api/v1/classrooms/{}/staff", r.rooms[0]),
                json!({"user_id": other.teacher.id}),
                c,
            )
            .await;
        assert!(matches!(
            assign.status,
            StatusCode::NOT_FOUND | StatusCode::FORBIDDEN
        ));
        let into_foreign_room = app.post("/api/v1/children", json!({"given_name": "X", "family_name": "Y", "date_of_birth": "2023-01-01", "classroom_id": r.rooms[0]}), c).await;
        assert!(
            matches!(
                into_foreign_room.status,
                StatusCode::UNPROCESSABLE_ENTITY | StatusCode::FORBIDDEN
            ),
            "{}",
            into_foreign_room.text
        );
    }
    let admin = app.sign_in(&other.slug, &other.admin).await;
    let link_foreign_user = app.post(&format!("/api/v1/children/{}/guardians", _theirs.a), json!({"name": "X Y", "relationship": "Parent", "custody": "full", "user_id": t.parent.id}), Some(&admin)).await;
    assert_eq!(
        link_foreign_user.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a user of another tenant cannot be linked"
    );
}

#[tokio::test]
async fn bad_child_input_names_the_field() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let base = json!({"given_name": "Eli", "family_name": "Quill", "date_of_birth": "2023-01-01"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, field) in [
        (with("date_of_birth", json!("2999-01-01")), "date_of_birth"),
        (with("date_of_birth", json!("2023-02-30")), "date_of_birth"),
        (with("given_name", json!("x".repeat(200))), "given_name"),
        (with("family_name", json!("<script>")), "family_name"),
        (with("classroom_id", json!("not-a-room")), "classroom_id"),
        (
            with("enrollment_status", json!("graduated")),
            "enrollment_status",
        ),
        (
            with(
                "emergency_contacts",
                json!([{"name": "A B", "relation": "Aunt", "phone": "555-1234"}]),
            ),
            "emergency_contacts",
        ),
        (
            with("medical_notes", json!("x".repeat(5000))),
            "medical_notes",
        ),
    ] {
        let resp = app.post("/api/v1/children", body, Some(&admin)).await;
        assert_eq!(
            resp.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            resp.text
        );
        assert_eq!(resp.body["error"]["field"], field, "{}", resp.text);
    }
    for body in [
        with(
            "allergies",
            json!([{"name": "Peanuts", "severity": "catastrophic"}]),
        ),
        with("favourite_colour", json!("blue")),
    ] {
        let resp = app.post("/api/v1/children", body, Some(&admin)).await;
        assert_eq!(
            resp.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            resp.text
        );
    }
    let patch = app
        .call(
            Method::PATCH,
            &format!("/api/v1/children/{}", r.a),
            Some(json!({"date_of_birth": "tomorrow"})),
            Some(&admin),
        )
        .await;
    assert_eq!(patch.body["error"]["field"], "date_of_birth");
    for bad in [
        "/api/v1/children/nope",
        "/api/v1/children/00000000-0000-0000-0000-000000000000",
    ] {
        assert_eq!(
            app.get(bad, Some(&admin)).await.status,
            StatusCode::NOT_FOUND
        );
    }
    for q in [
        "?status=bogus",
        "?classroom_id=zzz",
        "?cursor=%%%",
        "?limit=abc",
        "?unknown=1",
    ] {
        let resp = app.get(&format!("/api/v1/children{q}"), Some(&admin)).await;
        assert_eq!(
            resp.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{q}: {}",
            resp.text
        );
    }
}

#[tokio::test]
async fn children_page_with_url_safe_cursors() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    for i in 0..5 {
        let body = json!({"given_name": format!("Kid{i}"), "family_name": "Page", "date_of_birth": "2023-01-01"});
        assert_eq!(
            app.post("/api/v1/children", body, Some(&admin))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let mut seen = Vec::new();
    let mut url = "/api/v1/children?limit=3".to_string();
    loop {
        let page = app.get(&url, Some(&admin)).await;
        assert_eq!(page.status, StatusCode::OK);
        seen.extend(ids(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(c) => {
                assert!(c
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
                url = format!("/api/v1/children?limit=3&cursor={c}");
            }
            None => break,
        }
    }
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 8);
    assert_eq!(seen.len(), 8, "no child twice");
}

#[tokio::test]
async fn console_pages_follow_the_policy() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let own = app.get(&format!("/children/{}", r.a), Some(&teacher)).await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(
        own.text.contains("Kumquat0") && own.text.contains("ZEBRA-NOTE-0"),
        "the teacher sees allergies of their class"
    );
    assert!(!own.text.contains("<script") && !own.text.contains("style="));
    let other = app.get(&format!("/children/{}", r.b), Some(&teacher)).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert!(!other.text.contains("Kumquat1") && !other.text.contains("Ben"));
    let list = app.get("/children", Some(&teacher)).await;
    assert!(list.text.contains("Ava") && !list.text.contains("Ben"));

    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let page = app.get(&format!("/children/{}", r.a), Some(&desk)).await;
    assert!(!page.text.contains("ZEBRA-NOTE-0") && page.text.contains("Not shown to your role"));
    let links = app
        .get(&format!("/api/v1/children/{}/guardians", r.a), Some(&desk))
        .await;
    let gid = links.body["items"][0]["id"].as_str().unwrap().to_owned();
    let done = app
        .send(TestApp::form_req(
            &format!("/children/{}/attendance", r.a),
            &format!("person=guardian%3A{gid}&action=check_in&passphrase="),
            &desk,
        ))
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert!(done.text.contains("Checked in."));
    let roster = app.get("/attendance", Some(&desk)).await;
    assert!(roster.text.contains("present"));
    let out = app
        .send(TestApp::form_req(
            &format!("/children/{}/attendance", r.a),
            &format!("person=guardian%3A{gid}&action=check_out"),
            &desk,
        ))
        .await;
    assert!(out.text.contains("Checked out."), "{}", out.text);
    let parent = app.sign_in(&t.slug, &t.parent).await;
    let mine = app.get(&format!("/children/{}", r.a), Some(&parent)).await;
    assert!(mine.text.contains("ZEBRA-NOTE-0") && !mine.text.contains("attendance-form"));
}

#[tokio::test]
async fn break_glass_grants_are_shown_to_administrators_only() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let child = kinfold_store::ChildId::parse(&r.a).unwrap();
    let denied = app
        .core
        .access()
        .operator_child_view(&t.scope, "ops", child)
        .await;
    assert!(matches!(denied, Err(kinfold_core::CoreError::Forbidden(_))));
    app.core
        .access()
        .grant_access(
            &t.scope,
            "ops",
            "ticket 99: parent request",
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap();
    assert!(app
        .core
        .access()
        .operator_child_view(&t.scope, "ops", child)
        .await
        .is_ok());
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let list = app.get("/api/v1/access-grants", Some(&admin)).await;
    assert_eq!(list.body["items"][0]["active"], true);
    for u in [&t.teacher, &t.front_desk, &t.parent] {
        let c = app.sign_in(&t.slug, u).await;
        assert_eq!(
            app.get("/api/v1/access-grants", Some(&c)).await.status,
            StatusCode::FORBIDDEN
        );
    }
    app.advance(std::time::Duration::from_secs(601));
    assert!(
        app.core
            .access()
            .operator_child_view(&t.scope, "ops", child)
            .await
            .is_err(),
        "the grant expires"
    );
    let other = app
        .seed_tenant("harbor-lights", "Harbor Lights Montessori")
        .await;
    let theirs = app.seed_records(&other).await;
    let cross = app
        .core
        .access()
        .operator_child_view(
            &other.scope,
            "ops",
            kinfold_store::ChildId::parse(&theirs.a).unwrap(),
        )
        .await;
    assert!(cross.is_err(), "a grant is for one tenant");
}
