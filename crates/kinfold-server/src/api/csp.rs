//! CSP violation reports (`report-uri` and the Reporting API). Stored with limits: the body
//! limit is 16 KiB, and each client IP may send 30 a minute; beyond that reports are dropped
//! with 429.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::api::openapi::ErrorBody;
use crate::extract::Client;
use crate::{ApiError, AppState};

const MAX_REPORT: usize = 16 * 1024;

#[utoipa::path(operation_id = "csp_report", post, path = "/csp-reports", tag = "health", request_body(content = Object, description = "a CSP violation report"), responses((status = 204, description = "stored"), (status = 413, description = "over 16 KiB", body = ErrorBody), (status = 429, description = "too many reports", body = ErrorBody)))]
pub async fn report(
    State(st): State<AppState>,
    client: Client,
    body: Bytes,
) -> Result<Response, ApiError> {
    if body.len() > MAX_REPORT {
        return Err(ApiError::http(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "a report may be at most 16 KiB",
        ));
    }
    let ip = client.info().ip.clone().unwrap_or_default();
    if st.csp_limiter.check_key(&ip).is_err() {
        return Err(ApiError::http(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            "too many reports",
        ));
    }
    let parsed: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
        ApiError::http(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "a report must be JSON",
        )
    })?;
    tracing::warn!(report = %parsed, "CSP violation reported");
    st.core
        .store()
        .insert_csp_report(st.core.now_ms(), parsed.to_string())
        .await
        .map_err(kinfold_core::CoreError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
