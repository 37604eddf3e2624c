#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Attendance: check-in, check-out with pickup verification, the roster, and the policy cells
//! for check-in and check-out.

use std::sync::Arc;

use axum::http::StatusCode;
use kinfold_store::{AttendanceKind, ChildId, Visibility};
use serde_json::{json, Value};

use crate::harness::{Resp, TestApp};

/// `child`'s line on today's roster, as `who` reads it.
async fn roster_line(app: &TestApp, child: &str, who: &str) -> Value {
    let roster = app.get("/api/v1/attendance", Some(who)).await;
    roster.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["child_id"] == child)
        .unwrap()
        .clone()
}

/// A pickup refused (`403 pickup_refused`) with a message that says `why`.
fn assert_refused(r: &Resp, why: &str) {
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "pickup_refused"),
        "{}",
        r.text
    );
    assert!(
        r.body["error"]["message"].as_str().unwrap().contains(why),
        "{}",
        r.text
    );
}

async fn guardians(app: &TestApp, child: &str, cookie: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/children/{child}/guardians"), Some(cookie))
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn front_desk_checks_a_child_in_and_out() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let parent_link = guardians(&app, &r.a, &desk)
        .await
        .into_iter()
        .find(|g| g["custody"] == "full")
        .unwrap();
    let gid = parent_link["id"].as_str().unwrap();

    let out_first = app
        .check("out", json!({"child_id": r.a, "guardian_id": gid}), &desk)
        .await;
    assert_eq!(
        (out_first.status, out_first.code()),
        (StatusCode::CONFLICT, "conflict"),
        "not checked in yet"
    );

    let checked_in = app
        .check("in", json!({"child_id": r.a, "guardian_id": gid}), &desk)
        .await;
    assert_eq!(
        checked_in.status,
        StatusCode::CREATED,
        "{}",
        checked_in.text
    );
    assert_eq!(checked_in.body["person"]["kind"], "guardian");
    assert_eq!(checked_in.body["recorded_by"], t.front_desk.id.as_str());
    let again = app
        .check("in", json!({"child_id": r.a, "guardian_id": gid}), &desk)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let line = roster_line(&app, &r.a, &desk).await;
    assert_eq!(line["status"], "present");
    assert!(line["checked_in_at"].is_string());

    let out = app
        .check("out", json!({"child_id": r.a, "guardian_id": gid}), &desk)
        .await;
    assert_eq!(out.status, StatusCode::CREATED, "{}", out.text);
    let line = roster_line(&app, &r.a, &desk).await;
    assert_eq!(line["status"], "checked_out");
    let kinds = app.audit_kinds(&t.scope).await;
    assert!(
        kinds.contains(&"child_checked_in".into()) && kinds.contains(&"child_checked_out".into())
    );
}

