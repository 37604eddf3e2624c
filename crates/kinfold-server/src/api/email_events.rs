//! Bounce and complaint reports (E5): `POST /api/v1/email/events/{provider}`.
//!
//! - `mailgun`: Mailgun's webhook JSON, signed with its webhook signing key;
//! - `generic`: `{"event", "recipient", "message_id", "detail"}` with `Kinfold-Signature`;
//! - `raw`: a DSN or ARF message (`message/rfc822`) with `Kinfold-Signature`.
//!
//! A provider without a configured key answers 404. A bad signature is 401
//! `invalid_signature`, an old one 401 `stale_signature`; a replayed request (a Mailgun token or
//! event ID, a generic signature) is acknowledged without being applied again. Replay keys are
//! kept in the store until the 5-minute freshness window has passed, so every node, and a node
//! after a restart, refuses the replay.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use kinfold_core::CoreError;
use kinfold_mail::reports::{self, ReplayKeys, Report, ReportError};
use serde_json::json;

use crate::api::openapi::ErrorBody;
use crate::{ApiError, AppState};

/// A refused report is an error, answered from core's table (`CoreError::Report`); an ignored
/// one is answered 200 with the reason.
fn refused(e: ReportError) -> Response {
    match e {
        ReportError::Ignored(reason) => axum::Json(json!({"ignored": reason})).into_response(),
        e => ApiError::from(CoreError::from(e)).into_response(),
    }
}

#[utoipa::path(operation_id = "email_events", post, path = "/api/v1/email/events/{provider}", tag = "email", params(("provider" = String, Path, description = "`mailgun`, `generic` or `raw`")), responses((status = 200, description = "`{matched}`: how many reports matched a delivery; `{duplicate: true}` for a replay; `{ignored}` for events Kinfold does not act on"), (status = 401, description = "`invalid_signature` or `stale_signature`", body = ErrorBody), (status = 404, description = "unknown provider, or no key configured for it", body = ErrorBody), (status = 422, description = "a malformed report", body = ErrorBody)))]
pub async fn receive(
    State(st): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mail = &st.core.settings().mail;
    let now_secs = st.core.now_ms() / 1000;
    let not_found = || ApiError::from(CoreError::NotFound("email event provider")).into_response();
    let (found, replay): (Vec<Report>, ReplayKeys) = match provider.as_str() {
        "mailgun" => {
            let Some(key) = &mail.mailgun_key else {
                return not_found();
            };
            match reports::mailgun(&body, key.expose(), now_secs) {
                Ok((r, replay)) => (vec![r], replay),
                Err(e) => return refused(e),
            }
        }
        "generic" | "raw" => {
            let Some(key) = &mail.webhook_secret else {
                return not_found();
            };
            let sig = headers
                .get("kinfold-signature")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let replay = match reports::check_signature(&body, sig, key.expose(), now_secs) {
                Ok((t, mac)) => ReplayKeys {
                    signed_at: t,
                    keys: vec![format!("signed:{t}:{mac}")],
                },
                Err(e) => return refused(e),
            };
            let parsed = if provider == "raw" {
                reports::raw(&body)
            } else {
                reports::generic(&body).map(|r| vec![r])
            };
            match parsed {
                Ok(r) => (r, replay),
                Err(e) => return refused(e),
            }
        }
        _ => return not_found(),
    };
    // `generic` and `raw` share one secret, so one signed request is one replay under either.
    let namespace = if provider == "mailgun" {
        "mailgun"
    } else {
        "signed"
    };
    match st.core.claim_webhook(namespace, &replay).await {
        Ok(true) => {}
        Ok(false) => return axum::Json(json!({"duplicate": true})).into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    }
    let mut matched = 0;
    for r in &found {
        match st.core.apply_report(r).await {
            Ok(true) => matched += 1,
            Ok(false) => {}
            Err(e) => {
                // Not applied: the provider's retry must not be taken for a replay.
                if let Err(forget) = st.core.release_webhook(namespace, &replay).await {
                    tracing::warn!(error = %forget, "a webhook's replay keys could not be released");
                }
                return ApiError::from(e).into_response();
            }
        }
    }
    axum::Json(json!({"matched": matched, "reports": found.len()})).into_response()
}
