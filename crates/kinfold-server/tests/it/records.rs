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

use crate::harness::{TestApp, TestUser};

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
async fn reads_of_sealed_fields_are_audited() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    app.get(&format!("/api/v1/children/{}", r.a), Some(&teacher))
        .await;
    app.get(&format!("/api/v1/children/{}", r.a), Some(&teacher))
        .await;
    app.get(&format!("/api/v1/children/{}", r.a), Some(&desk))
        .await;
    app.get("/api/v1/children", Some(&teacher)).await;
    app.call(
        Method::PATCH,
        &format!("/api/v1/children/{}", r.a),
        Some(json!({"medical_notes": "SECRET-CHANGE", "preferred_name": "Avi"})),
        Some(&admin),
    )
    .await;
    app.flush_audit().await;
    let entries = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    // Reads are folded per client and group commit. Each read now waits for its commit, so
    // one client's reads made one after another may land in separate batches: each entry is
    // one reader's, and the teacher's reads of one child list one read per entry, with the
    // time of each.
    let reads: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == "child_records_read")
        .collect();
    let times = |e: &kinfold_audit::Entry| -> Vec<i64> {
        let v: serde_json::Value = serde_json::from_str(&e.event).unwrap();
        v["reads"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["at_ms"].as_array().unwrap().clone())
            .map(|t| t.as_i64().unwrap())
            .collect()
    };
    let count: usize = reads.iter().map(|e| times(e).len()).sum();
    assert_eq!(count, 3, "one per detail read; the list opens nothing");
    let by = |u: &TestUser| -> Vec<&kinfold_audit::Entry> {
        reads
            .iter()
            .filter(|e| e.actor.as_deref() == Some(u.id.as_str()))
            .copied()
            .collect()
    };
    let teacher_reads = by(&t.teacher);
    assert!(!teacher_reads.is_empty() && teacher_reads.len() <= 2);
    assert_eq!(
        teacher_reads.iter().map(|e| times(e).len()).sum::<usize>(),
        2,
        "both of the teacher's reads"
    );
    for e in &teacher_reads {
        assert_eq!(e.category, "data-access");
        assert!(e.event.contains(&r.a));
        assert_eq!(
            e.event.matches("child_id").count(),
            1,
            "one child, the same fields: one read listing its times: {}",
            e.event
        );
        assert!(
            e.event
                .contains("\"fields\":[\"allergies\",\"medical_notes\",\"emergency_contacts\"]"),
            "{}",
            e.event
        );
    }
    let desk_reads = by(&t.front_desk);
    assert_eq!(desk_reads.len(), 1);
    assert!(
        desk_reads[0]
            .event
            .contains("\"fields\":[\"emergency_contacts\"]"),
        "{}",
        desk_reads[0].event
    );
    let update = entries.iter().find(|e| e.kind == "child_updated").unwrap();
    assert_eq!(update.category, "admin");
    assert!(update.event.contains("medical_notes") && update.event.contains("preferred_name"));
    assert!(
        !update.event.contains("SECRET-CHANGE") && !update.event.contains("Avi"),
        "names fields, never values"
    );
    assert!(entries.iter().any(|e| e.kind == "child_created"));
}

