#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Attendance corrections (issue 14): a wrong time is corrected by a new entry with a reason,
//! never by an edit. The roster reads the corrected time, the sign-in sheet and the child's
//! day show both entries, and bad corrections are refused with nothing written.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestApp;

/// A time ten minutes before `at` (RFC 3339) in UTC, as `HH:MM`, not before midnight.
fn earlier(at: &str) -> String {
    let t: jiff::Timestamp = at.parse().unwrap();
    let z = t.to_zoned(jiff::tz::TimeZone::UTC);
    let minutes = i64::from(z.hour()) * 60 + i64::from(z.minute());
    let m = (minutes - 10).max(0);
    format!("{:02}:{:02}", m / 60, m % 60)
}

async fn checked_in(app: &TestApp, r: &crate::harness::Records, desk: &str, admin: &str) -> Value {
    let g = app
        .get(&format!("/api/v1/children/{}/guardians", r.a), Some(admin))
        .await
        .body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let inn = app
        .check("in", json!({"child_id": r.a, "guardian_id": g}), desk)
        .await;
    assert_eq!(inn.status, StatusCode::CREATED, "{}", inn.text);
    inn.body
}

#[tokio::test]
async fn a_correction_is_a_new_entry_beside_the_original() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let inn = checked_in(&app, &r, &desk, &admin).await;
    let id = inn["id"].as_str().unwrap();
    let time = earlier(inn["at"].as_str().unwrap());
    let fixed = app
        .post(
            &format!("/api/v1/attendance/{id}/correction"),
            json!({"child_id": r.a, "time": time, "reason": "Arrived before the tablet was on"}),
            Some(&desk),
        )
        .await;
    assert_eq!(fixed.status, StatusCode::CREATED, "{}", fixed.text);
    assert_eq!(fixed.body["correction"]["corrects"], id);
    assert_eq!(fixed.body["kind"], "check_in");
    assert!(
        fixed.body["at"].as_str().unwrap()[11..16] == time[..],
        "{}",
        fixed.text
    );

    // The roster reads the corrected time; the child is still in.
    let roster = app.get("/api/v1/attendance", Some(&desk)).await;
    let ava = roster.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["child_id"] == r.a.as_str())
        .unwrap()
        .clone();
    assert_eq!(ava["status"], "present");
    assert_eq!(ava["checked_in_at"], fixed.body["at"]);

    // The sheet and the child's day show both entries.
    let day = inn["day"].as_str().unwrap();
    let csv = app
        .get(
            &format!("/attendance/export?from={day}&to={day}&format=csv"),
            Some(&desk),
        )
        .await;
    let rows: Vec<&str> = csv
        .text
        .lines()
        .filter(|l| l.contains("Ava Quill"))
        .collect();
    assert_eq!(rows.len(), 2, "{}", csv.text);
    assert!(
        rows[1].contains(&format!(
            "corrects the {} entry: Arrived before the tablet was on",
            &inn["at"].as_str().unwrap()[11..16]
        )),
        "{}",
        csv.text
    );
    let page = app.get(&format!("/children/{}", r.a), Some(&desk)).await;
    assert!(
        page.text.contains("Correction: checked in at"),
        "{}",
        page.text
    );
    assert!(page.text.contains("Correct this time"));
    app.flush_audit().await;
    let chain = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let entry = chain
        .iter()
        .find(|e| e.kind == "attendance_corrected")
        .unwrap();
    assert!(entry.event.contains("Arrived before the tablet was on"));
    assert_eq!(entry.actor.as_deref(), Some(t.front_desk.id.as_str()));

    // From the child's page, too.
    let form = format!(
        "time={}&reason=Second+look",
        earlier(inn["at"].as_str().unwrap())
    );
    let done = app
        .post_form(
            &format!("/children/{}/attendance/{id}/correction", r.a),
            &form,
            &desk,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert!(done.text.contains("Corrected: the first entry stands"));
}

