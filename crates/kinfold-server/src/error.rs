//! Errors to responses.
//!
//! The layering rule: domain crates return typed errors (`CoreError`), and core's one table
//! (`CoreError::kind`) gives each its status and stable snake_case code; the HTTP layer's own
//! refusals (a malformed body, a cross-site post, a timeout) have theirs in [`Refusal::kind`].
//! This module only turns the number into a status line and writes the body. Every error body is
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
    /// post): its status and code come from [`Refusal`]'s table, not from the domain's.
    Refused {
        refusal: Refusal,
        message: String,
    },
}

/// The HTTP layer's own refusals, answered before or instead of any service: each with its one
/// status and stable code, in [`Refusal::kind`]. Domain errors take theirs from core's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    BadRequest,
    /// A body that is not JSON at all (a JSON body that does not fit is `InvalidInput`).
    InvalidJson,
    Unauthenticated,
    Forbidden,
    CrossSiteRequest,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    InvalidInput,
    Throttled,
    /// The request took longer than `request_timeout`.
    Timeout,
    /// `/readyz`: migrations pending or the database out of reach.
    NotReady,
    Unavailable,
}

impl Refusal {
    pub const fn kind(self) -> ErrorKind {
        match self {
            Self::BadRequest => ErrorKind::new(400, "bad_request"),
            Self::InvalidJson => ErrorKind::new(400, "invalid_json"),
            Self::Unauthenticated => ErrorKind::UNAUTHENTICATED,
            Self::Forbidden => ErrorKind::FORBIDDEN,
            Self::CrossSiteRequest => ErrorKind::new(403, "cross_site_request"),
            Self::NotFound => ErrorKind::NOT_FOUND,
            Self::MethodNotAllowed => ErrorKind::new(405, "method_not_allowed"),
            Self::PayloadTooLarge => ErrorKind::new(413, "payload_too_large"),
            Self::UnsupportedMediaType => ErrorKind::new(415, "unsupported_media_type"),
            Self::InvalidInput => ErrorKind::INVALID_INPUT,
            Self::Throttled => ErrorKind::THROTTLED,
            Self::Timeout => ErrorKind::new(503, "timeout"),
            Self::NotReady => ErrorKind::new(503, "not_ready"),
            Self::Unavailable => ErrorKind::UNAVAILABLE,
        }
    }

    /// The refusal a bare status stands for: a response that left the router without a body
    /// of ours (405 from routing, 413 from the body limit), or an extractor's rejection. A 408
    /// is a `timeout` too.
    pub fn of_status(status: StatusCode) -> Option<Self> {
        Some(match status {
            StatusCode::BAD_REQUEST => Self::BadRequest,
            StatusCode::UNAUTHORIZED => Self::Unauthenticated,
            StatusCode::FORBIDDEN => Self::Forbidden,
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::REQUEST_TIMEOUT => Self::Timeout,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => Self::InvalidInput,
            StatusCode::TOO_MANY_REQUESTS => Self::Throttled,
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable,
            _ => return None,
        })
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError::Core(e)
    }
}

/// What the client reads of an internal error, API and console alike.
pub const INTERNAL_MESSAGE: &str = "an internal error occurred; it has been logged";

impl ApiError {
    /// A refusal of the HTTP layer ([`Refusal`]): its status and code from that one table.
    pub fn refused(refusal: Refusal, message: impl Into<String>) -> Self {
        ApiError::Refused {
            refusal,
            message: message.into(),
        }
    }

    /// The status and code: core's table for domain errors.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Refused { refusal, .. } => refusal.kind(),
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
            ApiError::Refused { message, .. } => message.clone(),
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
            ApiError::Refused { refusal, .. } if refusal.kind().status == 503 => {
                Some(kinfold_core::error::UNAVAILABLE_RETRY_SECS)
            }
            ApiError::Refused { .. } => None,
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
    match Refusal::of_status(status) {
        Some(r) => r.kind().code,
        None if status.is_server_error() => ErrorKind::INTERNAL.code,
        None => "error",
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

    /// Each refusal has a code of its own; the refusal a bare status stands for has that
    /// status; every 503 says when to come back.
    #[test]
    fn each_refusal_has_one_status_and_code() {
        // Every refusal: those a bare status stands for, and the four finer than their status.
        let statuses = [400, 401, 403, 404, 405, 413, 415, 422, 429, 503];
        let mut all = vec![
            Refusal::InvalidJson,
            Refusal::CrossSiteRequest,
            Refusal::Timeout,
            Refusal::NotReady,
        ];
        for status in statuses {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
            let r = Refusal::of_status(status);
            assert_eq!(r.map(|r| r.kind().status), Some(status.as_u16()));
            assert_eq!(r.map(|r| r.kind().code), Some(code_for_status(status)));
            all.extend(r);
        }
        let mut codes = std::collections::HashSet::new();
        for r in all {
            assert!(codes.insert(r.kind().code), "{r:?} repeats a code");
            let resp = ApiError::refused(r, "m").into_response();
            assert_eq!(resp.status().as_u16(), r.kind().status, "{r:?}");
            assert_eq!(
                resp.headers().contains_key(header::RETRY_AFTER),
                r.kind().status == 503,
                "{r:?}"
            );
        }
        assert_eq!(codes.len(), 14);
        assert_eq!(code_for_status(StatusCode::BAD_GATEWAY), "internal");
        assert_eq!(code_for_status(StatusCode::IM_A_TEAPOT), "error");
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
