#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The administrators' center settings page (issue 14): legal name, postal address and time
//! zone, saved through the same service as `PATCH /api/v1/tenant`, with its unhappy paths.

use axum::http::StatusCode;

use crate::at_once::{redrawn_as_it_is, refused_as_stale_api};
use crate::harness::TestApp;

#[tokio::test]
async fn an_administrator_sets_the_centers_details_and_bad_ones_are_refused() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let page = app.get("/admin/center", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("the operator's setting"),
        "{}",
        page.text
    );
    let version = page.drawn_version();

    let saved = app
        .post_form(
            "/admin/center",
            &format!("legal_name=Sunny+Days+LLC&postal_address=12+Elm+St%2C+Springfield&time_zone=America%2FChicago&version={version}"),
            &admin,
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let api = app.get("/api/v1/tenant", Some(&admin)).await;
    assert_eq!(api.body["legal_name"], "Sunny Days LLC");
    assert_eq!(api.body["time_zone"], "America/Chicago");
    let kinds = app.audit_kinds(&t.scope).await;
    assert!(kinds.iter().any(|k| k == "tenant_details_changed"));

    for (body, id) in [
        (
            "legal_name=Sunny&postal_address=x&time_zone=Mars%2FOlympus",
            "center-time-zone-error",
        ),
        (
            "legal_name=&postal_address=x&time_zone=UTC",
            "center-legal-name-error",
        ),
        (
            "legal_name=Su%E2%80%AEnny&postal_address=x&time_zone=UTC",
            "center-legal-name-error",
        ),
    ] {
        let body = format!("{body}&version={}", version + 1);
        let r = app.post_form("/admin/center", &body, &admin).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        assert!(
            r.text.contains(&format!(r#"id="{id}""#)),
            "{body}: {}",
            r.text
        );
    }
    let long = format!(
        "legal_name=Sunny&postal_address={}&time_zone=UTC&version={}",
        "a".repeat(400),
        version + 1
    );
    let r = app.post_form("/admin/center", &long, &admin).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains(r#"id="center-postal-address-error""#));
    let api = app.get("/api/v1/tenant", Some(&admin)).await;
    assert_eq!(
        api.body["time_zone"], "America/Chicago",
        "nothing was saved"
    );

    for user in [&t.teacher, &t.front_desk, &t.parent] {
        let c = app.sign_in(&t.slug, user).await;
        assert_eq!(
            app.get("/admin/center", Some(&c)).await.status,
            StatusCode::FORBIDDEN
        );
        let r = app
            .post_form(
                "/admin/center",
                "legal_name=X&postal_address=y&time_zone=UTC",
                &c,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", user.role);
    }
    let mut req = TestApp::form_req(
        "/admin/center",
        "legal_name=Forged&postal_address=y&time_zone=UTC",
        &admin,
    );
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
    let api = app.get("/api/v1/tenant", Some(&admin)).await;
    assert_eq!(api.body["legal_name"], "Sunny Days LLC");
}

#[tokio::test]
async fn home_pages_follow_the_role_and_show_backups_to_administrators() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let r = app.seed_records(&t).await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let home = app.get("/", Some(&admin)).await;
    assert!(
        home.text.contains("No backup recorded yet"),
        "{}",
        home.text
    );
    assert!(home.text.contains("0</strong> present"), "{}", home.text);

    app.core
        .record_system_event(kinfold_audit::Event::BackupCreated {
            backup_id: "20261206T070000Z-0a0b0c0d".into(),
            bytes: 1,
            tenants: 1,
        })
        .await
        .unwrap();
    app.core
        .record_system_event(kinfold_audit::Event::BackupDrill {
            backup_id: "20261206T070000Z-0a0b0c0d".into(),
            passed: false,
            millis: 5,
            tenants: 0,
            children: 0,
            audit_entries: 0,
            detail: "chunk 3 does not authenticate".into(),
        })
        .await
        .unwrap();
    let home = app.get("/", Some(&admin)).await;
    assert!(home.text.contains("Last backup") && home.text.contains("20261206T070000Z-0a0b0c0d"));
    assert!(home.text.contains("FAILED"), "{}", home.text);
    assert!(
        !home.text.contains("chunk 3"),
        "the drill's detail stays in the system chain"
    );
    // A scheduled backup that failed after the last success is on the home page, without
    // its detail (it may name the storage); a success after it clears it.
    app.core
        .record_system_event(kinfold_audit::Event::BackupFailed {
            destination: "s3://center-backups/kinfold".into(),
            detail: "connection refused by 10.0.0.7".into(),
        })
        .await
        .unwrap();
    let home = app.get("/", Some(&admin)).await;
    assert!(
        home.text.contains("scheduled backup has FAILED since"),
        "{}",
        home.text
    );
    assert!(!home.text.contains("10.0.0.7") && !home.text.contains("center-backups"));
    app.core
        .record_system_event(kinfold_audit::Event::BackupCreated {
            backup_id: "20261206T080000Z-0a0b0c0e".into(),
            bytes: 1,
            tenants: 1,
        })
        .await
        .unwrap();
    let home = app.get("/", Some(&admin)).await;
    assert!(
        !home.text.contains("scheduled backup has FAILED"),
        "{}",
        home.text
    );

    // A teacher sees their rooms' day, not the administrators' panel; a parent sees neither.
    let teacher = app.sign_in(&t.slug, &t.teacher).await;
    let home = app.get("/", Some(&teacher)).await;
    assert!(home.text.contains("rooms-today") && home.text.contains("Room A"));
    assert!(
        !home.text.contains("Room B") && !home.text.contains("backup"),
        "{}",
        home.text
    );
    // Front desk staff see every room's day.
    let desk = app.sign_in(&t.slug, &t.front_desk).await;
    let home = app.get("/", Some(&desk)).await;
    for room in ["Room A", "Room B", "Room C"] {
        assert!(
            home.text.contains("rooms-today") && home.text.contains(room),
            "{room}: {}",
            home.text
        );
    }
    let parent = app.sign_in(&t.slug, &t.parent).await;
    let home = app.get("/", Some(&parent)).await;
    assert!(!home.text.contains("rooms-today") && !home.text.contains("backup"));
    // A parent's home is their own children, each a link to the child's page; no other child.
    assert!(home.text.contains("Your children"), "{}", home.text);
    assert!(
        home.text.contains(&format!("href=\"/children/{}\"", r.a))
            && home.text.contains("Ava Quill")
    );
    assert!(!home.text.contains("Cleo Quill"), "{}", home.text);
}

/// The bar has one "Administration" link, for administrators only; its page lists the areas
/// and every other role is refused it (A1), as they are the areas themselves.
#[tokio::test]
async fn the_administration_page_leads_to_each_area_for_administrators_only() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let home = app.get("/", Some(&admin)).await;
    let bar = nav(&home.text);
    assert!(
        bar.contains(r#"<a href="/admin">Administration</a>"#),
        "{bar}"
    );
    for area in ["/admin/classrooms", "/admin/people", "/admin/audit"] {
        assert!(
            !bar.contains(&format!(r#"href="{area}""#)),
            "{area} in {bar}"
        );
    }
    let page = app.get("/admin", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    for area in [
        "/admin/classrooms",
        "/admin/people",
        "/admin/center",
        "/admin/audit",
        "/admin/email",
    ] {
        assert!(
            page.text.contains(&format!(r#"<a href="{area}">"#)),
            "{area}: {}",
            page.text
        );
        assert_eq!(
            app.get(area, Some(&admin)).await.status,
            StatusCode::OK,
            "{area}"
        );
    }
    for user in [&t.teacher, &t.front_desk, &t.parent] {
        let c = app.sign_in(&t.slug, user).await;
        let home = app.get("/", Some(&c)).await;
        assert!(
            !nav(&home.text).contains(r#"href="/admin""#),
            "{}",
            home.text
        );
        let refused = app.get("/admin", Some(&c)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
        assert!(!refused.text.contains("/admin/people"));
    }
    let anonymous = app.get("/admin", None).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
}

/// The page's main navigation bar.
fn nav(page: &str) -> &str {
    let start = page.find("<nav").unwrap();
    let end = page[start..].find("</nav>").unwrap();
    &page[start..start + end]
}

/// Two administrators with the center settings open: the second save, from the version both
/// read, is refused with a note to reload (form and API) and the first stands. Parallel API
/// changes of different fields, sent without a version, never undo one another: each change
/// answered 200 is there afterwards, and the others are 409.
#[tokio::test]
async fn a_center_settings_change_made_from_an_older_version_is_refused() {
    use axum::http::Method;
    use serde_json::json;
    let app = std::sync::Arc::new(TestApp::new().await);
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let other = app.sign_in(&t.slug, &t.admin).await;

    let page = app.get("/admin/center", Some(&other)).await;
    let version = page.drawn_version();
    let first = app
        .post_form(
            "/admin/center",
            &format!(
                "legal_name=Maple+LLC&postal_address=1+Main+St&time_zone=Europe%2FBerlin&version={version}"
            ),
            &admin,
        )
        .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.text);
    // From the page opened before, and from a form without its version: refused.
    let fields = "legal_name=Other+LLC&postal_address=2+Side+St&time_zone=UTC";
    for body in [format!("{fields}&version={version}"), fields.to_owned()] {
        let stale = app.post_form("/admin/center", &body, &other).await;
        redrawn_as_it_is(&stale, version + 1, "Maple LLC");
    }
    let api_stale = app
        .call(
            Method::PATCH,
            "/api/v1/tenant",
            Some(json!({"time_zone": "UTC", "version": version})),
            Some(&other),
        )
        .await;
    refused_as_stale_api(&api_stale);
    let now = app.get("/api/v1/tenant", Some(&admin)).await;
    assert_eq!(
        (
            now.body["legal_name"].as_str(),
            now.body["time_zone"].as_str()
        ),
        (Some("Maple LLC"), Some("Europe/Berlin"))
    );
    assert_eq!(now.body["version"].as_i64(), Some(version + 1));

    // Eight changes at once, each of one field and none with a version.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (app, admin) = (app.clone(), admin.clone());
        let body = if i % 2 == 0 {
            json!({"legal_name": format!("Maple {i} LLC")})
        } else {
            json!({"postal_address": format!("{i} Harbor Road")})
        };
        set.spawn(async move {
            let r = app
                .call(
                    Method::PATCH,
                    "/api/v1/tenant",
                    Some(body.clone()),
                    Some(&admin),
                )
                .await;
            (body, r.status, r.body["version"].as_i64())
        });
    }
    // Each change that landed, by the version it wrote.
    let mut landed = Vec::new();
    while let Some(a) = set.join_next().await {
        let (body, status, wrote) = a.unwrap();
        assert!(
            status == StatusCode::OK || status == StatusCode::CONFLICT,
            "{status}"
        );
        if status == StatusCode::OK {
            landed.push((wrote.unwrap(), body));
        }
    }
    assert!(!landed.is_empty());
    landed.sort_by_key(|(v, _)| *v);
    let after = app.get("/api/v1/tenant", Some(&admin)).await;
    // One version per change, none skipped or shared.
    let versions: Vec<i64> = landed.iter().map(|(v, _)| *v).collect();
    let want: Vec<i64> = (version + 2..).take(landed.len()).collect();
    assert_eq!(versions, want, "{landed:?}");
    assert_eq!(after.body["version"].as_i64(), want.last().copied());
    // Each field holds the last change of it that landed: none was undone by a change that
    // read the details before it.
    for field in ["legal_name", "postal_address"] {
        if let Some((_, last)) = landed.iter().rev().find(|(_, b)| b.get(field).is_some()) {
            assert_eq!(after.body[field], last[field], "{field}: {landed:?}");
        }
    }

    // Made again from the page a refusal draws, a change lands.
    let stale = app
        .post_form(
            "/admin/center",
            &format!("{fields}&version={version}"),
            &other,
        )
        .await;
    let now = after.body["version"].as_i64().unwrap();
    redrawn_as_it_is(&stale, now, after.body["legal_name"].as_str().unwrap());
    let again = app
        .post_form(
            "/admin/center",
            &format!("{fields}&version={}", stale.drawn_version()),
            &other,
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.text);
    let saved = app.get("/api/v1/tenant", Some(&admin)).await;
    assert_eq!(saved.body["legal_name"].as_str(), Some("Other LLC"));
}
