#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Issue 12, item 13: invisible and direction-changing characters (Unicode category Cf) in any
//! person or place name get a `422` naming the field, on every way in; record dates outside
//! 1900 to 2200 too. Nothing is stored when a request is refused.

use axum::http::{Method, StatusCode};
use kinfold_core::tenants::UserDraft;
use kinfold_core::CoreError;
use kinfold_crypto::password::Password;
use kinfold_store::Role;
use serde_json::{json, Value};

use crate::harness::{Resp, TestApp};

/// Right-to-left override, zero width space, a left-to-right isolate, a byte order mark.
const HIDDEN: [&str; 4] = ["\u{202E}", "\u{200B}", "\u{2066}", "\u{FEFF}"];

fn refused(resp: &Resp, field: &str, what: &str) {
    assert_eq!(
        resp.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{what}: {}",
        resp.text
    );
    assert_eq!(resp.body["error"]["code"], "invalid_input", "{}", resp.text);
    assert_eq!(resp.body["error"]["field"], field, "{what}: {}", resp.text);
}

#[tokio::test]
async fn names_with_invisible_or_direction_changing_characters_are_refused() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let child = json!({"given_name": "Eli", "family_name": "Quill", "date_of_birth": "2023-01-01"});
    let with = |base: &Value, k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for h in HIDDEN {
        // "Ana" + U+202E + "nilrak" shows as "Anakarlin"; "Ana" + U+200B is a second "Ana".
        let name = format!("Ana{h}nilrak");
        for (k, field) in [
            ("given_name", "given_name"),
            ("family_name", "family_name"),
            ("preferred_name", "preferred_name"),
        ] {
            let resp = app
                .post(
                    "/api/v1/children",
                    with(&child, k, json!(name)),
                    Some(&admin),
                )
                .await;
            refused(&resp, field, k);
            let patch = app
                .call(
                    Method::PATCH,
                    &format!("/api/v1/children/{}", r.a),
                    Some(json!({k: name})),
                    Some(&admin),
                )
                .await;
            refused(&patch, field, k);
        }
        for contact in [
            json!({"name": name, "relation": "Aunt", "phone": "+14155550199"}),
            json!({"name": "Pat Rivera", "relation": format!("Aunt{h}"), "phone": "+14155550199"}),
        ] {
            let resp = app
                .post(
                    "/api/v1/children",
                    with(&child, "emergency_contacts", json!([contact])),
                    Some(&admin),
                )
                .await;
            refused(&resp, "emergency_contacts", "emergency contact");
        }
        let resp = app
            .post("/api/v1/classrooms", json!({"name": name}), Some(&admin))
            .await;
        refused(&resp, "name", "classroom");
        let guardian = json!({"name": "Pat Rivera", "relationship": "Father", "custody": "full"});
        let resp = app
            .post(
                &format!("/api/v1/children/{}/guardians", r.a),
                with(&guardian, "name", json!(name)),
                Some(&admin),
            )
            .await;
        refused(&resp, "name", "guardian");
        let resp = app
            .post(
                &format!("/api/v1/children/{}/guardians", r.a),
                with(&guardian, "relationship", json!(format!("Father{h}"))),
                Some(&admin),
            )
            .await;
        refused(&resp, "relationship", "guardian relationship");
        let pickup =
            json!({"name": "Sam Quill", "relation": "Uncle", "passphrase": "green boat 4"});
        for (k, field) in [("name", "name"), ("relation", "relation")] {
            let resp = app
                .post(
                    &format!("/api/v1/children/{}/pickups", r.a),
                    with(&pickup, k, json!(format!("Sam{h}"))),
                    Some(&admin),
                )
                .await;
            refused(&resp, field, "pickup");
        }
        let resp = app
            .call(
                Method::PATCH,
                "/api/v1/tenant",
                Some(json!({"legal_name": name})),
                Some(&admin),
            )
            .await;
        refused(&resp, "legal_name", "legal name");

        // Users and centers are created by the operator (CLI), through the same core calls.
        let draft = UserDraft {
            email: "new.parent@example.org".into(),
            name: name.clone(),
            role: Role::Parent,
            password: Some(Password::new("a long and unusual passphrase 7".into())),
        };
        match app
            .core
            .tenants()
            .create_user(&t.scope, draft, "test")
            .await
        {
            Err(CoreError::Invalid { field: "name", .. }) => {}
            other => panic!("user name with {h:?}: {:?}", other.map(|_| ())),
        }
        match app
            .core
            .tenants()
            .create_tenant("hidden-center", &name)
            .await
        {
            Err(CoreError::Invalid { field: "name", .. }) => {}
            other => panic!("center name with {h:?}: {:?}", other.map(|_| ())),
        }
    }

    // Nothing of it was stored; ordinary names from any script still are.
    let rooms = app.get("/api/v1/classrooms", Some(&admin)).await;
    assert_eq!(
        rooms.body["items"].as_array().unwrap().len(),
        3,
        "{}",
        rooms.text
    );
    let a = app
        .get(&format!("/api/v1/children/{}", r.a), Some(&admin))
        .await;
    assert_eq!(a.body["given_name"], "Ava", "{}", a.text);
    for name in ["Zoë Ōtsuka-Nguyễn", "محمد علي", "Ана-Мария"] {
        let resp = app
            .post("/api/v1/classrooms", json!({"name": name}), Some(&admin))
            .await;
        assert_eq!(resp.status, StatusCode::CREATED, "{name}: {}", resp.text);
        assert_eq!(resp.body["name"], name);
    }
}

#[tokio::test]
async fn enrollment_dates_outside_1900_to_2200_are_refused() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let child = json!({"given_name": "Eli", "family_name": "Quill", "date_of_birth": "2023-01-01"});
    for field in ["enrolled_on", "left_on"] {
        for bad in ["1899-12-31", "0001-01-01", "2201-01-01", "9999-12-31"] {
            let mut body = child.clone();
            body[field] = json!(bad);
            let resp = app.post("/api/v1/children", body, Some(&admin)).await;
            refused(&resp, field, bad);
            let patch = app
                .call(
                    Method::PATCH,
                    &format!("/api/v1/children/{}", r.a),
                    Some(json!({field: bad})),
                    Some(&admin),
                )
                .await;
            refused(&patch, field, bad);
        }
    }
    for bad in ["1899-12-31", "2201-01-01"] {
        let mut body = child.clone();
        body["date_of_birth"] = json!(bad);
        let resp = app.post("/api/v1/children", body, Some(&admin)).await;
        refused(&resp, "date_of_birth", bad);
    }
    let mut body = child.clone();
    body["enrolled_on"] = json!("2024-09-02");
    let resp = app.post("/api/v1/children", body, Some(&admin)).await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
}
