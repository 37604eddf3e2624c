#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The OpenAPI document is OpenAPI 3.1 and describes every API route the router serves.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use kinfold_core::settings::WebhookKey;
use serde_json::{json, Value};

use crate::contract::{contract, operations, template_for};
use crate::harness::{Resp, TestApp, PASSWORD};
use crate::messages::{mailgun_event, raw_post, ready_with, states, MAILGUN_KEY, SECRET};
use crate::password_reset::{mail_to, token_in};

/// Each feature's routes, as its source declares them: (feature, `mod.rs`).
const FEATURES: [(&str, &str); 10] = [
    ("platform", include_str!("../../src/platform/mod.rs")),
    ("sessions", include_str!("../../src/sessions/mod.rs")),
    ("auth", include_str!("../../src/auth/mod.rs")),
    ("tenants", include_str!("../../src/tenants/mod.rs")),
    ("children", include_str!("../../src/children/mod.rs")),
    ("classrooms", include_str!("../../src/classrooms/mod.rs")),
    ("attendance", include_str!("../../src/attendance/mod.rs")),
    ("mail", include_str!("../../src/mail/mod.rs")),
    ("audit", include_str!("../../src/audit/mod.rs")),
    ("console", include_str!("../../src/console/mod.rs")),
];

/// Whether a path is the API's (the console's pages are not in the document).
fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || ["/healthz", "/readyz", "/csp-reports"].contains(&path)
}

/// (method, path) of every API `.route(...)` in the features' sources. The app merges exactly
/// these features' routes, so a new feature's routes cannot be left out of this list.
fn routes_in_source() -> Vec<(String, String)> {
    let app = include_str!("../../src/lib.rs");
    let merged: BTreeSet<&str> = app
        .split(".merge(")
        .skip(1)
        .filter_map(|m| m.split("::routes()").next())
        .collect();
    let listed: BTreeSet<&str> = FEATURES.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        merged, listed,
        "the app merges other features than this test reads"
    );
    let mut out = Vec::new();
    for (_, src) in FEATURES {
        let body = src.split("pub fn routes()").nth(1).unwrap();
        let body = body.split("\n}\n").next().unwrap();
        for chunk in body.split(".route(").skip(1) {
            let path = chunk.split('"').nth(1).unwrap();
            if !is_api(path) {
                continue;
            }
            let expr = chunk.split_once(path).unwrap().1;
            for m in ["get", "post", "delete", "patch", "put"] {
                if expr.contains(&format!("{m}(")) {
                    out.push((m.to_owned(), path.to_owned()));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn the_document_describes_every_route() {
    let app = TestApp::new().await;
    let r = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        r.body["openapi"]
    );
    assert_eq!(r.body["info"]["title"], "Kinfold API");
    let routes = routes_in_source();
    assert!(routes.len() >= 35, "{routes:?}");
    for (method, path) in routes {
        let op = &r.body["paths"][&path][&method];
        assert!(
            op.is_object(),
            "{method} {path} is not in the OpenAPI document"
        );
        assert!(
            op["responses"].is_object(),
            "{method} {path} has no responses"
        );
    }
    let schemas = &r.body["components"]["schemas"];
    for s in [
        "ErrorBody",
        "ChildInput",
        "ChildPatch",
        "Allergy",
        "EmergencyContact",
        "SignInBody",
    ] {
        assert!(schemas[s].is_object(), "schema {s}");
    }
    assert_eq!(
        r.body["components"]["securitySchemes"]["session"]["in"],
        "cookie"
    );
}

/// The operations answered with a success by this test's own calls.
struct Calls<'a> {
    app: &'a TestApp,
    ok: BTreeSet<(String, String)>,
}

impl Calls<'_> {
    fn note(&mut self, method: &Method, path: &str, r: &Resp) {
        let doc = &contract().doc;
        let method = method.as_str().to_ascii_lowercase();
        if let (true, Some(t)) = (
            r.status.is_success(),
            template_for(doc, &method, path.split('?').next().unwrap()),
        ) {
            self.ok.insert((method, t));
        }
    }

    async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
        cookie: &str,
    ) -> Resp {
        let cookie = Some(cookie).filter(|c| !c.is_empty());
        let r = self.app.call(method.clone(), path, body, cookie).await;
        self.note(&method, path, &r);
        assert!(
            r.status.is_success(),
            "{method} {path}: {} {}",
            r.status,
            r.text
        );
        r
    }

    async fn get(&mut self, path: &str, cookie: &str) -> Resp {
        self.call(Method::GET, path, None, cookie).await
    }

    async fn post(&mut self, path: &str, body: Value, cookie: &str) -> Resp {
        self.call(Method::POST, path, Some(body), cookie).await
    }

    async fn raw(&mut self, path: &str, body: String, signature: Option<String>) -> Resp {
        let r = self.app.send(raw_post(path, body, signature)).await;
        self.note(&Method::POST, path, &r);
        assert!(r.status.is_success(), "{path}: {} {}", r.status, r.text);
        r
    }
}

