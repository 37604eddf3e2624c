#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! CSRF (Origin / Sec-Fetch-Site) and hostile input on every endpoint: no 5xx, clear codes.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::json;

use crate::harness::{TestApp, PASSWORD};

fn sign_in_req(
    origin: Option<&str>,
    fetch_site: Option<&str>,
    body: &serde_json::Value,
) -> Request<Body> {
    let mut r = TestApp::req(Method::POST, "/api/v1/sessions", Some(body.clone()), None);
    if let Some(o) = origin {
        r.headers_mut().insert("origin", o.parse().unwrap());
    }
    if let Some(s) = fetch_site {
        r.headers_mut().insert("sec-fetch-site", s.parse().unwrap());
    }
    r
}

#[tokio::test]
async fn cross_site_state_changes_are_refused() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let body = json!({"tenant": t.slug, "email": t.parent.email, "password": PASSWORD});
    for (origin, site, expected) in [
        (Some("https://evil.example"), None, StatusCode::FORBIDDEN),
        (Some("null"), None, StatusCode::FORBIDDEN),
        (Some("http://127.0.0.1:8081"), None, StatusCode::FORBIDDEN),
        (None, Some("cross-site"), StatusCode::FORBIDDEN),
        (
            Some("http://127.0.0.1:8080"),
            Some("same-origin"),
            StatusCode::OK,
        ),
        (None, Some("same-origin"), StatusCode::OK),
        (None, None, StatusCode::OK),
    ] {
        let r = app.send(sign_in_req(origin, site, &body)).await;
        assert_eq!(
            r.status, expected,
            "origin {origin:?} site {site:?}: {}",
            r.text
        );
        if expected == StatusCode::FORBIDDEN {
            assert_eq!(r.code(), "cross_site_request");
        }
    }
    // Logout by a cross-site form is refused too, and the session survives.
    let cookie = app.sign_in(&t.slug, &t.parent).await;
    let mut r = TestApp::req(
        Method::DELETE,
        "/api/v1/sessions/current",
        None,
        Some(&cookie),
    );
    r.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(app.send(r).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/me", Some(&cookie)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn malformed_bodies_get_clear_errors_on_every_json_endpoint() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let cookie = app.sign_in(&t.slug, &t.parent).await;
    let endpoints = [
        "/api/v1/sessions",
        "/api/v1/sessions/mfa",
        "/api/v1/me/password",
        "/api/v1/me/mfa/totp/confirm",
        "/api/v1/enrollment/begin",
        "/api/v1/enrollment/confirm",
    ];
    let bodies: [(&str, &str); 7] = [
        ("application/json", "{"),
        ("application/json", "null"),
        ("application/json", "[1,2,3]"),
        ("application/json", "{\"unknown_field\": 1}"),
        ("application/json", "\u{0}\u{1}\u{2}"),
        ("text/plain", "{}"),
        ("application/json", "{\"a\":{\"b\":{\"c\":{\"d\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}}}"),
    ];
    for path in endpoints {
        for (ctype, body) in bodies {
            let req = Request::builder()
                .method(Method::POST)
                .uri(path)
                .header("host", "127.0.0.1:8080")
                .header(header::CONTENT_TYPE, ctype)
                .header(header::COOKIE, &cookie)
                .body(Body::from(body))
                .unwrap();
            let r = app.send(req).await;
            assert!(
                r.status.is_client_error(),
                "{path} {body:?}: {} {}",
                r.status,
                r.text
            );
            assert!(
                r.body["error"]["code"].is_string() && r.body["error"]["message"].is_string(),
                "{path}: {}",
                r.text
            );
        }
    }
}

#[tokio::test]
async fn hostile_paths_and_queries_never_500() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let admin = app.sign_in(&t.slug, &t.admin).await;
    let paths = [
        "/api/v1/audit?category=bogus",
        "/api/v1/audit?since=yesterday",
        "/api/v1/audit?cursor=%%%%",
        "/api/v1/audit?cursor=c2VxOi0x",
        "/api/v1/audit?limit=-5",
        "/api/v1/audit?limit=99999999999",
        "/api/v1/audit?nope=1",
        "/api/v1/users/..%2F..%2Fetc%2Fpasswd/sessions",
        "/api/v1/sessions/%00",
        "/enroll/%F0%9F%92%A9",
        "/api/v1/../../etc/passwd",
    ];
    for p in paths {
        for m in [Method::GET, Method::DELETE, Method::POST] {
            let r = app.call(m.clone(), p, None, Some(&admin)).await;
            assert!(
                !r.status.is_server_error(),
                "{m} {p}: {} {}",
                r.status,
                r.text
            );
        }
    }
}
