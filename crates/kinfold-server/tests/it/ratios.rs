#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Staff attendance and live ratios (issue 14): staff clock in to their rooms (their own
//! clock-in only; an administrator's correction carries a reason), the ratio board follows
//! the children present by age and the center's ratio table, and a check-in or a clock-out
//! that leaves a room out of ratio is recorded, warns, and alerts the administrators once per
//! room per 15 minutes. The alert fires at the exact child that breaks the ratio.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use kinfold_core::children::ChildInput;
use kinfold_store::{Custody, NewGuardian, UserId};
use serde_json::{json, Value};

use crate::harness::{Seeded, TestApp};

/// A toddler room with `n` toddlers (two years old today), each with a guardian who may drop
/// them off. Returns the room and `(child, guardian)` pairs.
async fn toddler_room(app: &TestApp, t: &Seeded, n: usize) -> (String, Vec<(String, String)>) {
    let admin = app
        .core
        .operator_actor(&t.scope, UserId::parse(&t.admin.id).unwrap())
        .await
        .unwrap();
    let fields = kinfold_model::ClassroomFields {
        name: "Otters".into(),
        age_group: Some(kinfold_model::AgeGroup::Toddler),
        capacity: Some(12),
    };
    let room = app
        .core
        .classrooms()
        .create_classroom(&admin, &fields)
        .await
        .unwrap()
        .id;
    app.core
        .classrooms()
        .assign_teacher(&admin, UserId::parse(&t.teacher.id).unwrap(), room)
        .await
        .unwrap();
    let today = app.core.attendance().day_now(&t.scope).await.unwrap();
    let year: i32 = today[..4].parse().unwrap();
    let born = format!("{}{}", year - 2, &today[4..]);
    let mut kids = Vec::new();
    for i in 0..n {
        let input = ChildInput {
            given_name: format!("Tot{i}"),
            family_name: "Small".into(),
            preferred_name: None,
            date_of_birth: born.clone(),
            classroom_id: Some(room.to_string()),
            enrollment_status: None,
            enrolled_on: None,
            left_on: None,
            allergies: vec![],
            medical_notes: String::new(),
            emergency_contacts: vec![],
        };
        let child = app
            .core
            .children()
            .create_child(&admin, input)
            .await
            .unwrap()
            .id;
        let g = NewGuardian {
            user_id: None,
            name: format!("Parent{i}"),
            email: None,
            phone: None,
        };
        let link = app
            .core
            .children()
            .add_guardian(&admin, child, g, "Parent", Custody::Full, true, true)
            .await
            .unwrap();
        kids.push((child.to_string(), link.id.to_string()));
    }
    (room.to_string(), kids)
}

