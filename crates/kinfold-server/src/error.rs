//! One table from errors to responses.
//!
//! The layering rule: domain crates return typed errors (`CoreError`); this module maps each to
//! a status and a stable snake_case code. Every error body is
//! `{"error": {"code": "...", "message": "..."}}` (plus `"field"` for input errors). Internal
//! detail (storage, crypto) goes to the log with the request, never to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kinfold_core::CoreError;
use serde_json::json;

#[derive(Debug)]
pub enum ApiError {
    Core(CoreError),
    /// A request the HTTP layer refuses before any service runs.
    Http {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError::Core(e)
    }
}

impl ApiError {
    pub fn http(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Http {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Http { status, .. } => *status,
            ApiError::Core(e) => match e {
                CoreError::InvalidCredentials
                | CoreError::InvalidMfaToken
                | CoreError::InvalidCode
                | CoreError::Unauthenticated => StatusCode::UNAUTHORIZED,
                CoreError::MfaEnrollmentRequired | CoreError::Forbidden(_) => StatusCode::FORBIDDEN,
                CoreError::InvalidEnrollment | CoreError::InvalidResetLink => {
                    StatusCode::BAD_REQUEST
                }
                CoreError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
                CoreError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
                CoreError::NotFound(_) => StatusCode::NOT_FOUND,
                CoreError::Invalid { .. } | CoreError::WeakPassword(_) => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                CoreError::Conflict(_)
                | CoreError::WrongState(_)
                | CoreError::SendingPaused { .. } => StatusCode::CONFLICT,
                CoreError::PickupRefused(_) => StatusCode::FORBIDDEN,
                CoreError::Store(_) | CoreError::Crypto(_) | CoreError::Internal(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Http { code, .. } => code,
            ApiError::Core(e) => e.code(),
        }
    }

    /// The message the client sees.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Http { message, .. } => message.clone(),
            ApiError::Core(e) if e.is_internal() => {
                "an internal error occurred; it has been logged".into()
            }
            ApiError::Core(e) => e.to_string(),
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
            ApiError::Core(
                CoreError::Throttled { retry_after_secs } | CoreError::Busy { retry_after_secs },
            ) => Some(*retry_after_secs),
            _ => None,
        }
    }
}

/// Builds the error body for a status and code.
pub fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    field: Option<&str>,
) -> Response {
    let mut body = json!({"error": {"code": code, "message": message}});
    if let (Some(f), Some(obj)) = (field, body.get_mut("error").and_then(|e| e.as_object_mut())) {
        obj.insert("field".into(), json!(f));
    }
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Core(e) = &self {
            if e.is_internal() {
                // Display, not Debug: a database error's Debug form can carry row values (its
                // `detail`), which must never reach the log.
                let source = std::error::Error::source(e)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                tracing::error!(error = %e, source = %source, "request failed");
            }
        }
        let mut resp = error_response(
            self.status(),
            self.code(),
            &self.public_message(),
            self.field(),
        );
        if let Some(secs) = self.retry_after() {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

/// The code for a bare status, used when a response left the router without our body (405
/// from routing, 413 from the body limit, a panic).
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
