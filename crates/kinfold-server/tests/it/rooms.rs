#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The room roster, the check-in kiosk (issue 14): check-in and check-out from a room's page,
//! the allergy flag for everyone who runs the kiosk (its reading audited as a flag read), refused pickups
//! that tell the desk what to do and alert the administrators once per child per 15 minutes,
//! however many desks try at once; and the unhappy paths (wrong role, another teacher's room,
//! another tenant's room, a bad field, CSRF).

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;

use crate::harness::TestApp;

/// The `guardian:ID` value of a child's guardian with the given custody.
pub(crate) async fn guardian(app: &TestApp, child: &str, custody: &str, cookie: &str) -> String {
    let list = app
        .get(&format!("/api/v1/children/{child}/guardians"), Some(cookie))
        .await;
    let g: &Value = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["custody"] == custody)
        .unwrap();
    format!("guardian:{}", g["id"].as_str().unwrap())
}

async fn pickup(app: &TestApp, child: &str, cookie: &str) -> String {
    let c = app
        .get(&format!("/api/v1/children/{child}"), Some(cookie))
        .await;
    format!(
        "pickup:{}",
        c.body["authorized_pickups"][0]["id"].as_str().unwrap()
    )
}

#[tokio::test]
async fn a_teacher_checks_children_in_and_out_at_the_room_roster() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let room = &r.rooms[0];
    let path = format!("/rooms/{room}");

    let home = app.get("/", Some(&teacher)).await;
    assert!(
        home.text.contains(&format!(r#"href="{path}""#)),
        "the teacher's home links their room"
    );
    let page = app.get(&path, Some(&teacher)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Ava Quill") && page.text.contains("Cleo Quill"));
    assert!(!page.text.contains("Ben Quill"), "Ben is in another room");
    // Allergies are a flag, never spelled out on the shared screen.
    assert!(page.text.contains(r#"aria-label="Severe allergy"#));
    assert!(!page.text.contains("Kumquat"), "{}", page.text);
    // Reading the flags is a read of sealed fields, in the chain.
    app.flush_audit().await;
    let entries = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let read = entries.iter().any(|e| {
        e.kind == "child_records_read"
            && e.actor.as_deref() == Some(t.teacher.id.as_str())
            && e.event.contains(&r.a)
            && e.event.contains("allergy_flag")
    });
    assert!(read, "the teacher's reading of the flags is in the chain");

    // One tap checks Ava in, dropped off by her mother.
    let mother = guardian(&app, &r.a, "full", &admin).await;
    let form = format!("child={}&action=check_in&person={mother}", r.a);
    let done = app
        .post_form(&format!("{path}/attendance"), &form, &teacher)
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let back = app.get(&done.location(), Some(&teacher)).await;
    assert!(back.text.contains("Ava checked in."), "{}", back.text);
    assert!(back.text.contains(r#"data-status="present""#));
    assert!(
        back.text.contains("1</strong> present of 2"),
        "{}",
        back.text
    );
    // Checked in twice: a clear conflict, shown on the page, nothing written.
    let again = app
        .post_form(&format!("{path}/attendance"), &form, &teacher)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert!(again.text.contains("already checked in"));

    // The aunt, an authorized pickup, without her passphrase (a form that hid or dropped the
    // field): refused, and Ava stays in.
    let aunt = pickup(&app, &r.a, &admin).await;
    for body in [
        format!("child={}&action=check_out&person={aunt}", r.a),
        format!("child={}&action=check_out&person={aunt}&passphrase=", r.a),
    ] {
        let refused = app
            .post_form(&format!("{path}/attendance"), &body, &teacher)
            .await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{body}: {}",
            refused.text
        );
        // Redrawn with the aunt still chosen, so the passphrase field is there to fill in.
        assert!(
            refused
                .text
                .contains(&format!(r#"value="{aunt}" selected"#)),
            "{}",
            refused.text
        );
        let still = app.get(&path, Some(&teacher)).await;
        assert!(still.text.contains(r#"data-status="present""#), "{body}");
    }
    // Picked up by the aunt with her passphrase.
    let out = app
        .post_form(
            &format!("{path}/attendance"),
            &format!(
                "child={}&action=check_out&person={aunt}&passphrase=blue+kite+7",
                r.a
            ),
            &teacher,
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.text);
    let roster = app.get("/api/v1/attendance", Some(&admin)).await;
    let ava = roster.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["child_id"] == r.a.as_str())
        .unwrap()
        .clone();
    assert_eq!(ava["status"], "checked_out");

    // Front desk runs every room's kiosk and sees the flag there, as the teacher does (the
    // person at the desk hands out the snack), in the chain as a flag read; the allergies
    // themselves stay out of its reach, on the kiosk and on the child's page.
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let page = app
        .get(&format!("/rooms/{}", r.rooms[1]), Some(&desk))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("Ben Quill") && page.text.contains(r#"aria-label="Severe allergy"#),
        "{}",
        page.text
    );
    assert!(!page.text.contains("Kumquat"), "{}", page.text);
    app.flush_audit().await;
    let entries = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let flag_read = entries.iter().any(|e| {
        e.kind == "child_records_read"
            && e.actor.as_deref() == Some(t.front_desk.id.as_str())
            && e.event.contains(&r.b)
            && e.event.contains("allergy_flag")
    });
    assert!(flag_read, "the desk's reading of the flags is in the chain");
    let child = app
        .get(&format!("/api/v1/children/{}", r.b), Some(&desk))
        .await;
    assert_eq!(child.status, StatusCode::OK);
    assert!(
        !child.text.contains("Kumquat") && !child.text.contains("ZEBRA-NOTE"),
        "{}",
        child.text
    );
    // A parent runs no kiosk: no flag, whatever the child.
    let parent = app.sign_in(&t.slug, &t.parent).await;
    let refused = app
        .get(&format!("/rooms/{}", r.rooms[0]), Some(&parent))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_roster_refuses_other_rooms_roles_tenants_bad_fields_and_cross_site_forms() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let theirs = app.seed_records(&other).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let parent = app.sign_in(&t.slug, &t.parent).await;

    // A room the teacher is not assigned to, and another tenant's room: not found.
    let not_mine = app
        .get(&format!("/rooms/{}", r.rooms[1]), Some(&teacher))
        .await;
    assert_eq!(not_mine.status, StatusCode::NOT_FOUND);
    let foreign = app
        .get(&format!("/rooms/{}", theirs.rooms[0]), Some(&desk))
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/rooms/not-a-room", Some(&desk)).await.status,
        StatusCode::NOT_FOUND
    );
    // Another tenant's child, posted to one's own room: not found, nothing written.
    let theirs_child = app
        .post_form(
            &format!("/rooms/{}/attendance", r.rooms[0]),
            &format!("child={}&action=check_out&person=unlisted", theirs.a),
            &desk,
        )
        .await;
    assert_eq!(
        theirs_child.status,
        StatusCode::NOT_FOUND,
        "{}",
        theirs_child.text
    );
    // A teacher checking in a child of another room through their own room's form: not found.
    let other_room = app
        .post_form(
            &format!("/rooms/{}/attendance", r.rooms[0]),
            &format!(
                "child={}&action=check_in&person=guardian:{}",
                r.b,
                uuid::Uuid::now_v7()
            ),
            &teacher,
        )
        .await;
    assert_eq!(
        other_room.status,
        StatusCode::NOT_FOUND,
        "{}",
        other_room.text
    );
    let admin = app.sign_in(&t.slug, &t.admin).await;

    // Parents and anonymous readers have no kiosk.
    let p = app
        .get(&format!("/rooms/{}", r.rooms[0]), Some(&parent))
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let anon = app.get(&format!("/rooms/{}", r.rooms[0]), None).await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);

    // Bad fields: no person, a made-up person, an unknown action, "not on the list" at
    // drop-off. Each is a clear error on the page; nothing is written.
    for body in [
        format!("child={}&action=check_in&person=", r.a),
        format!("child={}&action=check_in&person=guardian:nope", r.a),
        format!("child={}&action=dance&person=unlisted", r.a),
        format!("child={}&action=check_in&person=unlisted", r.a),
    ] {
        let resp = app
            .post_form(&format!("/rooms/{}/attendance", r.rooms[0]), &body, &desk)
            .await;
        assert_eq!(
            resp.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            resp.text
        );
        assert!(resp.text.contains("invalid_input"), "{body}");
    }
    let roster = app.get("/api/v1/attendance", Some(&desk)).await;
    assert!(roster.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["status"] == "absent"));

    // A cross-site form is refused before it reaches the page.
    let mother = guardian(&app, &r.a, "full", &admin).await;
    let mut req = TestApp::form_req(
        &format!("/rooms/{}/attendance", r.rooms[0]),
        &format!("child={}&action=check_in&person={mother}", r.a),
        &desk,
    );
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
    let roster = app.get("/api/v1/attendance", Some(&desk)).await;
    assert!(roster.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["status"] == "absent"));
}

/// Refusals in parallel from many desks: every one is refused and audited, the desk is told
/// what to do, and the administrators get one email per child per 15 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_pickup_tells_the_desk_what_to_do_and_alerts_the_administrators_once() {
    let m = crate::messages::ready().await;
    let app = std::sync::Arc::new(m.app);
    let t = &m.t;
    let r = &m.r;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let path = format!("/rooms/{}/attendance", r.rooms[0]);
    let mother = guardian(&app, &r.a, "full", &m.admin).await;
    let inn = app
        .post_form(
            &path,
            &format!("child={}&action=check_in&person={mother}", r.a),
            &desk,
        )
        .await;
    assert_eq!(inn.status, StatusCode::SEE_OTHER, "{}", inn.text);

    let unlisted = format!("child={}&action=check_out&person=unlisted", r.a);
    let refused = app.post_form(&path, &unlisted, &desk).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert!(
        refused.text.contains("Do not release Ava"),
        "{}",
        refused.text
    );
    assert!(refused.text.contains("call a guardian on file"));

    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (app, desk, path, body) = (app.clone(), desk.clone(), path.clone(), unlisted.clone());
        tasks.push(tokio::spawn(async move {
            app.post_form(&path, &body, &desk).await.status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::FORBIDDEN);
    }
    // Give the worker time to deliver what was queued.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let alerts = |sink: &kinfold_core::mail::sink::Sink| {
        sink.received()
            .iter()
            .filter(|x| {
                x.to.iter().any(|to| to.contains(&t.admin.email))
                    && String::from_utf8_lossy(&x.data).contains("Subject: A pickup was refused")
            })
            .count()
    };
    assert_eq!(alerts(&m.sink), 1, "one alert for thirteen refusals");
    let still = app.get("/api/v1/attendance", Some(&desk)).await;
    assert!(still.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["child_id"] == r.a.as_str() && l["status"] == "present"));

    // Every refusal is on the administrators' home page and in the chain.
    let home = app.get("/", Some(&m.admin)).await;
    assert!(home.text.contains("Refused pickups in the last 24 hours"));
    assert_eq!(
        home.text
            .matches("not a guardian or authorized pickup of this child")
            .count(),
        13,
        "{}",
        home.text
    );
    let teacher_home = app
        .get("/", Some(&app.sign_in(&t.slug, &t.teacher).await))
        .await;
    assert!(!teacher_home.text.contains("Refused pickups"));

    // Fifteen minutes on, the next refusal alerts again; the API's refusals count too.
    app.advance(Duration::from_secs(16 * 60));
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let aunt = pickup(&app, &r.a, &m.admin).await;
    let wrong = app
        .post_form(
            &path,
            &format!(
                "child={}&action=check_out&person={aunt}&passphrase=red+kite",
                r.a
            ),
            &desk,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.text.contains("the pickup passphrase is wrong"));
    assert!(wrong.text.contains("Check the person"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(alerts(&m.sink), 2);
}