/// Checks `kids` in one by one as `staff`; after each, the answer's ratio warning is `warning`
/// of the child's number (from 1), and the administrators have had one alert about Otters once
/// a warning was given, none before.
async fn check_in_each(
    m: &crate::messages::Mail,
    staff: &str,
    kids: &[(String, String)],
    warning: impl Fn(usize) -> Option<String>,
) {
    let mut warned_once = false;
    for (i, (child, guardian)) in kids.iter().enumerate() {
        let r = m
            .app
            .check(
                "in",
                json!({"child_id": child, "guardian_id": guardian}),
                staff,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let warned = r.body.get("ratio_warning").and_then(Value::as_str);
        let want = warning(i + 1);
        assert_eq!(warned, want.as_deref(), "child {}", i + 1);
        warned_once |= want.is_some();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let alerts = admin_alerts(&m.sink, &m.t.admin.email, "Otters is out of ratio");
        assert_eq!(alerts, usize::from(warned_once), "after child {}", i + 1);
    }
}

fn admin_alerts(sink: &kinfold_core::mail::sink::Sink, admin: &str, subject: &str) -> usize {
    sink.received()
        .iter()
        .filter(|x| {
            x.to.iter().any(|to| to.contains(admin))
                && String::from_utf8_lossy(&x.data).contains(&format!("Subject: {subject}"))
        })
        .count()
}

#[tokio::test]
async fn the_ratio_alert_fires_at_the_exact_child_that_breaks_the_ratio() {
    let m = crate::messages::ready().await;
    let (app, t) = (&m.app, &m.t);
    let (room, kids) = toddler_room(app, t, 6).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let clocked = app
        .post(
            "/api/v1/staff/clock-in",
            json!({"classroom_id": room}),
            Some(&teacher),
        )
        .await;
    assert_eq!(clocked.status, StatusCode::CREATED, "{}", clocked.text);

    // One staff member, toddlers 1 in 4 (CFOC): four are fine, the fifth breaks the ratio.
    check_in_each(&m, &teacher, &kids, |n| {
        (n > 4).then(|| format!("{n} children present need 2 staff; 1 clocked in"))
    })
    .await;

    // The board, the roster and the administrators' home page all say so.
    let board = app.get("/api/v1/ratios", Some(&teacher)).await;
    let otters = board.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["classroom_id"] == room.as_str())
        .unwrap()
        .clone();
    assert_eq!(otters["children_present"], 6);
    assert_eq!(otters["staff_present"], 1);
    assert_eq!(otters["staff_needed"], 2);
    assert_eq!(otters["max_group"], 8);
    assert_eq!(otters["headroom"], 0);
    let roster = app.get(&format!("/rooms/{room}"), Some(&teacher)).await;
    assert!(roster.text.contains("Out of ratio"), "{}", roster.text);
    let home = app.get("/", Some(&m.admin)).await;
    assert!(
        home.text.contains("Otters</a> is out of ratio"),
        "{}",
        home.text
    );

    // A second staff member puts it right; their clock-out breaks it again, warns, and does
    // not email again within 15 minutes.
    let admin_in = app
        .post(
            "/api/v1/staff/clock-in",
            json!({"classroom_id": room}),
            Some(&m.admin),
        )
        .await;
    assert_eq!(admin_in.status, StatusCode::CREATED);
    let board = app.get("/ratios", Some(&m.admin)).await;
    assert!(!board.text.contains("Out of ratio"), "{}", board.text);
    let out = app
        .post(
            "/api/v1/staff/clock-out",
            json!({"classroom_id": room}),
            Some(&m.admin),
        )
        .await;
    assert_eq!(out.status, StatusCode::CREATED, "{}", out.text);
    assert!(out.body["ratio_warning"]
        .as_str()
        .unwrap()
        .contains("need 2 staff"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        admin_alerts(&m.sink, &t.admin.email, "Otters is out of ratio"),
        1
    );

    // Breaking it again 14 minutes after the first alert: warned, no email; 16 minutes after
    // it: warned, and the administrators are told again.
    let breaks_again = || async {
        for path in ["/api/v1/staff/clock-in", "/api/v1/staff/clock-out"] {
            let r = app
                .post(path, json!({"classroom_id": room}), Some(&m.admin))
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.text);
            if path.ends_with("clock-out") {
                assert!(r.body["ratio_warning"].as_str().is_some(), "{}", r.text);
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        admin_alerts(&m.sink, &t.admin.email, "Otters is out of ratio")
    };
    app.advance(Duration::from_secs(14 * 60));
    assert_eq!(
        breaks_again().await,
        1,
        "within 15 minutes, no second email"
    );
    app.advance(Duration::from_secs(2 * 60));
    assert_eq!(
        breaks_again().await,
        2,
        "after 15 minutes, the next one emails"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clock_in_is_ones_own_and_a_correction_carries_a_reason() {
    let app = Arc::new(TestApp::new().await);
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let theirs = app.seed_records(&other).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let parent = app.sign_in(&t.slug, &t.parent).await;
    let clock_in = |room: &str| json!({"classroom_id": room});

    // Another teacher's room, another tenant's room, a parent: refused, nothing written.
    for (room, who, want) in [
        (&r.rooms[1], &teacher, StatusCode::NOT_FOUND),
        (&theirs.rooms[0], &admin, StatusCode::NOT_FOUND),
        (&r.rooms[0], &parent, StatusCode::FORBIDDEN),
        (&"not-a-room".to_owned(), &teacher, StatusCode::NOT_FOUND),
    ] {
        let resp = app
            .post("/api/v1/staff/clock-in", clock_in(room), Some(who))
            .await;
        assert_eq!(resp.status, want, "{}", resp.text);
    }
    // The same through the console: the clock form is not a parent's, another center's room is
    // not found, and the ratio board is staff's alone.
    for (room, who, want) in [
        (&r.rooms[0], &parent, StatusCode::FORBIDDEN),
        (&theirs.rooms[0], &admin, StatusCode::NOT_FOUND),
    ] {
        let body = format!("classroom_id={room}&action=clock_in&back=home");
        let resp = app.post_form("/staff/clock", &body, who).await;
        assert_eq!(resp.status, want, "{}", resp.text);
    }
    for path in ["/ratios", "/api/v1/ratios"] {
        let resp = app.get(path, Some(&parent)).await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{path}: {}", resp.text);
    }
    // Twenty taps at once clock the teacher in once.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (app, teacher, body) = (app.clone(), teacher.clone(), clock_in(&r.rooms[0]));
        tasks.push(tokio::spawn(async move {
            app.post("/api/v1/staff/clock-in", body, Some(&teacher))
                .await
                .status
        }));
    }
    let mut codes = Vec::new();
    for task in tasks {
        codes.push(task.await.unwrap());
    }
    assert_eq!(
        codes.iter().filter(|c| **c == StatusCode::CREATED).count(),
        1,
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| **c == StatusCode::CONFLICT).count(),
        19,
        "{codes:?}"
    );
    // Clocking out of a room one is not in: a clear conflict.
    let wrong = app
        .post(
            "/api/v1/staff/clock-out",
            clock_in(&r.rooms[2]),
            Some(&admin),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::CONFLICT);

    // Only an administrator records for someone else, and only with a reason.
    let for_teacher = |reason: Option<&str>| {
        let mut b = json!({"classroom_id": r.rooms[0], "user_id": t.teacher.id});
        if let Some(x) = reason {
            b["reason"] = json!(x);
        }
        b
    };
    let by_teacher = app
        .post(
            "/api/v1/staff/clock-out",
            for_teacher(Some("x")),
            Some(&teacher),
        )
        .await;
    assert_eq!(by_teacher.status, StatusCode::FORBIDDEN);
    for bad in [None, Some(""), Some("   "), Some("two\nlines")] {
        let resp = app
            .post("/api/v1/staff/clock-out", for_teacher(bad), Some(&admin))
            .await;
        assert_eq!(
            (resp.status, resp.body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")),
            "{bad:?}: {}",
            resp.text
        );
    }
    let own_reason = app
        .post(
            "/api/v1/staff/clock-in",
            json!({"classroom_id": r.rooms[1], "reason": "late"}),
            Some(&admin),
        )
        .await;
    assert_eq!(own_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fixed = app
        .post(
            "/api/v1/staff/clock-out",
            for_teacher(Some("Left at 15:00; forgot to clock out")),
            Some(&admin),
        )
        .await;
    assert_eq!(fixed.status, StatusCode::CREATED, "{}", fixed.text);
    assert_eq!(fixed.body["recorded_by"], t.admin.id.as_str());
    assert_eq!(fixed.body["user_id"], t.teacher.id.as_str());
    app.flush_audit().await;
    let chain = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let entry = chain
        .iter()
        .rev()
        .find(|e| e.kind == "staff_clocked_out")
        .unwrap();
    assert!(entry.event.contains("forgot to clock out"));
    assert_eq!(entry.actor.as_deref(), Some(t.admin.id.as_str()));
    // Both entries stand: the teacher's clock-in and the administrator's clock-out.
    assert_eq!(
        chain
            .iter()
            .filter(|e| e.kind == "staff_clocked_in")
            .count(),
        1
    );
}

#[tokio::test]
async fn staff_clock_in_from_their_home_page_and_the_roster() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    // Nobody has clocked in today: a check-in is not measured against a ratio, and nobody is
    // alerted (a center that does not use the clock is not told off at every check-in).
    let mother = app
        .get(&format!("/api/v1/children/{}/guardians", r.a), Some(&admin))
        .await
        .body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let inn = app
        .check(
            "in",
            json!({"child_id": r.a, "guardian_id": mother}),
            &teacher,
        )
        .await;
    assert_eq!(inn.status, StatusCode::CREATED, "{}", inn.text);
    assert!(inn.body.get("ratio_warning").is_none(), "{}", inn.text);
    let board = app.get("/ratios", Some(&teacher)).await;
    assert!(
        board.text.contains(r#"id="not-measured""#),
        "{}",
        board.text
    );
    let api = app.get("/api/v1/ratios", Some(&teacher)).await;
    assert_eq!(api.body["items"][0]["problem"], Value::Null);
    let home = app.get("/", Some(&teacher)).await;
    assert!(
        home.text.contains("You are not clocked in."),
        "{}",
        home.text
    );
    let body = format!("classroom_id={}&action=clock_in&back=home", r.rooms[0]);
    let done = app.post_form("/staff/clock", &body, &teacher).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let home = app.get("/?clock=clocked_in", Some(&teacher)).await;
    assert!(home.text.contains("Clocked in.") && home.text.contains("Clock out of Room A"));
    let roster = app
        .get(&format!("/rooms/{}", r.rooms[0]), Some(&teacher))
        .await;
    assert!(
        roster.text.contains("1</strong> staff clocked in"),
        "{}",
        roster.text
    );
    // Ava (four) is in, with one teacher: 1 in 8, so seven more four-year-olds fit.
    assert!(
        roster.text.contains("room for 7 more children"),
        "{}",
        roster.text
    );
    // Someone else's room, a made-up action, a cross-site form: refused.
    let not_mine = app
        .post_form(
            "/staff/clock",
            &format!("classroom_id={}&action=clock_in", r.rooms[1]),
            &teacher,
        )
        .await;
    assert_eq!(not_mine.status, StatusCode::NOT_FOUND);
    let odd = app
        .post_form(
            "/staff/clock",
            &format!("classroom_id={}&action=nap", r.rooms[0]),
            &teacher,
        )
        .await;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut req = TestApp::form_req(
        "/staff/clock",
        &format!("classroom_id={}&action=clock_out&back=room", r.rooms[0]),
        &teacher,
    );
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
    let out = app
        .post_form(
            "/staff/clock",
            &format!("classroom_id={}&action=clock_out&back=room", r.rooms[0]),
            &teacher,
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let loc = out.headers["location"].to_str().unwrap();
    // Ava is still in, and now nobody is with her: the clock-out stands, and says so.
    assert_eq!(
        loc,
        format!("/rooms/{}?clock=clocked_out_ratio", r.rooms[0])
    );
    let back = app.get(loc, Some(&teacher)).await;
    assert!(
        back.text.contains("The room is now out of ratio"),
        "{}",
        back.text
    );
    assert!(back.text.contains("Out of ratio: "), "{}", back.text);
}

/// An administrator corrects a staff member's clock-in from the ratio board: the form names the
/// staff member and the room and needs a reason (without one it comes back with the error
/// beside the field and the fields as sent, and nothing is recorded); recorded, it is the staff
/// member's clock-in, and the board says so. A teacher has no such form and is refused one,
/// and another site's page cannot send it.
#[tokio::test]
async fn an_administrator_corrects_a_clock_in_from_the_ratio_board() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let board = app.get("/ratios", Some(&admin)).await;
    assert!(
        board.text.contains("Correct a staff record"),
        "{}",
        board.text
    );
    let theirs = app.get("/ratios", Some(&teacher)).await;
    assert!(!theirs.text.contains("correct-clock"), "{}", theirs.text);
    let form = |reason: &str| {
        format!(
            "user_id={}&classroom_id={}&action=clock_in&reason={reason}",
            t.teacher.id, r.rooms[0]
        )
    };
    let not_clocked_in = || async {
        let home = app.get("/", Some(&teacher)).await;
        home.text.contains("You are not clocked in.")
    };

    let bad = app
        .post_form("/staff/clock/correct", &form("+"), &admin)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert!(
        bad.text.contains(r#"id="correct-reason-error""#),
        "{}",
        bad.text
    );
    assert!(
        bad.text
            .contains(&format!(r#"value="{}" selected"#, r.rooms[0])),
        "{}",
        bad.text
    );
    assert!(not_clocked_in().await, "nothing recorded");
    let refused = app
        .post_form("/staff/clock/correct", &form("late"), &teacher)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let cross = app
        .post_form_cross_site("/staff/clock/correct", &form("late"), &admin)
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN, "{}", cross.text);
    assert!(not_clocked_in().await, "nothing recorded");

    let done = app
        .post_form(
            "/staff/clock/correct",
            &form("Forgot+to+clock+in+at+8"),
            &admin,
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let board = app.get(&done.location(), Some(&admin)).await;
    assert!(
        board.text.contains("Correction recorded."),
        "{}",
        board.text
    );
    let home = app.get("/", Some(&teacher)).await;
    assert!(home.text.contains("Clock out of Room A"), "{}", home.text);
}

/// The group size alone: three staff cover twelve toddlers by ratio (1 in 4), but a toddler
/// group is at most eight (CFOC). The eighth child is not warned about; the ninth is, as over
/// the group size, and the administrators get one alert.
#[tokio::test]
async fn the_group_size_alone_breaks_a_room_at_the_exact_child() {
    let m = crate::messages::ready().await;
    let (app, t) = (&m.app, &m.t);
    let (room, kids) = toddler_room(app, t, 9).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    for who in [&teacher, &m.admin, &desk] {
        let clocked = app
            .post(
                "/api/v1/staff/clock-in",
                json!({"classroom_id": room}),
                Some(who),
            )
            .await;
        assert_eq!(clocked.status, StatusCode::CREATED, "{}", clocked.text);
    }
    check_in_each(&m, &teacher, &kids, |n| {
        (n > 8).then(|| format!("{n} children present, above the group size of 8"))
    })
    .await;
}
