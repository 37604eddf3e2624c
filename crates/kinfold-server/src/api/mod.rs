//! What every API handler shares: the typed replies, the OpenAPI document, session cookies,
//! timestamps and JSON bodies. The handlers live with their feature (`crate::children`, ...).

pub mod openapi;
pub mod reply;

use axum::http::{header, HeaderValue};
use axum::response::Response;

use crate::error::Refusal;
use crate::ApiError;

pub use crate::auth::enrollment::qr_svg;
pub use crate::children::body::view_json;
pub use crate::sessions::api::cookie_for;

pub async fn not_found() -> ApiError {
    ApiError::refused(Refusal::NotFound, "no such resource")
}

/// `Set-Cookie` for a new session: `HttpOnly`, `SameSite=Lax`, `Path=/`, and over HTTPS
/// `Secure` with the `__Host-` prefix.
pub fn session_cookie(token: &str, https: bool, max_age_secs: i64) -> HeaderValue {
    let name = crate::extract::cookie_name(https);
    let secure = if https { "; Secure" } else { "" };
    let v =
        format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear_cookie(https: bool) -> HeaderValue {
    session_cookie("", https, 0)
}

pub fn with_cookie(mut resp: Response, cookie: HeaderValue) -> Response {
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    resp
}

pub use kinfold_core::auth::rfc3339_ms as rfc3339;

pub fn parse_rfc3339(field: &'static str, s: &str) -> Result<i64, ApiError> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
        .map_err(|_| {
            kinfold_core::CoreError::invalid(field, "must be an RFC 3339 timestamp").into()
        })
}

/// A JSON body serialized into a buffer sized for a typical record, in one allocation, instead
/// of `axum::Json`'s small buffer that grows as it writes. For the hottest reads.
pub fn json_body<T: serde::Serialize>(value: &T) -> Response {
    let mut buf = Vec::with_capacity(1024);
    match serde_json::to_writer(&mut buf, value) {
        Ok(()) => {
            // Room for the security headers the edge middleware adds: one allocation.
            let mut headers = axum::http::HeaderMap::with_capacity(16);
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let mut resp = Response::new(axum::body::Body::from(buf));
            *resp.headers_mut() = headers;
            resp
        }
        // An internal error like any other: answered `500 internal`, and logged once, with
        // the request's ID, by the edge.
        Err(e) => axum::response::IntoResponse::into_response(ApiError::from(
            kinfold_core::CoreError::Internal(format!("a response could not be serialized: {e}")),
        )),
    }
}