#[tokio::test]
async fn pickups_by_strangers_restricted_guardians_or_wrong_passphrases_are_refused() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;

    // Child c: the parent's link is court-restricted. Add a full-custody guardian to bring c in.
    let added = app.post(&format!("/api/v1/children/{}/guardians", r.c), json!({"name": "Gran Quill", "relationship": "Grandmother", "custody": "full", "may_pick_up": true}), Some(&admin)).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let links = guardians(&app, &r.c, &desk).await;
    let restricted = links
        .iter()
        .find(|g| g["custody"] == "court_restricted")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gran = added.body["id"].as_str().unwrap();
    assert_eq!(
        app.check("in", json!({"child_id": r.c, "guardian_id": gran}), &desk)
            .await
            .status,
        StatusCode::CREATED
    );
    let refused = app
        .check(
            "out",
            json!({"child_id": r.c, "guardian_id": restricted}),
            &desk,
        )
        .await;
    assert_refused(&refused, "court order");

    // Child a: a guardian of another child is a stranger here.
    let links_a = guardians(&app, &r.a, &desk).await;
    let parent_a = links_a[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.check(
            "in",
            json!({"child_id": r.a, "guardian_id": parent_a}),
            &desk
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let stranger = app
        .check("out", json!({"child_id": r.a, "guardian_id": gran}), &desk)
        .await;
    assert_refused(&stranger, "not a guardian or authorized pickup");

    // The authorized pickup needs the right passphrase, which is never shown.
    let view = app
        .get(&format!("/api/v1/children/{}", r.a), Some(&desk))
        .await;
    let pickup = view.body["authorized_pickups"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let no_pass = app
        .check("out", json!({"child_id": r.a, "pickup_id": pickup}), &desk)
        .await;
    assert_refused(&no_pass, "passphrase is required");
    let wrong = app
        .check(
            "out",
            json!({"child_id": r.a, "pickup_id": pickup, "passphrase": "red kite 7"}),
            &desk,
        )
        .await;
    assert_refused(&wrong, "passphrase is wrong");
    assert!(!wrong.text.contains("blue kite"));
    let right = app
        .check(
            "out",
            json!({"child_id": r.a, "pickup_id": pickup, "passphrase": "blue kite 7"}),
            &desk,
        )
        .await;
    assert_eq!(right.status, StatusCode::CREATED, "{}", right.text);
    assert_eq!(right.body["person"]["kind"], "authorized_pickup");
    assert!(app
        .audit_kinds(&t.scope)
        .await
        .contains(&"pickup_refused".into()));
}

#[tokio::test]
async fn pickup_passphrase_guesses_are_throttled() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let links = guardians(&app, &r.a, &desk).await;
    app.check(
        "in",
        json!({"child_id": r.a, "guardian_id": links[0]["id"]}),
        &desk,
    )
    .await;
    let view = app
        .get(&format!("/api/v1/children/{}", r.a), Some(&desk))
        .await;
    let pickup = view.body["authorized_pickups"][0]["id"].clone();
    let mut statuses = Vec::new();
    for i in 0..6 {
        let r = app
            .check(
                "out",
                json!({"child_id": r.a, "pickup_id": pickup, "passphrase": format!("guess {i}")}),
                &desk,
            )
            .await;
        statuses.push(r.status);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn check_in_and_out_follow_the_policy() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let parent = app.sign_in(&t.slug, &t.parent).await;
    let ga = guardians(&app, &r.a, &admin).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let added = app.post(&format!("/api/v1/children/{}/guardians", r.b), json!({"name": "Dad Quill", "relationship": "Father", "custody": "full", "may_pick_up": true}), Some(&admin)).await;
    let gb = added.body["id"].as_str().unwrap().to_owned();
    // check-in and check-out: yes | own classrooms | yes | —
    let own = app
        .check("in", json!({"child_id": r.a, "guardian_id": ga}), &teacher)
        .await;
    assert_eq!(
        own.status,
        StatusCode::CREATED,
        "teacher, own classroom: {}",
        own.text
    );
    let foreign = app
        .check("in", json!({"child_id": r.b, "guardian_id": gb}), &teacher)
        .await;
    assert_eq!(
        foreign.status,
        StatusCode::NOT_FOUND,
        "teacher, other classroom"
    );
    let by_parent = app
        .check("in", json!({"child_id": r.b, "guardian_id": gb}), &parent)
        .await;
    assert_eq!(by_parent.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/attendance", Some(&parent)).await.status,
        StatusCode::FORBIDDEN
    );
    let by_admin = app
        .check("in", json!({"child_id": r.b, "guardian_id": gb}), &admin)
        .await;
    assert_eq!(by_admin.status, StatusCode::CREATED);
    let roster = app.get("/api/v1/attendance", Some(&teacher)).await;
    let kids: Vec<&str> = roster.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["child_id"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&r.a.as_str()) && !kids.contains(&r.b.as_str()),
        "the teacher's roster is their classrooms"
    );
    for bad in [
        json!({"child_id": r.a}),
        json!({"child_id": r.a, "guardian_id": ga, "pickup_id": ga}),
        json!({"child_id": "nope", "guardian_id": ga}),
        json!({"child_id": r.a, "guardian_id": "nope"}),
    ] {
        let resp = app.check("out", bad.clone(), &admin).await;
        assert!(
            matches!(
                resp.status,
                StatusCode::UNPROCESSABLE_ENTITY | StatusCode::NOT_FOUND
            ),
            "{bad}: {}",
            resp.text
        );
    }
    assert_eq!(
        app.get("/api/v1/attendance?day=yesterday", Some(&admin))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

/// Issue 13: desks racing to check one child in. The check and the write are one store
/// transaction, and a unique index allows one open check-in per child and day, so exactly one
/// request wins and every other gets the same 409 as a late desk, never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_desks_checking_one_child_in_at_once_record_one_check_in() {
    let app = Arc::new(TestApp::new().await);
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let gid = guardians(&app, &r.a, &desk)
        .await
        .into_iter()
        .find(|g| g["custody"] == "full")
        .unwrap()["id"]
        .clone();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (app, desk) = (app.clone(), desk.clone());
        let body = json!({"child_id": r.a, "guardian_id": gid});
        set.spawn(async move { app.check("in", body, &desk).await });
    }
    let mut created = 0;
    let mut conflicts = 0;
    while let Some(resp) = set.join_next().await {
        let resp = resp.unwrap();
        match resp.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert_eq!(resp.code(), "conflict", "{}", resp.text);
                assert_eq!(
                    resp.body["error"]["message"], "the child is already checked in",
                    "{}",
                    resp.text
                );
                conflicts += 1;
            }
            other => panic!("{other}: {}", resp.text),
        }
    }
    assert_eq!((created, conflicts), (1, 19));

    let child = ChildId::parse(&r.a).unwrap();
    let day = app.core.attendance().day_now(&t.scope).await.unwrap();
    let events = app
        .store
        .attendance_day(&t.scope, &day, Visibility::All)
        .await
        .unwrap();
    let ins: Vec<_> = events
        .iter()
        .filter(|e| e.child_id == child && e.kind == AttendanceKind::CheckIn)
        .collect();
    assert_eq!(ins.len(), 1, "{events:?}");
    let audited = app.audit_kinds(&t.scope).await;
    assert_eq!(
        audited.iter().filter(|k| *k == "child_checked_in").count(),
        1,
        "the losers' audit entries rolled back with their writes"
    );
}
