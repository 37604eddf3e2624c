#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! W1-W7 on every response: pages, API, 404, 405, 413, 500 and static files.

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::json;

use std::sync::Arc;

use crate::harness::TestApp;

fn assert_hardened(h: &HeaderMap, what: &str) {
    let get = |n: &str| {
        h.get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{what}: missing {n}"))
    };
    let csp = get("content-security-policy");
    for part in [
        "default-src 'self'",
        "'strict-dynamic'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'self'",
        "form-action 'self'",
        "report-uri /csp-reports",
        "report-to csp",
    ] {
        assert!(csp.contains(part), "{what}: CSP lacks {part}: {csp}");
    }
    assert!(
        csp.contains("script-src 'nonce-") && csp.contains("style-src 'self' 'nonce-"),
        "{what}: {csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert!(get("reporting-endpoints").contains("csp="));
    assert_eq!(get("x-frame-options"), "SAMEORIGIN");
    assert_eq!(get("x-content-type-options"), "nosniff");
    assert_eq!(get("referrer-policy"), "strict-origin-when-cross-origin");
    assert_eq!(
        get("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
    );
    assert_eq!(get("cross-origin-opener-policy"), "same-origin");
    assert_eq!(get("cross-origin-resource-policy"), "same-origin");
}

fn nonce(h: &HeaderMap) -> String {
    let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
    let start = csp.find("'nonce-").unwrap() + 7;
    let end = start + csp[start..].find('\'').unwrap();
    csp[start..end].to_owned()
}

#[tokio::test]
async fn every_kind_of_response_is_hardened() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let cookie = app.sign_in(&t.slug, &t.parent).await;
    let cases = [
        ("GET", "/healthz", StatusCode::OK),
        ("GET", "/readyz", StatusCode::OK),
        ("GET", "/login", StatusCode::OK),
        ("GET", "/static/app.css", StatusCode::OK),
        ("GET", "/no/such/page", StatusCode::NOT_FOUND),
        ("GET", "/api/v1/me", StatusCode::UNAUTHORIZED),
        ("PUT", "/api/v1/sessions", StatusCode::METHOD_NOT_ALLOWED),
    ];
    for (m, path, status) in cases {
        let r = app.call(m.parse().unwrap(), path, None, None).await;
        assert_eq!(r.status, status, "{m} {path}");
        assert_hardened(&r.headers, path);
        if status.is_client_error() {
            assert!(
                r.body["error"]["code"].is_string(),
                "{path}: error shape: {}",
                r.text
            );
        }
    }
    let me = app.get("/api/v1/me", Some(&cookie)).await;
    assert_hardened(&me.headers, "/api/v1/me signed in");
    assert!(
        !me.headers.contains_key("strict-transport-security"),
        "no HSTS over plain HTTP"
    );

    // 413 from the body limit.
    let big = json!({"tenant": "x".repeat(70 * 1024), "email": "a@b.c", "password": "p"});
    let r = app.post("/api/v1/sessions", big, None).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "payload_too_large");
    assert_hardened(&r.headers, "413");

    // A real 500: the database goes away under a signed-in request (the session itself is
    // still in the 1 s cache, so the handler's own query is what fails).
    app.store.close().await;
    let r = app.get("/api/v1/sessions", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.code(), "internal");
    assert!(
        !r.text.to_lowercase().contains("sqlite") && !r.text.contains("pool"),
        "no internal detail: {}",
        r.text
    );
    assert_hardened(&r.headers, "500");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_hardened(&ready.headers, "503");
}

#[tokio::test]
async fn the_nonce_is_fresh_and_128_bits() {
    let app = TestApp::new().await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let r = app.get("/login", None).await;
        let n = nonce(&r.headers);
        use base64::Engine;
        assert!(
            base64::engine::general_purpose::STANDARD
                .decode(&n)
                .unwrap()
                .len()
                >= 16
        );
        assert!(seen.insert(n), "nonce repeated");
    }
}

#[tokio::test]
async fn hsts_only_over_https() {
    let app = TestApp::new().await;
    let mut req = TestApp::req(Method::GET, "/healthz", None, None);
    req.headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let r = app.send(req).await;
    assert_eq!(
        r.headers.get("strict-transport-security").unwrap(),
        "max-age=63072000; includeSubDomains; preload"
    );

    // An untrusted peer cannot claim HTTPS.
    let strict = TestApp::with(|_, w| w.trusted_proxies.clear()).await;
    let mut req = TestApp::req(Method::GET, "/healthz", None, None);
    req.headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let r = strict.send(req).await;
    assert!(!r.headers.contains_key("strict-transport-security"));

    let tls = TestApp::with(|_, w| w.tls = true).await;
    let r = tls.get("/no-such", None).await;
    assert!(
        r.headers.contains_key("strict-transport-security"),
        "HSTS on an HTTPS 404"
    );
}

