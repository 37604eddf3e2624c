//! Errors to responses.
//!
//! The layering rule: domain crates return typed errors (`CoreError`), and core's one table
//! (`CoreError::kind`) gives each its status and stable snake_case code; this module only turns
//! the number into a status line and writes the body. Every error body is
//! `{"error": {"code": "...", "field": "...", "message": "..."}}` (`field` on input errors only).
//!
//! Internal detail (storage, crypto) never reaches the client: the response carries the error as
//! a [`Failure`], and the edge middleware logs it once, with the request's ID
//! (`middleware::errors::finish`). API errors and console error pages go the same way, through
//! [`ApiError::finish`].

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kinfold_core::{CoreError, ErrorKind};
use serde::Serialize;

#[derive(Debug)]
pub enum ApiError {
    Core(CoreError),
    /// A request the HTTP layer refuses before any service runs (a malformed body, a cross-site
    /// post): its status comes from the HTTP layer, not from the domain table.
    Http {
        kind: ErrorKind,
        message: String,
    },
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError::Core(e)
    }
}

/// What the client reads of an internal error, API and console alike.
pub const INTERNAL_MESSAGE: &str = "an internal error occurred; it has been logged";

impl ApiError {
    /// A refusal of the HTTP layer under the code the one table gives its status
    /// ([`code_for_status`]): `400 bad_request`, `404 not_found`, `422 invalid_input`, ...
    pub fn of_status(status: StatusCode, message: impl Into<String>) -> Self {
        Self::http(status, code_for_status(status), message)
    }

    /// A refusal of the HTTP layer with a code of its own, more precise than its status's
    /// (`cross_site_request`, `invalid_json`, `not_ready`, `timeout`).
    pub fn http(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Http {
            kind: ErrorKind {
                status: status.as_u16(),
                code,
            },
            message: message.into(),
        }
    }

    /// The status and code: core's table for domain errors.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Http { kind, .. } => *kind,
            ApiError::Core(e) => e.kind(),
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.kind().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn code(&self) -> &'static str {
        self.kind().code
    }

    pub fn is_internal(&self) -> bool {
        matches!(self, ApiError::Core(e) if e.is_internal())
    }

    /// Whether this is the stale-record refusal: a change made from a record changed since.
    pub fn is_stale(&self) -> bool {
        matches!(self, ApiError::Core(e) if e.is_stale())
    }

    /// The message the client sees.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Http { message, .. } => message.clone(),
            ApiError::Core(e) if e.is_internal() => INTERNAL_MESSAGE.into(),
            ApiError::Core(e) => e.to_string(),
        }
    }

    /// What is wrong with the field [`field`](Self::field) names, without its name: the line
    /// a form shows beside that field.
    pub fn field_message(&self) -> String {
        match self {
            ApiError::Core(CoreError::Invalid { message, .. }) => message.clone(),
            _ => self.public_message(),
        }
    }

    pub fn field(&self) -> Option<&'static str> {
        match self {
            ApiError::Core(CoreError::Invalid { field, .. }) => Some(field),
            ApiError::Core(CoreError::WeakPassword(_)) => Some("password"),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Core(e) => e.retry_after_secs(),
            // Every 503 says when to come back (O1), whichever layer answers it.
            ApiError::Http { kind, .. } if kind.status == 503 => {
                Some(kinfold_core::error::UNAVAILABLE_RETRY_SECS)
            }
            ApiError::Http { .. } => None,
        }
    }

    /// Finishes a response made for this error, a JSON body or a console page: `Retry-After`
    /// when the client should wait, and an internal error handed on as a [`Failure`] for the
    /// edge to log with the request's ID. The one way out for every error.
    pub fn finish(self, resp: &mut Response) {
        if let Some(secs) = self.retry_after() {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if let ApiError::Core(e) = self {
            if e.is_logged() {
                resp.extensions_mut().insert(Failure::Error(Arc::new(e)));
            }
        }
    }
}

/// A failure a response carries out of the router, logged once by the edge middleware with the
/// request's ID, then dropped. The error is kept whole, with its sources, until then.
#[derive(Clone, Debug)]
pub enum Failure {
    Error(Arc<CoreError>),
    /// A handler panicked; the panic's message.
    Panic(Arc<str>),
}

impl Failure {
    /// What the log keeps: the error and its sources, or the panic's message.
    pub fn detail(&self) -> String {
        match self {
            Failure::Error(e) => e.detail(),
            Failure::Panic(m) => format!("handler panicked: {m}"),
        }
    }
}

/// Every error: `{"error": {"code", "field"?, "message"}}`. The fields are in the order the body
/// has always had.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// Stable, snake_case: `invalid_credentials`, `not_found`, `invalid_input`, ...
    pub code: &'a str,
    /// The input field at fault, for `invalid_input` and `weak_password`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
    pub message: &'a str,
}

/// Builds the error body for a status and code.
pub fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    field: Option<&str>,
) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            field,
            message,
        },
    };
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = error_response(
            self.status(),
            self.code(),
            &self.public_message(),
            self.field(),
        );
        self.finish(&mut resp);
        resp
    }
}

/// The code for a bare status, used when a response left the router without our body (405
/// from routing, 413 from the body limit, a panic). Not a domain error: no service ran.
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_input",
        StatusCode::TOO_MANY_REQUESTS => "throttled",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_is_core_s_number() {
        for e in [
            CoreError::InvalidCredentials,
            CoreError::NotFound("child"),
            CoreError::Busy {
                retry_after_secs: 1,
            },
            CoreError::Internal("x".into()),
        ] {
            let kind = e.kind();
            let api = ApiError::from(e);
            assert_eq!(api.status().as_u16(), kind.status);
            assert_eq!(api.code(), kind.code);
        }
    }

    #[test]
    fn only_an_internal_error_is_handed_on_for_the_log() {
        let mut resp = ApiError::from(CoreError::Internal("disk".into())).into_response();
        let failure = resp.extensions_mut().remove::<Failure>();
        assert_eq!(
            failure.map(|f| f.detail()).as_deref(),
            Some("internal error: disk")
        );
        let resp = ApiError::from(CoreError::NotFound("child")).into_response();
        assert!(resp.extensions().get::<Failure>().is_none());
    }
}
