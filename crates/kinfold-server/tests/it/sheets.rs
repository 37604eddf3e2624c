#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Sign-in sheets (issue 14): one row per check-in and check-out, with who dropped off or
//! picked up, in the center's time zone, as CSV or a printable page; each sheet an audited
//! export. Formulas in names are defused; bad ranges, other rooms and other roles are refused.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::TestApp;

fn local(at: &str, tz: &str) -> String {
    let t: jiff::Timestamp = at.parse().unwrap();
    t.to_zoned(jiff::tz::TimeZone::get(tz).unwrap())
        .strftime("%H:%M")
        .to_string()
}

#[tokio::test]
async fn a_sign_in_sheet_holds_each_check_in_and_out_in_the_center_time_zone() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let tz = "Pacific/Auckland";
    let set = app
        .call(
            Method::PATCH,
            "/api/v1/tenant",
            Some(json!({"time_zone": tz})),
            Some(&admin),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    // A guardian whose name a spreadsheet would run as a formula.
    let g = app
        .post(
            &format!("/api/v1/children/{}/guardians", r.a),
            json!({"name": "=SUM(1+1)", "relationship": "Uncle", "custody": "shared", "may_pick_up": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.text);
    let gid = g.body["id"].as_str().unwrap();
    let inn = app
        .check("in", json!({"child_id": r.a, "guardian_id": gid}), &desk)
        .await;
    assert_eq!(inn.status, StatusCode::CREATED, "{}", inn.text);
    let aunt = app
        .get(&format!("/api/v1/children/{}", r.a), Some(&admin))
        .await
        .body["authorized_pickups"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = app
        .check(
            "out",
            json!({"child_id": r.a, "pickup_id": aunt, "passphrase": "blue kite 7"}),
            &desk,
        )
        .await;
    assert_eq!(out.status, StatusCode::CREATED, "{}", out.text);
    let day = inn.body["day"].as_str().unwrap().to_owned();

    let csv = app
        .get(
            &format!("/attendance/export?from={day}&to={day}&format=csv"),
            Some(&desk),
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    let mut reader = csv::Reader::from_reader(csv.text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "{}", csv.text);
    let first: Vec<&str> = rows[0].iter().collect();
    let time_in = local(inn.body["at"].as_str().unwrap(), tz);
    assert_eq!(
        first,
        [
            day.as_str(),
            time_in.as_str(),
            tz,
            "Ava Quill",
            "Room A",
            "check_in",
            "'=SUM(1+1)",
            "Uncle",
            "Test front_desk",
            ""
        ]
        .as_slice(),
        "{}",
        csv.text
    );
    assert_eq!(&rows[1][5], "check_out");
    assert_eq!(&rows[1][6], "Aunt Quill");
    assert_eq!(&rows[1][7], "Aunt, authorized pickup");

    // The printable page, for one room; an empty room's sheet says so.
    let html = app
        .get(
            &format!(
                "/attendance/export?from={day}&to={day}&classroom={}",
                r.rooms[0]
            ),
            Some(&desk),
        )
        .await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(
        html.text.contains("Room A: ") && html.text.contains("2 entries."),
        "{}",
        html.text
    );
    let empty = app
        .get(
            &format!(
                "/attendance/export?from={day}&to={day}&classroom={}",
                r.rooms[1]
            ),
            Some(&desk),
        )
        .await;
    assert!(empty
        .text
        .contains("No check-in or check-out on these days."));

    // Each sheet handed over is an export in the chain.
    app.flush_audit().await;
    let chain = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    let exports: Vec<Value> = chain
        .iter()
        .filter(|e| e.kind == "attendance_exported")
        .map(|e| serde_json::from_str(&e.event).unwrap())
        .collect();
    assert_eq!(exports.len(), 3);
    assert_eq!(exports[0]["format"], "csv");
    assert_eq!(exports[0]["rows"], 2);
    assert_eq!(exports[1]["classroom_id"], r.rooms[0].as_str());
}

#[tokio::test]
async fn bad_ranges_other_rooms_and_other_roles_get_no_sheet() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let other = app.seed_tenant("elsewhere", "Elsewhere").await;
    let theirs = app.seed_records(&other).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let parent = app.sign_in(&t.slug, &t.parent).await;
    let form = app.get("/attendance/export", Some(&teacher)).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.text.contains("Room A") && !form.text.contains("Room B"),
        "a teacher's rooms only"
    );
    for (query, field) in [
        ("from=2026-13-01&to=2026-12-01", "from"),
        ("from=2026-12-02&to=2026-12-01", "to"),
        ("from=2026-01-01&to=2026-12-01", "to"),
        ("from=&to=2026-12-01", "from"),
    ] {
        let resp = app
            .get(
                &format!("/attendance/export?{query}&format=csv"),
                Some(&teacher),
            )
            .await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(
            resp.text.contains(&format!(r#"id="sheet-{field}-error""#)),
            "{query}: {}",
            resp.text
        );
    }
    for room in [&r.rooms[1], &theirs.rooms[0], &"nope".to_owned()] {
        let resp = app
            .get(
                &format!(
                    "/attendance/export?from=2026-12-01&to=2026-12-01&classroom={room}&format=csv"
                ),
                Some(&teacher),
            )
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{room}");
    }
    let odd = app
        .get(
            "/attendance/export?from=2026-12-01&to=2026-12-01&format=xlsx",
            Some(&teacher),
        )
        .await;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY);
    let p = app
        .get(
            "/attendance/export?from=2026-12-01&to=2026-12-01&format=csv",
            Some(&parent),
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let anon = app
        .get(
            "/attendance/export?from=2026-12-01&to=2026-12-01&format=csv",
            None,
        )
        .await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    // Nothing refused was recorded as an export.
    app.flush_audit().await;
    let chain = app.store.audit_chain(&t.scope.chain()).await.unwrap();
    assert!(!chain.iter().any(|e| e.kind == "attendance_exported"));
}

/// The CSV sheet of `day`: each row's kind, person and relationship.
async fn sheet(app: &TestApp, desk: &str, day: &str) -> Vec<(String, String, String)> {
    let csv = app
        .get(
            &format!("/attendance/export?from={day}&to={day}&format=csv"),
            Some(desk),
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text);
    let mut reader = csv::Reader::from_reader(csv.text.as_bytes());
    reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            (row[5].to_owned(), row[6].to_owned(), row[7].to_owned())
        })
        .collect()
}

/// A sign-in sheet is a record of who took the child: renaming the authorized pickup
/// afterwards, or removing them from the child's record, does not change who the day's
/// history, the sheet and the API say it was. A correction of the entry keeps the name too.
#[tokio::test]
async fn a_renamed_or_removed_pickup_keeps_the_name_past_entries_were_written_with() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let child = app
        .get(&format!("/api/v1/children/{}", r.a), Some(&admin))
        .await;
    let aunt = child.body["authorized_pickups"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let guardian = app
        .get(&format!("/api/v1/children/{}/guardians", r.a), Some(&desk))
        .await
        .body["items"][0]["id"]
        .clone();
    let inn = app
        .check(
            "in",
            json!({"child_id": r.a, "guardian_id": guardian}),
            &desk,
        )
        .await;
    assert_eq!(inn.status, StatusCode::CREATED, "{}", inn.text);
    assert_eq!(inn.body["person"]["kind"], "guardian");
    assert!(inn.body["person"]["name"].is_string(), "{}", inn.text);
    let out = app
        .check(
            "out",
            json!({"child_id": r.a, "pickup_id": aunt, "passphrase": "blue kite 7"}),
            &desk,
        )
        .await;
    assert_eq!(out.status, StatusCode::CREATED, "{}", out.text);
    assert_eq!(out.body["person"]["name"], "Aunt Quill");
    assert_eq!(out.body["person"]["relation"], "Aunt, authorized pickup");
    let day = inn.body["day"].as_str().unwrap().to_owned();
    let picked_up = (
        "check_out".to_owned(),
        "Aunt Quill".to_owned(),
        "Aunt, authorized pickup".to_owned(),
    );
    assert_eq!(sheet(&app, &desk, &day).await[1], picked_up);

    // Renamed: the next pickup is under the new name, the past one is not.
    let put = app
        .call(
            Method::PUT,
            &format!("/api/v1/children/{}/pickups/{aunt}", r.a),
            Some(json!({"name": "Marta Lind", "relation": "Neighbour"})),
            Some(&admin),
        )
        .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.text);
    assert_eq!(sheet(&app, &desk, &day).await[1], picked_up);
    let page = app.get(&format!("/children/{}", r.a), Some(&desk)).await;
    assert!(
        page.text.contains("</strong> with Aunt Quill."),
        "{}",
        page.text
    );
    assert!(!page.text.contains("with Marta Lind"));

    // A correction of the check-out's time is written under the same name.
    let corrected = app
        .post(
            &format!(
                "/api/v1/attendance/{}/correction",
                out.body["id"].as_str().unwrap()
            ),
            json!({"child_id": r.a, "time": "00:00", "reason": "Entered late"}),
            Some(&admin),
        )
        .await;
    assert_eq!(corrected.status, StatusCode::CREATED, "{}", corrected.text);
    assert_eq!(corrected.body["person"]["name"], "Aunt Quill");

    // Removed from the record: the sheet still says who took the child.
    let removed = app
        .call(
            Method::DELETE,
            &format!("/api/v1/children/{}/pickups/{aunt}", r.a),
            None,
            Some(&admin),
        )
        .await;
    assert!(removed.status.is_success(), "{}", removed.text);
    let rows = sheet(&app, &desk, &day).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows[1..].iter().all(|r| r.1 == "Aunt Quill"), "{rows:?}");
    let listed = app
        .get(&format!("/api/v1/attendance?day={day}"), Some(&desk))
        .await;
    assert!(!listed.text.contains("(removed from the record)"));
}
