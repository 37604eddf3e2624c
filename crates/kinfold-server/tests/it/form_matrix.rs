#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Issue 14, "each page has a test on its unhappy path", for the console forms whose own tests
//! cover only some of it: every form that changes something is posted by each role that may
//! not use it (`403`), against another center's record (`404`), with a bad field (a clear
//! `4xx` naming it), and from another site (`403 cross_site_request`). Each is refused, none
//! answers `5xx`, and neither center's chain records a change.

use axum::http::StatusCode;
use serde_json::Value;

use crate::harness::{Records, Seeded, TestApp, TestUser};

/// One console form: where it posts, for this center and for the other one; a body it
/// accepts and one with a bad field; and the roles, besides administrators, that may use it.
struct Form {
    path: String,
    theirs: Option<String>,
    body: String,
    bad: Option<String>,
    may: &'static [&'static str],
}

/// The changes recorded in a center's chain (L2: every console change is one).
async fn changes(app: &TestApp, t: &Seeded) -> usize {
    app.flush_audit().await;
    app.store
        .audit_chain(&t.scope.chain())
        .await
        .unwrap()
        .iter()
        .filter(|e| e.category == "admin")
        .count()
}

async fn json(app: &TestApp, path: &str, cookie: &str) -> Value {
    let r = app.get(path, Some(cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
    r.body
}

/// A child's fully trusted guardian (id, version) and first authorized pickup (id, version).
async fn links(app: &TestApp, child: &str, admin: &str) -> ((String, i64), (String, i64)) {
    let guardians = json(app, &format!("/api/v1/children/{child}/guardians"), admin).await;
    let g = guardians["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["custody"] == "full")
        .unwrap()
        .clone();
    let record = json(app, &format!("/api/v1/children/{child}"), admin).await;
    let p = record["authorized_pickups"][0].clone();
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let version = |v: &Value| v["version"].as_i64().unwrap();
    ((id(&g), version(&g)), (id(&p), version(&p)))
}

async fn room_version(app: &TestApp, room: &str, admin: &str) -> i64 {
    let rooms = json(app, "/api/v1/classrooms", admin).await;
    rooms["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == room)
        .and_then(|c| c["version"].as_i64())
        .unwrap()
}

fn forms(t: &Seeded, r: &Records, other: &Seeded, o: &Records, ids: &Ids) -> Vec<Form> {
    let (teacher, their_teacher, parent) = (&t.teacher.id, &other.teacher.id, &t.parent.id);
    let (a, oa) = (&r.a, &o.a);
    let (r0, r1, r2) = (&r.rooms[0], &r.rooms[1], &r.rooms[2]);
    let Ids {
        room_v,
        child_v,
        guardian,
        guardian_v,
        pickup,
        pickup_v,
        their_guardian,
        their_pickup,
    } = ids;
    let mut forms = vec![
        Form {
            path: format!("/admin/classrooms/{r0}"),
            theirs: Some(format!("/admin/classrooms/{}", o.rooms[0])),
            body: format!("name=Blue+Jays&age_group=preschool&capacity=16&version={room_v}"),
            bad: Some(format!(
                "name=Blue+Jays&age_group=preschool&capacity=-3&version={room_v}"
            )),
            may: &[],
        },
        Form {
            path: format!("/admin/classrooms/{r1}/staff"),
            theirs: Some(format!("/admin/classrooms/{}/staff", o.rooms[1])),
            body: format!("user_id={teacher}"),
            bad: Some("user_id=".into()),
            may: &[],
        },
        Form {
            path: format!("/admin/classrooms/{r0}/staff/{teacher}/remove"),
            theirs: Some(format!(
                "/admin/classrooms/{}/staff/{their_teacher}/remove",
                o.rooms[0]
            )),
            body: String::new(),
            bad: None,
            may: &[],
        },
        Form {
            path: format!("/admin/classrooms/{r2}/archive"),
            theirs: Some(format!("/admin/classrooms/{}/archive", o.rooms[2])),
            body: "confirm=yes".into(),
            bad: None,
            may: &[],
        },
        Form {
            path: format!("/children/{a}/edit"),
            theirs: Some(format!("/children/{oa}/edit")),
            body: format!("version={child_v}&medical_notes=Nothing+to+note"),
            bad: Some(format!(
                "version={child_v}&given_name=&family_name=Quill&date_of_birth=yesterday"
            )),
            may: &[],
        },
        Form {
            path: format!("/children/{a}/guardians"),
            theirs: Some(format!("/children/{oa}/guardians")),
            body: format!(
                "name=Parent&relationship=Mother&account=user%3A{parent}&custody=shared&may_pick_up=true"
            ),
            bad: Some("name=Grandma&relationship=Gran&custody=sometimes".into()),
            may: &[],
        },
        Form {
            path: format!("/children/{a}/guardians/{guardian}"),
            theirs: Some(format!("/children/{oa}/guardians/{their_guardian}")),
            body: format!("custody=shared&may_pick_up=true&version={guardian_v}&action=save"),
            bad: Some(format!(
                "custody=sometimes&may_pick_up=true&version={guardian_v}&action=save"
            )),
            may: &[],
        },
        Form {
            path: format!("/children/{a}/pickups"),
            theirs: Some(format!("/children/{oa}/pickups")),
            body: "name=Uncle+Bo&relation=Uncle&photo_id=Passport&passphrase=green+kite+9".into(),
            bad: Some("name=&relation=Aunt&photo_id=Passport&passphrase=green+kite+9".into()),
            may: &[],
        },
        Form {
            path: format!("/children/{a}/pickups/{pickup}"),
            theirs: Some(format!("/children/{oa}/pickups/{their_pickup}")),
            body: format!(
                "name=Aunt+Quill&relation=Aunt&photo_id=Passport&passphrase=&version={pickup_v}"
            ),
            bad: Some(format!(
                "name=&relation=Aunt&photo_id=Passport&passphrase=&version={pickup_v}"
            )),
            may: &[],
        },
        Form {
            path: format!("/children/{a}/pickups/{pickup}/remove"),
            theirs: Some(format!("/children/{oa}/pickups/{their_pickup}/remove")),
            body: format!("version={pickup_v}"),
            bad: None,
            may: &[],
        },
        Form {
            path: format!("/children/{a}/attendance"),
            theirs: Some(format!("/children/{oa}/attendance")),
            body: format!("person=guardian%3A{guardian}&action=check_in&passphrase="),
            bad: Some(format!("person=guardian%3A{guardian}&action=nap&passphrase=")),
            may: &["teacher", "front_desk"],
        },
        Form {
            path: format!("/rooms/{r0}/attendance"),
            theirs: Some(format!("/rooms/{}/attendance", o.rooms[0])),
            body: format!("child={a}&action=check_in&person=guardian%3A{guardian}"),
            bad: Some(format!("child={a}&action=nap&person=guardian%3A{guardian}")),
            may: &["teacher", "front_desk"],
        },
        Form {
            path: "/staff/clock/correct".into(),
            theirs: None,
            body: format!("user_id={teacher}&classroom_id={r0}&action=clock_in&reason=late"),
            bad: Some(format!(
                "user_id={teacher}&classroom_id={r0}&action=clock_in&reason=+"
            )),
            may: &[],
        },
        Form {
            path: format!("/admin/people/{teacher}/role"),
            theirs: Some(format!("/admin/people/{their_teacher}/role")),
            body: "role=front_desk&from=teacher".into(),
            bad: Some("role=headmaster&from=teacher".into()),
            may: &[],
        },
    ];
    for what in [
        "deactivate",
        "reactivate",
        "mfa-reset",
        "sessions-end",
        "invitation",
    ] {
        forms.push(Form {
            path: format!("/admin/people/{teacher}/{what}"),
            theirs: Some(format!("/admin/people/{their_teacher}/{what}")),
            body: String::new(),
            bad: None,
            may: &[],
        });
    }
    forms
}

struct Ids {
    room_v: i64,
    child_v: i64,
    guardian: String,
    guardian_v: i64,
    pickup: String,
    pickup_v: i64,
    their_guardian: String,
    their_pickup: String,
}

#[tokio::test]
async fn every_console_form_refuses_other_roles_tenants_bad_fields_and_other_sites() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let o = app.seed_records(&other).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let their_admin = app.sign_in(&other.slug, &other.admin).await;

    let ((guardian, guardian_v), (pickup, pickup_v)) = links(&app, &r.a, &admin).await;
    let ((their_guardian, _), (their_pickup, _)) = links(&app, &o.a, &their_admin).await;
    let child = json(&app, &format!("/api/v1/children/{}", r.a), &admin).await;
    let ids = Ids {
        room_v: room_version(&app, &r.rooms[0], &admin).await,
        child_v: child["version"].as_i64().unwrap(),
        guardian,
        guardian_v,
        pickup,
        pickup_v,
        their_guardian,
        their_pickup,
    };
    let mut others: Vec<(&TestUser, String)> = Vec::new();
    for user in [&t.teacher, &t.front_desk, &t.parent] {
        others.push((user, app.sign_in(&t.slug, user).await));
    }
    let ours = changes(&app, &t).await;
    let theirs = changes(&app, &other).await;

    let mut checked = 0;
    for f in forms(&t, &r, &other, &o, &ids) {
        let path = &f.path;
        // A role that may not use the form.
        for (user, cookie) in &others {
            let role = user.role.as_str();
            if f.may.contains(&role) {
                continue;
            }
            let resp = app.post_form(path, &f.body, cookie).await;
            assert_eq!(
                resp.status,
                StatusCode::FORBIDDEN,
                "{role} {path}: {}",
                resp.text
            );
            checked += 1;
        }
        // Another center's record, by this center's administrator.
        if let Some(theirs) = &f.theirs {
            let resp = app.post_form(theirs, &f.body, &admin).await;
            assert_eq!(
                resp.status,
                StatusCode::NOT_FOUND,
                "{theirs}: {}",
                resp.text
            );
            checked += 1;
        }
        // A bad field: a clear error beside it, not a refusal of who asked, nor a conflict
        // (the versions posted are the current ones).
        if let Some(bad) = &f.bad {
            let resp = app.post_form(path, bad, &admin).await;
            assert!(
                matches!(resp.status.as_u16(), 400 | 422)
                    && (resp.text.contains("class=\"field-error\"")
                        || resp.text.contains("class=\"error\"")),
                "{path} with {bad}: {} {}",
                resp.status,
                resp.text
            );
            checked += 1;
        }
        // Another site's form, with the administrator's cookie.
        let resp = app.post_form_cross_site(path, &f.body, &admin).await;
        assert_eq!(
            resp.status,
            StatusCode::FORBIDDEN,
            "cross-site {path}: {}",
            resp.text
        );
        assert_eq!(resp.code(), "cross_site_request", "{path}");
        checked += 1;
        // Nothing recorded in either center, after each form.
        assert_eq!(changes(&app, &t).await, ours, "{path} changed this center");
        assert_eq!(
            changes(&app, &other).await,
            theirs,
            "{path} changed the other center"
        );
    }
    // An action the people page does not have.
    let resp = app
        .post_form(
            &format!("/admin/people/{}/explode", t.teacher.id),
            "",
            &admin,
        )
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND, "{}", resp.text);
    assert!(checked > 80, "{checked} refusals checked");
}

/// The account's own forms, which everyone signed in has: ending one of one's sessions, and
/// signing out. Another person's session, in this center or another, is not found; a malformed
/// ID is not found; a form from another site is refused; every session stays.
#[tokio::test]
async fn session_forms_end_only_ones_own_sessions_and_refuse_other_sites() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let parent = app.sign_in(&t.slug, &t.parent).await;
    let their_admin = app.sign_in(&other.slug, &other.admin).await;
    let current = async |cookie: &str| -> String {
        let list = json(&app, "/api/v1/sessions", cookie).await;
        let mine = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == true);
        mine.unwrap()["id"].as_str().unwrap().to_owned()
    };
    let admins = current(&admin).await;
    let theirs = current(&their_admin).await;

    for (cookie, id) in [
        (&parent, &admins),
        (&admin, &theirs),
        (&parent, &"not-an-id".to_owned()),
    ] {
        let path = format!("/account/sessions/{id}/revoke");
        let resp = app.post_form(&path, "", cookie).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{path}: {}", resp.text);
    }
    let forged = app
        .post_form_cross_site(&format!("/account/sessions/{admins}/revoke"), "", &admin)
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text);
    assert_eq!(forged.code(), "cross_site_request");
    let forged = app.post_form_cross_site("/logout", "", &admin).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text);
    assert_eq!(forged.code(), "cross_site_request");
    for cookie in [&admin, &parent, &their_admin] {
        let me = app.get("/api/v1/me", Some(cookie)).await;
        assert_eq!(me.status, StatusCode::OK, "still signed in: {}", me.text);
    }
}