#[tokio::test]
async fn sealed_fields_never_reach_the_file() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let view = app
        .get(&format!("/api/v1/children/{}", r.a), Some(&admin))
        .await;
    assert!(view.text.contains("ZEBRA-NOTE-0"));
    app.flush_audit().await;
    // The file is encrypted as a whole; look through the SQL layer too, where only the sealed
    // bytes are.
    let raw = app.raw().await;
    let rows = raw
        .blobs(
            "SELECT allergies, medical_notes, emergency_contacts FROM children",
            &[],
        )
        .await;
    for row in rows {
        let [a, m, e] = [0, 1, 2].map(|i| row[i].clone().unwrap_or_default());
        for (blob, needle) in [
            (&a, "Kumquat"),
            (&m, "ZEBRA"),
            (&e, "Contact"),
            (&e, "+1415555"),
        ] {
            assert!(
                !blob.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in plaintext"
            );
        }
    }
    let dump = raw.strings("SELECT event FROM audit_log").await;
    assert!(
        dump.iter()
            .all(|e| !e.contains("ZEBRA") && !e.contains("Kumquat")),
        "sealed values never in the audit log"
    );
    // Debug output of a view hides sealed values.
    let actor = app
        .core
        .operator_actor(&t.scope, kinfold_store::UserId::parse(&t.admin.id).unwrap())
        .await
        .unwrap();
    let v = app
        .core
        .children()
        .child_view(
            &actor,
            kinfold_store::ChildId::parse(&r.a).unwrap(),
            &Default::default(),
        )
        .await
        .unwrap();
    let opened = v.opened().unwrap();
    let dbg = format!(
        "{v:?} {opened:?} {:?} {:?}",
        opened.allergies, opened.emergency_contacts
    );
    assert!(
        !dbg.contains("ZEBRA") && !dbg.contains("Kumquat") && !dbg.contains("+1415555"),
        "{dbg}"
    );
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_fails_to_open() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let raw = app.raw().await;
    raw.execute(
        "UPDATE children SET medical_notes = (SELECT medical_notes FROM children WHERE id = $1) WHERE id = $2",
        &[&r.a, &r.b],
    )
    .await;
    let resp = app
        .get(&format!("/api/v1/children/{}", r.b), Some(&admin))
        .await;
    assert_eq!(resp.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        !resp.text.contains("ZEBRA"),
        "the moved value is not revealed: {}",
        resp.text
    );
    // Moved to another tenant's row, it fails as well.
    let other = app
        .seed_tenant("harbor-lights", "Harbor Lights Montessori")
        .await;
    let theirs = app.seed_records(&other).await;
    raw.execute(
        "UPDATE children SET allergies = (SELECT allergies FROM children WHERE id = $1) WHERE id = $2",
        &[&r.a, &theirs.a],
    )
    .await;
    let their_admin = app.sign_in(&other.slug, &other.admin).await;
    let resp = app
        .get(
            &format!("/api/v1/children/{}", theirs.a),
            Some(&their_admin),
        )
        .await;
    assert_eq!(resp.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!resp.text.contains("Kumquat"));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_keeps_working_while_requests_continue() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let rotation = {
        let core = app.core.clone();
        let scope = t.scope.clone();
        tokio::spawn(async move { core.rotate_data_key(&scope, |_| {}).await })
    };
    let mut reads = 0;
    while !rotation.is_finished() || reads < 30 {
        for id in [&r.a, &r.b, &r.c] {
            let resp = app
                .get(&format!("/api/v1/children/{id}"), Some(&admin))
                .await;
            assert_eq!(
                resp.status,
                StatusCode::OK,
                "read during rotation: {}",
                resp.text
            );
            assert!(resp.body["medical_notes"]
                .as_str()
                .unwrap()
                .starts_with("ZEBRA-NOTE-"));
            reads += 1;
        }
        // A write during rotation lands under whichever key is current, and stays readable.
        let w = app
            .call(
                Method::PATCH,
                &format!("/api/v1/children/{}", r.b),
                Some(json!({"medical_notes": format!("ZEBRA-NOTE-w{reads}")})),
                Some(&admin),
            )
            .await;
        assert_eq!(w.status, StatusCode::OK);
    }
    let report = rotation.await.unwrap().unwrap();
    assert_eq!(report.new_version, 2);
    assert!(report.resealed >= 9, "{report:?}");
    let raw = app.raw().await;
    let tenant = t.scope.tenant_id().to_string();
    let blobs = raw
        .blobs(
            "SELECT allergies, medical_notes, emergency_contacts FROM children WHERE tenant_id = $1",
            &[&tenant],
        )
        .await;
    for row in blobs {
        for b in row.into_iter().map(Option::unwrap_or_default) {
            assert_eq!(
                kinfold_crypto::seal::key_version(&b).unwrap(),
                2,
                "every value moved to the new key"
            );
        }
    }
    // TOTP secrets moved too: staff still sign in.
    app.sign_in(&t.slug, &t.teacher).await;
    let kinds = app.audit_kinds(&t.scope).await;
    assert!(kinds.iter().filter(|k| *k == "key_created").count() >= 2);
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