/// Every documented operation, called on a seeded center until each has answered a success;
/// `TestApp::send` checks every answer (success bodies against their declared schemas, error
/// statuses among the declared ones) on the way.
#[tokio::test]
async fn every_operation_answers_what_it_declares() {
    let m = ready_with(|mail| {
        // Few enough deliveries an hour that a message to everyone is held for release.
        mail.anomaly.ceiling = 3;
        mail.anomaly.floor = 1;
        mail.mailgun_key = Some(WebhookKey::new(MAILGUN_KEY));
        mail.webhook_secret = Some(WebhookKey::new(SECRET));
    })
    .await;
    // Ten minutes into an hour, so the messages below share one.
    const HOUR: i64 = 3_600_000;
    let now = m.app.core.now_ms();
    let t0 = (now / HOUR + 1) * HOUR + 10 * 60_000;
    m.app.advance(Duration::from_millis((t0 - now) as u64));
    let (app, t, r) = (&m.app, &m.t, &m.r);
    let mut c = Calls {
        app,
        ok: BTreeSet::new(),
    };
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let front = app.sign_in(&t.slug, &t.front_desk).await;

    // Public, and signing in: a parent's password step signs in; a staff member's asks for
    // the second factor.
    c.get("/healthz", "").await;
    c.get("/readyz", "").await;
    c.get("/api/v1/openapi.json", "").await;
    c.get("/api/v1/audit/public-key", "").await;
    c.post(
        "/csp-reports",
        json!({"csp-report": {"blocked-uri": "inline"}}),
        "",
    )
    .await;
    let parent = c
        .post(
            "/api/v1/sessions",
            json!({"tenant": t.slug, "email": t.parent.email, "password": PASSWORD}),
            "",
        )
        .await
        .cookie()
        .unwrap();
    let step = c
        .post(
            "/api/v1/sessions",
            json!({"tenant": t.slug, "email": t.teacher.email, "password": PASSWORD}),
            "",
        )
        .await;
    let code = app.fresh_code(t.teacher.totp.as_ref().unwrap());
    c.post(
        "/api/v1/sessions/mfa",
        json!({"mfa_token": step.body["mfa_token"], "code": code}),
        "",
    )
    .await;

    // Me and my sessions.
    c.get("/api/v1/me", &admin).await;
    // A second session of the administrator's, to end by its ID.
    app.sign_in(&t.slug, &t.admin).await;
    let mine = c.get("/api/v1/sessions", &admin).await;
    let other_id = mine.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.call(
        Method::DELETE,
        &format!("/api/v1/sessions/{other_id}"),
        None,
        &admin,
    )
    .await;
    let third = app.sign_in(&t.slug, &t.admin).await;
    c.call(Method::DELETE, "/api/v1/sessions/current", None, &third)
        .await;
    let offer = c.post("/api/v1/me/mfa/totp", json!({}), &parent).await;
    let secret = offer.body["secret"].as_str().unwrap().to_owned();
    c.post(
        "/api/v1/me/mfa/totp/confirm",
        json!({"code": app.fresh_code(&secret), "password": PASSWORD}),
        &parent,
    )
    .await;

    // Administrators: users, an MFA reset and the enrollment it opens, sessions, the center.
    c.get("/api/v1/users", &admin).await;
    let reset = c
        .post(
            &format!("/api/v1/users/{}/mfa/reset", t.teacher.id),
            json!({}),
            &admin,
        )
        .await;
    let url = reset.body["enrollment_url"].as_str().unwrap();
    let token = url.rsplit('/').next().unwrap().to_owned();
    let begun = c
        .post("/api/v1/enrollment/begin", json!({"token": token}), "")
        .await;
    let secret = begun.body["secret"].as_str().unwrap().to_owned();
    c.post(
        "/api/v1/enrollment/confirm",
        json!({"token": token, "code": app.fresh_code(&secret), "password": PASSWORD}),
        "",
    )
    .await;
    c.call(
        Method::DELETE,
        &format!("/api/v1/users/{}/sessions", t.teacher.id),
        None,
        &admin,
    )
    .await;
    c.get("/api/v1/access-grants", &admin).await;
    c.get("/api/v1/tenant", &admin).await;
    c.call(
        Method::PATCH,
        "/api/v1/tenant",
        Some(json!({"time_zone": "America/Chicago"})),
        &admin,
    )
    .await;

    // Records.
    let room = c
        .post("/api/v1/classrooms", json!({"name": "Room D"}), &admin)
        .await;
    let room_id = room.body["id"].as_str().unwrap().to_owned();
    c.get("/api/v1/classrooms", &admin).await;
    c.post(
        &format!("/api/v1/classrooms/{room_id}/staff"),
        json!({"user_id": t.teacher.id}),
        &admin,
    )
    .await;
    c.call(
        Method::PUT,
        &format!("/api/v1/classrooms/{room_id}"),
        Some(json!({"name": "Room D", "age_group": "preschool", "capacity": 16})),
        &admin,
    )
    .await;
    c.call(
        Method::DELETE,
        &format!("/api/v1/classrooms/{room_id}/staff/{}", t.teacher.id),
        None,
        &admin,
    )
    .await;
    let spare = c
        .post("/api/v1/classrooms", json!({"name": "Spare"}), &admin)
        .await;
    let spare = spare.body["id"].as_str().unwrap().to_owned();
    c.post(
        &format!("/api/v1/classrooms/{spare}/archive"),
        json!({}),
        &admin,
    )
    .await;
    c.post(
        &format!("/api/v1/classrooms/{room_id}/staff"),
        json!({"user_id": t.teacher.id}),
        &admin,
    )
    .await;
    c.get("/api/v1/staff", &admin).await;
    c.get("/api/v1/guardians", &admin).await;
    // People.
    let invited = c
        .post(
            "/api/v1/users",
            json!({"email": "new.teacher@maple-grove.example", "name": "New Teacher", "role": "teacher"}),
            &admin,
        )
        .await;
    let new_id = invited.body["user"]["id"].as_str().unwrap().to_owned();
    c.post(
        &format!("/api/v1/users/{new_id}/invitation"),
        json!({}),
        &admin,
    )
    .await;
    c.call(
        Method::PUT,
        &format!("/api/v1/users/{new_id}/role"),
        Some(json!({"role": "front_desk"})),
        &admin,
    )
    .await;
    c.post(
        &format!("/api/v1/users/{new_id}/deactivate"),
        json!({}),
        &admin,
    )
    .await;
    c.post(
        &format!("/api/v1/users/{new_id}/reactivate"),
        json!({}),
        &admin,
    )
    .await;
    // Staff attendance and ratios.
    c.post(
        "/api/v1/staff/clock-in",
        json!({"classroom_id": room_id}),
        &admin,
    )
    .await;
    c.get("/api/v1/ratios", &admin).await;
    c.post(
        "/api/v1/staff/clock-out",
        json!({"classroom_id": room_id}),
        &admin,
    )
    .await;
    c.get("/api/v1/ratio-table", &admin).await;
    c.call(
        Method::PUT,
        "/api/v1/ratio-table",
        Some(json!({"rows": [{"band": "toddler", "children_per_staff": 4, "max_group": 8}]})),
        &admin,
    )
    .await;
    let child = c
        .post(
            "/api/v1/children",
            json!({"given_name": "Dora", "family_name": "Quill", "date_of_birth": "2021-05-06", "classroom_id": room_id}),
            &admin,
        )
        .await;
    let child_id = child.body["id"].as_str().unwrap().to_owned();
    c.call(
        Method::PATCH,
        &format!("/api/v1/children/{child_id}"),
        Some(json!({"preferred_name": "Dee"})),
        &admin,
    )
    .await;
    c.get("/api/v1/children?limit=2", &admin).await;
    c.get(&format!("/api/v1/children/{}", r.a), &admin).await;
    c.get(&format!("/api/v1/children/{}", r.a), &parent).await;
    let guardian = c
        .post(
            &format!("/api/v1/children/{child_id}/guardians"),
            json!({"name": "Dan Quill", "relationship": "Father", "custody": "full", "may_pick_up": true}),
            &admin,
        )
        .await;
    let guardian_id = guardian.body["id"].as_str().unwrap().to_owned();
    c.get(&format!("/api/v1/children/{child_id}/guardians"), &admin)
        .await;
    c.post(
        &format!("/api/v1/children/{child_id}/pickups"),
        json!({"name": "Aunt Ro", "relation": "Aunt", "passphrase": "green kite 4"}),
        &admin,
    )
    .await;
    let visit = json!({"child_id": child_id, "guardian_id": guardian_id});
    let inn = c
        .post("/api/v1/attendance/check-in", visit.clone(), &front)
        .await;
    let entry = inn.body["id"].as_str().unwrap().to_owned();
    c.post(
        &format!("/api/v1/attendance/{entry}/correction"),
        json!({"child_id": child_id, "time": "00:00", "reason": "Came in before we opened"}),
        &front,
    )
    .await;
    c.post("/api/v1/attendance/check-out", visit, &front).await;
    c.call(
        Method::PATCH,
        &format!("/api/v1/children/{child_id}/guardians/{guardian_id}"),
        Some(json!({"custody": "shared", "may_pick_up": true})),
        &admin,
    )
    .await;
    let pickups = c.get(&format!("/api/v1/children/{child_id}"), &admin).await;
    let pickup_id = pickups.body["authorized_pickups"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.call(
        Method::PUT,
        &format!("/api/v1/children/{child_id}/pickups/{pickup_id}"),
        Some(json!({"name": "Aunt Ro", "relation": "Aunt", "photo_id": "Passport"})),
        &admin,
    )
    .await;
    c.call(
        Method::DELETE,
        &format!("/api/v1/children/{child_id}/pickups/{pickup_id}"),
        None,
        &admin,
    )
    .await;
    c.call(
        Method::DELETE,
        &format!("/api/v1/children/{child_id}/guardians/{guardian_id}"),
        None,
        &admin,
    )
    .await;
    c.get("/api/v1/attendance", &front).await;

    // Email: a message goes out; the next one, over the hour's ceiling, is held, released;
    // the one after is held and discarded. Then a provider's signed report, its replay, and an
    // event Kinfold ignores.
    let to_room = json!({"category": "announcement", "audience": {"classroom_id": r.rooms[0]}, "subject": "Hi", "text": "x"});
    let to_all = json!({"category": "announcement", "audience": {"all": true}, "subject": "Hi", "text": "x"});
    let first = c.post("/api/v1/messages", to_room, &admin).await;
    let first_id = first.body["id"].as_str().unwrap().to_owned();
    m.settled_as(&first_id, &admin).await;
    c.get(&format!("/api/v1/messages/{first_id}"), &admin).await;
    for action in ["release", "discard"] {
        let held = c.post("/api/v1/messages", to_all.clone(), &admin).await;
        let id = held.body["id"].as_str().unwrap().to_owned();
        let status = m.settled_as(&id, &admin).await;
        assert!(states(&status).contains(&"held"), "{status}");
        c.post(
            &format!("/api/v1/messages/{id}/{action}"),
            json!({}),
            &admin,
        )
        .await;
    }
    let now_secs = app.core.now_ms() / 1000;
    let body = json!({"event": "bounce", "recipient": "nobody@families.test"}).to_string();
    let sig = kinfold_core::mail::reports::sign(body.as_bytes(), SECRET, now_secs);
    let generic = "/api/v1/email/events/generic";
    let applied = c.raw(generic, body.clone(), sig.clone()).await;
    assert_eq!(applied.body["reports"], 1, "{}", applied.text);
    let replay = c.raw(generic, body, sig).await;
    assert_eq!(replay.body["duplicate"], true, "{}", replay.text);
    let opened = mailgun_event(
        "opened",
        "",
        "gran@families.test",
        "x@y",
        now_secs,
        MAILGUN_KEY,
    );
    let ignored = c.raw("/api/v1/email/events/mailgun", opened, None).await;
    assert!(ignored.body["ignored"].is_string(), "{}", ignored.text);

    // The audit trail, read last so it holds all of the above.
    app.flush_audit().await;
    c.get("/api/v1/audit?limit=50", &admin).await;
    c.get("/api/v1/audit/checkpoints", &admin).await;
    c.get("/api/v1/audit/api-access", &admin).await;

    // A password reset, by the emailed link; and a password change, which ends the sessions
    // used above.
    c.post(
        "/api/v1/password-reset",
        json!({"tenant": t.slug, "email": t.front_desk.email}),
        "",
    )
    .await;
    let mut token = None;
    for _ in 0..100 {
        if let Some(raw) = mail_to(&m, &t.front_desk.email, "Reset your Kinfold password").first() {
            token = Some(token_in(raw));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = token.expect("a reset link is emailed");
    c.post(
        "/api/v1/password-reset/confirm",
        json!({"token": token, "password": "juniper-lantern-harbor-93"}),
        "",
    )
    .await;
    c.post(
        "/api/v1/me/password",
        json!({"current_password": PASSWORD, "new_password": "juniper-lantern-harbor-93"}),
        &admin,
    )
    .await;

    let missing: Vec<_> = operations(&contract().doc)
        .into_iter()
        .filter(|op| !c.ok.contains(op))
        .collect();
    assert!(missing.is_empty(), "never answered a success: {missing:?}");
}