#[tokio::test]
async fn bad_corrections_are_refused_and_nothing_is_written() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let theirs = app.seed_records(&other).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let inn = checked_in(&app, &r, &desk, &admin).await;
    let id = inn["id"].as_str().unwrap().to_owned();
    let ok_time = earlier(inn["at"].as_str().unwrap());
    let post = |path: String, body: Value, cookie: String| {
        let app = &app;
        async move { app.post(&path, body, Some(&cookie)).await }
    };
    let path = format!("/api/v1/attendance/{id}/correction");
    for (body, field) in [
        (
            json!({"child_id": r.a, "time": "23:59", "reason": "x"}),
            "time",
        ),
        (
            json!({"child_id": r.a, "time": "7 o'clock", "reason": "x"}),
            "time",
        ),
        (
            json!({"child_id": r.a, "time": ok_time, "reason": "  "}),
            "reason",
        ),
        (
            json!({"child_id": r.a, "time": ok_time, "reason": "two\nlines"}),
            "reason",
        ),
        (
            json!({"child_id": r.a, "time": ok_time, "reason": "\u{200B}\u{200B}"}),
            "reason",
        ),
        (
            json!({"child_id": r.a, "time": ok_time, "reason": "late \u{202E}sub"}),
            "reason",
        ),
        (
            json!({"child_id": r.a, "time": ok_time, "reason": "x".repeat(301)}),
            "reason",
        ),
    ] {
        let resp = post(path.clone(), body.clone(), desk.clone()).await;
        if field == "time" && body["time"] == "23:59" && resp.status == StatusCode::CREATED {
            // Only at 23:59 UTC itself is 23:59 not in the future.
            continue;
        }
        assert_eq!(
            (resp.status, resp.body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}: {}",
            resp.text
        );
    }
    // Another child's entry, another tenant's child, a made-up entry: not found.
    for (entry, child) in [
        (id.clone(), r.b.clone()),
        (id.clone(), theirs.a.clone()),
        (uuid::Uuid::now_v7().to_string(), r.a.clone()),
    ] {
        let resp = post(
            format!("/api/v1/attendance/{entry}/correction"),
            json!({"child_id": child, "time": ok_time, "reason": "x"}),
            desk.clone(),
        )
        .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{}", resp.text);
    }
    // Parents do not correct; a teacher of another room finds nothing.
    let parent = app.sign_in(&t.slug, &t.parent).await;
    let resp = post(
        path.clone(),
        json!({"child_id": r.a, "time": ok_time, "reason": "x"}),
        parent,
    )
    .await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    // The console's form, as the child's page posts it: bad fields come back on the page
    // (422, the reason why), other roles, rooms and tenants find nothing to correct.
    let form = |child: &str| format!("/children/{child}/attendance/{id}/correction");
    for (body, field) in [
        ("time=&reason=forgot".to_owned(), "time"),
        ("time=7+o%27clock&reason=forgot".to_owned(), "time"),
        (format!("time={ok_time}&reason="), "reason"),
        (format!("time={ok_time}&reason=%E2%80%AE"), "reason"),
    ] {
        let resp = app.post_form(&form(&r.a), &body, &desk).await;
        assert_eq!(
            resp.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            resp.text
        );
        // Beside the field, in the entry's form drawn open again with what was sent.
        assert!(
            resp.text
                .contains(&format!(r#"id="correct-{id}-{field}-error""#)),
            "{body}: {}",
            resp.text
        );
        assert!(resp.text.contains("<details open>"), "{body}");
        if field == "reason" {
            assert!(
                resp.text.contains(&format!(r#"value="{ok_time}""#)),
                "{body}"
            );
        } else {
            assert!(resp.text.contains(r#"value="forgot""#), "{body}");
        }
    }
    let body = format!("time={ok_time}&reason=late+bus");
    let parent = app.sign_in(&t.slug, &t.parent).await;
    assert_eq!(
        app.post_form(&form(&r.a), &body, &parent).await.status,
        StatusCode::FORBIDDEN
    );
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    assert_eq!(
        app.post_form(&form(&r.b), &body, &teacher).await.status,
        StatusCode::NOT_FOUND,
        "the teacher's entry named under a child of another room"
    );
    let elsewhere = app.sign_in(&other.slug, &other.admin).await;
    assert_eq!(
        app.post_form(&form(&r.a), &body, &elsewhere).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post_form(&form(&theirs.a), &body, &elsewhere)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // A cross-site form is refused before it reaches the page.
    let mut req = TestApp::form_req(
        &format!("/children/{}/attendance/{id}/correction", r.a),
        &format!("time={ok_time}&reason=forged"),
        &desk,
    );
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
    app.flush_audit().await;
    let chain = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    assert!(
        !chain.iter().any(|e| e.kind == "attendance_corrected"),
        "nothing was written"
    );
}
