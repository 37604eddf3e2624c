//! Making every failure look the same: JSON error bodies for responses that left the router
//! without one (405, 413, ...), a 500 for panics, and one log line, with the request's ID, for
//! each internal failure, API or console.

use std::any::Any;

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

use super::client::ClientContext;
use crate::error::{code_for_status, error_response, Failure, INTERNAL_MESSAGE};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The last step of every response that came back from the router: an internal failure it
/// carries is logged here, once, with the request's ID (which the response then names in
/// `X-Request-Id`, for a report to quote); then [`with_json_body`].
pub fn finish(mut resp: Response, client: &ClientContext) -> Response {
    let failure = resp.extensions_mut().remove::<Failure>();
    // A 500 that carries no error was made by a layer, not by a handler: logged all the same.
    let unexplained = resp.status() == StatusCode::INTERNAL_SERVER_ERROR;
    if failure.is_some() || unexplained {
        let request_id = client.request_id.to_string();
        let detail = failure.map_or_else(
            || "a 500 from a layer, with no error of ours to say why".to_owned(),
            |f| f.detail(),
        );
        tracing::error!(
            request_id = %request_id,
            status = resp.status().as_u16(),
            error = %detail,
            "request failed"
        );
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert(X_REQUEST_ID, v);
        }
    }
    with_json_body(resp)
}

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
        if k == header::ALLOW || k == header::RETRY_AFTER || k == X_REQUEST_ID {
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
    // Logged by `finish`, with the request's ID, like any other internal failure.
    let mut resp = error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        kinfold_core::error::ErrorKind::INTERNAL.code,
        INTERNAL_MESSAGE,
        None,
    );
    resp.extensions_mut()
        .insert(Failure::Panic(std::sync::Arc::from(detail)));
    resp
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// A 500 that a layer made, with no error of ours, still leaves with the request's ID (and
    /// is logged with it) and our error body, as a handler's failure does.
    #[test]
    fn a_bare_500_is_answered_and_named_like_a_handlers_failure() {
        let client = ClientContext::default();
        let mut bare = Response::new(Body::empty());
        *bare.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        let resp = finish(bare, &client);
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            resp.headers().get(X_REQUEST_ID).unwrap(),
            client.request_id.to_string().as_str()
        );
        assert!(resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        // A refusal of ours (a 503 with its own body) is not a failure: nothing to name.
        let mut busy = Response::new(Body::empty());
        *busy.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        assert!(finish(busy, &client).headers().get(X_REQUEST_ID).is_none());
    }
}
