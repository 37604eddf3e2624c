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

/// Asserts an API answer is the stale-record refusal: `409` with code `conflict`.
pub fn refused_as_stale_api(r: &Resp) {
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "conflict"),
        "{}",
        r.text
    );
}
