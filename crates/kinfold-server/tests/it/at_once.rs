#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]
//! The attacker's shape of a check: many requests sent at once, not one after another.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{Resp, TestApp};

/// Sends one API call to `path` per body, all at once, as `cookie`, and returns the answers
/// (in the order they came).
pub async fn at_once(
    app: &Arc<TestApp>,
    method: Method,
    path: &str,
    bodies: Vec<Value>,
    cookie: &str,
) -> Vec<Resp> {
    let mut set = tokio::task::JoinSet::new();
    for body in bodies {
        let (app, method, path, cookie) = (
            app.clone(),
            method.clone(),
            path.to_owned(),
            cookie.to_owned(),
        );
        set.spawn(async move { app.call(method, &path, Some(body), Some(&cookie)).await });
    }
    let mut answers = Vec::new();
    while let Some(a) = set.join_next().await {
        answers.push(a.unwrap());
    }
    answers
}

/// Four edits (`edit`, with `body(i)`) and four removals (`DELETE ?version=now`) of one record
/// at once, all from version `now`: asserts exactly one lands (`204`) and every other is
/// refused (`409`, or `404` once it is removed).
pub async fn edits_and_removals_at_once(
    app: &Arc<TestApp>,
    api: &str,
    edit: Method,
    body: impl Fn(usize) -> Value,
    now: i64,
    cookie: &str,
) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (app, cookie) = (app.clone(), cookie.to_owned());
        let (method, url, body) = if i % 2 == 0 {
            (edit.clone(), api.to_owned(), Some(body(i)))
        } else {
            (Method::DELETE, format!("{api}?version={now}"), None)
        };
        set.spawn(async move { app.call(method, &url, body, Some(&cookie)).await });
    }
    let mut statuses = Vec::new();
    while let Some(a) = set.join_next().await {
        statuses.push(a.unwrap().status);
    }
    let landed = statuses
        .iter()
        .filter(|s| **s == StatusCode::NO_CONTENT)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| matches!(**s, StatusCode::CONFLICT | StatusCode::NOT_FOUND))
        .count();
    assert_eq!((landed, refused), (1, 7), "{statuses:?}");
}

/// Asserts that exactly one of `answers` is `landed` and every other one `409 conflict`.
pub fn one_lands_the_rest_conflict(answers: &[Resp], landed: StatusCode) {
    let statuses: Vec<StatusCode> = answers.iter().map(|a| a.status).collect();
    let won = statuses.iter().filter(|s| **s == landed).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((won, refused), (1, answers.len() - 1), "{statuses:?}");
}

/// Asserts a console form's answer is the stale-record refusal: `409`, with the note to reload
/// shown on the page.
pub fn refused_as_stale_form(r: &Resp) {
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(
        r.text
            .contains("changed by someone else after you opened it"),
        "{}",
        r.text
    );
}

/// Asserts a console form refused as stale came back drawn from the record as it is now: its
/// `version` is `now` and the page shows `shows` (what the other change saved), so the user
/// sees the change they missed and their next save is made over it.
pub fn redrawn_as_it_is(r: &Resp, now: i64, shows: &str) {
    refused_as_stale_form(r);
    assert!(
        r.text.contains("The page now shows it as it is"),
        "{}",
        r.text
    );
    assert_eq!(r.drawn_version(), now, "{}", r.text);
    assert!(
        r.text.contains(shows),
        "{shows:?} not on the page: {}",
        r.text
    );
}

/// Asserts an API answer refuses a `version` that is not a number: `422 invalid_input`.
pub fn refused_as_garbled(r: &Resp) {
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        "{}",
        r.text
    );
}

/// Asserts an API answer is the stale-record refusal: `409` with code `conflict`.
pub fn refused_as_stale_api(r: &Resp) {
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "conflict"),
        "{}",
        r.text
    );
}
