//! The shapes of success answers. A handler returns one of these wrappers around a typed body
//! that derives `ToSchema`, so the body it sends and the schema the OpenAPI document declares
//! come from the same struct.
//!
//! Bodies that used to be `json!` literals list their fields in alphabetical order: that is the
//! order `serde_json`'s map wrote them in, and keeping it keeps every answer byte-for-byte the
//! same.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::{json_body, with_cookie};

/// `200` with `T` as JSON.
pub struct Reply<T>(pub T);

/// `201 Created` with `T` as JSON.
pub struct Created<T>(pub T);

/// `202 Accepted` with `T` as JSON: queued, the work follows.
pub struct Accepted<T>(pub T);

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        json_body(&self.0)
    }
}

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        with_status(StatusCode::CREATED, json_body(&self.0))
    }
}

impl<T: Serialize> IntoResponse for Accepted<T> {
    fn into_response(self) -> Response {
        with_status(StatusCode::ACCEPTED, json_body(&self.0))
    }
}

/// A failed serialization is already a 500 and keeps it.
fn with_status(status: StatusCode, mut resp: Response) -> Response {
    if resp.status().is_success() {
        *resp.status_mut() = status;
    }
    resp
}

/// An answer that also sets (or clears) the session cookie, when there is one to set.
pub struct WithCookie<T>(pub Option<HeaderValue>, pub T);

impl<T: IntoResponse> IntoResponse for WithCookie<T> {
    fn into_response(self) -> Response {
        let resp = self.1.into_response();
        match self.0 {
            Some(cookie) => with_cookie(resp, cookie),
            None => resp,
        }
    }
}

/// `204 No Content`.
pub struct NoContent;

impl IntoResponse for NoContent {
    fn into_response(self) -> Response {
        StatusCode::NO_CONTENT.into_response()
    }
}

/// A list: `{"items": [...], "next_cursor": "..." | null}`. Pass `?cursor=<next_cursor>` for
/// the next page; `null` means this is the last.
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The whole list, on one page.
    pub fn all(items: Vec<T>) -> Self {
        Page {
            items,
            next_cursor: None,
        }
    }
}

/// `{"status": "ok"}` from `/healthz`, `{"status": "ready"}` from `/readyz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}
