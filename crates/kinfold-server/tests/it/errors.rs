#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! An internal error, from the API or a console page, is logged exactly once, with the request's
//! ID, which the answer names in `X-Request-Id` (and the console page in its text), while the
//! client sees only the stable code.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;

use crate::harness::TestApp;

/// The formatted log lines of the test's thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn lines_with(&self, needle: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

// One thread (the default test runtime), so the thread's subscriber sees the handlers' events.
#[tokio::test]
async fn an_internal_error_is_logged_once_with_the_request_id_from_the_api_and_the_console() {
    let app = TestApp::new().await;
    let t = app.seed().await;
    let cookie = app.sign_in(&t.slug, &t.parent).await;
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // The database goes away under signed-in requests (the session is still in the 1 s cache,
    // so the handlers' own queries are what fail).
    app.store.close().await;

    let page = app.get("/account/sessions", Some(&cookie)).await;
    assert_eq!(
        page.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        page.text
    );
    let page_id = page.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        page.headers[axum::http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "a console page, not JSON"
    );
    assert!(
        page.text.contains("(internal)"),
        "the stable code: {}",
        page.text
    );
    assert!(page.text.contains(&page_id), "the request ID to quote");
    assert!(!page.text.contains("storage"), "no detail for the reader");
    let logged = logs.lines_with(&page_id);
    assert_eq!(logged.len(), 1, "logged exactly once: {logged:?}");
    assert!(logged[0].contains("storage failure"), "{}", logged[0]);
    let r = app.get("/api/v1/sessions", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text);
    assert_eq!(r.code(), "internal");
    let api_id = r.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(api_id.len(), 16, "{api_id}");
    assert_ne!(page_id, api_id, "one ID per request");
    let logged = logs.lines_with(&api_id);
    assert_eq!(logged.len(), 1, "logged exactly once: {logged:?}");
    assert!(
        logged[0].contains("request failed") && logged[0].contains("storage failure"),
        "the error and its source: {}",
        logged[0]
    );
    assert!(!r.text.contains("storage"), "no detail for the client");

    assert_eq!(
        logs.lines_with("request failed").len(),
        2,
        "one line for each failed request"
    );

    // A refusal that is not internal is not logged as a failure.
    let r = app.get("/api/v1/me", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(!r.headers.contains_key("x-request-id"));
    assert_eq!(logs.lines_with("request failed").len(), 2);
}

/// A request that runs past its time answers a clean `503 timeout` that says when to come back
/// (`Retry-After`), as every other 503 a request gets does (issue 15, O1). The request is a
/// sign-in, which spends an argon2id verification whatever the account (unknown ones too):
/// milliseconds, always past a zero timeout. (A quick read could answer before the timer's
/// next tick, and did once `/readyz` took one connection instead of two.)
#[tokio::test]
async fn a_request_past_its_time_answers_503_with_retry_after() {
    let app = TestApp::with(|_, w| w.request_timeout = std::time::Duration::ZERO).await;
    let sign_in = serde_json::json!({"tenant": "nowhere", "email": "someone@example.org", "password": "not-the-password-1"});
    let r = app.post("/api/v1/sessions", sign_in, None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.code(), "timeout");
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
}

/// `/readyz` on its unhappy path: a node whose database lacks a migration of the running build
/// (another node's older release, a restore from before an upgrade) answers `503 not_ready`
/// with `Retry-After`, as every 503 does (O1), and ready again once the migration is recorded.
#[tokio::test]
async fn a_database_missing_a_migration_is_not_ready() {
    let app = TestApp::new().await;
    assert_eq!(app.get("/readyz", None).await.status, StatusCode::OK);
    let raw = app.raw().await;
    let newest = "(SELECT MAX(version) FROM _sqlx_migrations)";
    // `$1 = 'yes'`: a boolean on PostgreSQL, 0 or 1 on SQLite (a text bind is what `Raw` takes).
    assert_eq!(
        raw.execute(
            &format!("UPDATE _sqlx_migrations SET success = $1 = 'yes' WHERE version = {newest}"),
            &["no"],
        )
        .await,
        1
    );
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.code(), "not_ready");
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
    assert!(!r.text.contains("_sqlx"), "names no table: {}", r.text);
    raw.execute(
        &format!("UPDATE _sqlx_migrations SET success = $1 = 'yes' WHERE version = {newest}"),
        &["yes"],
    )
    .await;
    assert_eq!(app.get("/readyz", None).await.status, StatusCode::OK);
}
