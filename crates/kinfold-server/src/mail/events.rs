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
use kinfold_core::mail::reports::{self, ReplayKeys, Report, ReportError};
use kinfold_core::CoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::reply::Reply;
use crate::error::ErrorBody;
use crate::{ApiError, AppState};

/// What became of a provider's request.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum EventsAnswer {
    /// Applied.
    Applied {
        /// How many of the reports matched a delivery.
        matched: usize,
        /// How many reports the request held.
        reports: usize,
    },
    /// A replay, acknowledged without being applied again.
    Duplicate {
        /// Always `true`.
        duplicate: bool,
    },
    /// A genuine event Kinfold does not act on (an open, a click...), and why.
    Ignored { ignored: String },
}

/// A refused report is an error; an ignored one is answered 200 with the reason.
fn refused(e: ReportError) -> Result<Reply<EventsAnswer>, ApiError> {
    match e {
        ReportError::Ignored(ignored) => Ok(Reply(EventsAnswer::Ignored { ignored })),
        e => Err(CoreError::from(e).into()),
    }
}

#[utoipa::path(operation_id = "email_events", post, path = "/api/v1/email/events/{provider}", tag = "email", security(()), params(("provider" = String, Path, description = "`mailgun`, `generic` or `raw`")), request_body(content = String, description = "the provider's report, signed", content_type = "application/json"), responses((status = 200, description = "`{matched, reports}`: how many reports matched a delivery; `{duplicate: true}` for a replay; `{ignored}` for events Kinfold does not act on", body = EventsAnswer), (status = 401, description = "`invalid_signature` or `stale_signature`", body = ErrorBody), (status = 404, description = "unknown provider, or no key configured for it", body = ErrorBody), (status = 422, description = "a malformed report", body = ErrorBody)))]
pub async fn receive(
    State(st): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply<EventsAnswer>, ApiError> {
    let mail = &st.core.settings().mail;
    let now_secs = st.core.now_ms() / 1000;
    let not_found = || Err(CoreError::NotFound("email event provider").into());
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
    if !st.core.mail().claim_webhook(namespace, &replay).await? {
        return Ok(Reply(EventsAnswer::Duplicate { duplicate: true }));
    }
    let mut matched = 0;
    for r in &found {
        match st.core.mail().apply_report(r).await {
            Ok(true) => matched += 1,
            Ok(false) => {}
            Err(e) => {
                // Not applied: the provider's retry must not be taken for a replay.
                if let Err(forget) = st.core.mail().release_webhook(namespace, &replay).await {
                    tracing::warn!(error = %forget, "a webhook's replay keys could not be released");
                }
                return Err(e.into());
            }
        }
    }
    Ok(Reply(EventsAnswer::Applied {
        matched,
        reports: found.len(),
    }))
}
