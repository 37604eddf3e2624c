//! Making every failure look the same: JSON error bodies for responses that left the router
//! without one (405, 413, ...), and a 500 for panics.

use std::any::Any;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::Response;

use crate::error::{code_for_status, error_response};
/// Replaces a non-JSON, non-HTML error body with our error shape.
pub fn with_json_body(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ctype.starts_with("application/json") || ctype.starts_with("text/html") {
        return resp;
    }
    let message = status.canonical_reason().unwrap_or("error").to_lowercase();
    let mut fresh = error_response(status, code_for_status(status), &message, None);
    for (k, v) in resp.headers() {
        if k == header::ALLOW || k == header::RETRY_AFTER {
            fresh.headers_mut().insert(k.clone(), v.clone());
        }
    }
    fresh
}

pub fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown");
    tracing::error!(panic = detail, "request handler panicked");
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "an internal error occurred; it has been logged",
        None,
    )
}