#[tokio::test]
async fn pages_use_no_inline_script_or_style() {
    let app = TestApp::new().await;
    let r = app.get("/login", None).await;
    assert!(r.text.contains("<form") && r.text.contains("name=\"password\""));
    assert!(
        !r.text.contains("<script") && !r.text.contains("style=") && !r.text.contains("<style"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn csp_reports_are_stored_with_limits() {
    let app = TestApp::new().await;
    let report = json!({"csp-report": {"document-uri": "http://127.0.0.1:8080/login", "violated-directive": "script-src"}});
    let mut req = TestApp::req(Method::POST, "/csp-reports", Some(report.clone()), None);
    req.headers_mut()
        .insert("content-type", "application/csp-report".parse().unwrap());
    assert_eq!(app.send(req).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.store.csp_report_count().await.unwrap(), 1);
    // A report from a page whose path holds a link token keeps the page, not the token.
    let from_link = json!({"csp-report": {"document-uri": "http://127.0.0.1:8080/reset/SeCrEtToKeN123?x=1", "violated-directive": "script-src"}});
    assert_eq!(
        app.post("/csp-reports", from_link, None).await.status,
        StatusCode::NO_CONTENT
    );
    let stored = app
        .raw()
        .await
        .strings("SELECT report FROM csp_reports")
        .await;
    assert!(
        stored.iter().any(|r| r.contains("/reset/REDACTED?x=1")),
        "{stored:?}"
    );
    assert!(stored.iter().all(|r| !r.contains("SeCrEtToKeN123")));
    let bad = app.call(Method::POST, "/csp-reports", None, None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let huge = json!({"csp-report": "x".repeat(20_000)});
    assert_eq!(
        app.post("/csp-reports", huge, None).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Under 16 KiB as sent, and nearly three times that once each `/u/a` is redacted: the
    // limit holds for what would be stored, and nothing is.
    let before = app.store.csp_report_count().await.unwrap();
    let growing = json!({"csp-report": {"document-uri": "/u/a".repeat(3_900)}});
    assert!(growing.to_string().len() < 16 * 1024);
    let r = app.post("/csp-reports", growing, None).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "payload_too_large");
    assert_eq!(app.store.csp_report_count().await.unwrap(), before);
    let mut limited = 0;
    for _ in 0..40 {
        if app.post("/csp-reports", report.clone(), None).await.status
            == StatusCode::TOO_MANY_REQUESTS
        {
            limited += 1;
        }
    }
    assert!(limited > 0, "reports are rate-limited per client");
    assert!(app.store.csp_report_count().await.unwrap() <= 31);
}

/// The attacker's flood: reports from many addresses, first 150 at once, then one after
/// another. Each is answered 204 or 429 (never an error); every 204 is a stored report and
/// nothing else is; and however the addresses rotate (IPv4, IPv6 networks), the node stores
/// no more than its limit a minute. Reports arriving while one is written are dropped rather
/// than queued, so the connections that sign-in counters share with them are never all taken.
#[tokio::test]
async fn a_flood_of_reports_from_many_addresses_is_held_to_the_nodes_limit() {
    let app = Arc::new(TestApp::new().await);
    let report = json!({"csp-report": {"document-uri": "http://127.0.0.1:8080/login", "violated-directive": "script-src"}});
    let started = std::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..150u32 {
        let (app, report) = (app.clone(), report.clone());
        set.spawn(async move {
            let ip = format!("198.51.100.{}", i + 1);
            app.send(TestApp::post_from("/csp-reports", report, &ip))
                .await
                .status
        });
    }
    let mut stored = 0u32;
    while let Some(status) = set.join_next().await {
        match status.unwrap() {
            StatusCode::NO_CONTENT => stored += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("a report was answered {other}"),
        }
    }
    assert!(stored >= 1, "the flood stored nothing");
    assert_eq!(
        app.store.csp_report_count().await.unwrap(),
        i64::from(stored),
        "every 204 is a stored report, and nothing else is"
    );
    for i in 0..200u32 {
        let ip = if i % 2 == 0 {
            format!("203.0.{}.{}", i / 200, i % 200 + 1)
        } else {
            format!("2001:db8:{i:x}::1")
        };
        match app
            .send(TestApp::post_from("/csp-reports", report.clone(), &ip))
            .await
            .status
        {
            StatusCode::NO_CONTENT => stored += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("a report was answered {other}"),
        }
    }
    let limit = kinfold_core::csp::PER_NODE_PER_MINUTE;
    // The node's bucket refills one report each half second while the test runs.
    let refilled = u32::try_from(started.elapsed().as_secs()).unwrap() * 2 + 2;
    assert!(
        (limit..=limit + refilled).contains(&stored),
        "{stored} stored from 350 addresses"
    );
    assert_eq!(
        app.store.csp_report_count().await.unwrap(),
        i64::from(stored)
    );
}
