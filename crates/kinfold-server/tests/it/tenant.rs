#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The center's details: who may read and change them, field-level errors, the admin event,
//! and attendance days counted in the center's time zone.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::TestApp;

/// 2026-11-22 06:30 UTC: the 21st in Los Angeles, the 22nd in UTC and Berlin.
const EARLY_UTC_MORNING_MS: i64 = 1_795_329_000_000;

#[tokio::test]
async fn administrators_set_the_center_details_and_everyone_reads_them() {
    let app = TestApp::new().await;
    app.clock.set_ms(EARLY_UTC_MORNING_MS);
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let parent = app.sign_in(&t.slug, &t.parent).await;

    let fresh = app.get("/api/v1/tenant", Some(&parent)).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text);
    assert_eq!(fresh.body["time_zone"], "UTC");
    assert!(fresh.body["legal_name"].is_null());
    assert_eq!(
        app.get("/api/v1/tenant", None).await.status,
        StatusCode::UNAUTHORIZED
    );

    let by_teacher = app
        .call(
            Method::PATCH,
            "/api/v1/tenant",
            Some(json!({"time_zone": "Europe/Berlin"})),
            Some(&teacher),
        )
        .await;
    assert_eq!(by_teacher.status, StatusCode::FORBIDDEN);

    let long = "x".repeat(301);
    for (body, field) in [
        (json!({"time_zone": "Mars/Olympus_Mons"}), "time_zone"),
        (json!({"time_zone": ""}), "time_zone"),
        (json!({"time_zone": "../../etc/passwd"}), "time_zone"),
        (json!({"legal_name": "<script>"}), "legal_name"),
        (json!({"legal_name": ""}), "legal_name"),
        (json!({"postal_address": ""}), "postal_address"),
        (json!({"postal_address": long}), "postal_address"),
        (
            json!({"postal_address": "1 Main St\u{0}"}),
            "postal_address",
        ),
    ] {
        let r = app
            .call(
                Method::PATCH,
                "/api/v1/tenant",
                Some(body.clone()),
                Some(&admin),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.text);
    }
    let unknown = app
        .call(
            Method::PATCH,
            "/api/v1/tenant",
            Some(json!({"region": "moon"})),
            Some(&admin),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.text
    );
    let unchanged = app.get("/api/v1/tenant", Some(&admin)).await;
    assert_eq!(unchanged.body, fresh.body, "refused changes wrote nothing");

    let set = app
        .call(
            Method::PATCH,
            "/api/v1/tenant",
            Some(json!({
                "legal_name": "Maple Grove Early Learning, LLC",
                "postal_address": "1200 Example Avenue\nSpringfield, OR 97477",
                "time_zone": "America/Los_Angeles",
            })),
            Some(&admin),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    let read = app.get("/api/v1/tenant", Some(&teacher)).await;
    assert_eq!(read.body["legal_name"], "Maple Grove Early Learning, LLC");
    assert_eq!(read.body["time_zone"], "America/Los_Angeles");

    let kinds = app.audit_kinds(&t.scope).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "tenant_details_changed")
            .count(),
        1,
        "one admin event for the one change"
    );
}

#[tokio::test]
async fn attendance_days_follow_the_center_time_zone() {
    let app = TestApp::new().await;
    app.clock.set_ms(EARLY_UTC_MORNING_MS);
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let set = app
        .call(
            Method::PATCH,
            "/api/v1/tenant",
            Some(json!({"time_zone": "America/Los_Angeles"})),
            Some(&admin),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);

    let links = app
        .get(&format!("/api/v1/children/{}/guardians", r.a), Some(&desk))
        .await;
    let gid = links.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["custody"] == "full")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let checked_in = app
        .check("in", json!({"child_id": r.a, "guardian_id": gid}), &desk)
        .await;
    assert_eq!(
        checked_in.status,
        StatusCode::CREATED,
        "{}",
        checked_in.text
    );
    assert_eq!(
        checked_in.body["day"], "2026-11-21",
        "22:30 the evening before, in Los Angeles"
    );
    let roster = app.get("/api/v1/attendance", Some(&desk)).await;
    let line = roster.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["child_id"] == r.a.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        line["status"], "present",
        "today's roster is the center's today"
    );
    let utc_day = app
        .get("/api/v1/attendance?day=2026-11-22", Some(&desk))
        .await;
    let line = utc_day.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["child_id"] == r.a.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        line["status"], "absent",
        "the UTC date is another day at the center"
    );
}
