//! Password reset: ask for a link by email, then set a new password with it. The first step
//! answers the same for every address (see `kinfold_core::auth::password_reset`).

use axum::extract::State;
use kinfold_crypto::password::Password;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::reply::{Accepted, Reply};
use crate::error::ErrorBody;
use crate::extract::{Client, Json};
use crate::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    /// The center's slug.
    tenant: String,
    email: String,
}

/// What step one always answers.
pub const SENT_IF_KNOWN: &str =
    "If this address belongs to an account of this center, a reset link is on its way.";

#[utoipa::path(operation_id = "password_reset_request", post, path = "/api/v1/password-reset", tag = "account", security(()), request_body = RequestBody, responses((status = 202, description = "`{\"status\": \"sent_if_known\", \"message\"}`, the same for every address", body = ResetRequested), (status = 422, description = "malformed tenant or email; `field` names it", body = ErrorBody), (status = 429, description = "throttled", body = ErrorBody)))]
pub async fn request(
    State(st): State<AppState>,
    client: Client,
    Json(b): Json<RequestBody>,
) -> Result<Accepted<ResetRequested>, ApiError> {
    st.core
        .auth()
        .request_password_reset(&b.tenant, &b.email, client.info())
        .await?;
    Ok(Accepted(ResetRequested {
        message: SENT_IF_KNOWN,
        status: "sent_if_known",
    }))
}

/// The same answer for every address, known or not.
#[derive(Serialize, ToSchema)]
pub struct ResetRequested {
    pub message: &'static str,
    /// Always `sent_if_known`.
    pub status: &'static str,
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// The token from the emailed link.
    token: String,
    password: String,
}

#[utoipa::path(operation_id = "password_reset_confirm", post, path = "/api/v1/password-reset/confirm", tag = "account", security(()), request_body = ConfirmBody, responses((status = 200, description = "`{\"password_changed\": true, \"sessions_ended\"}`; sign in again, with the second factor if the account has one", body = PasswordReset), (status = 400, description = "invalid_reset_link", body = ErrorBody), (status = 422, description = "weak_password; the link still works", body = ErrorBody)))]
pub async fn confirm(
    State(st): State<AppState>,
    client: Client,
    Json(b): Json<ConfirmBody>,
) -> Result<Reply<PasswordReset>, ApiError> {
    let ended = st
        .core
        .auth()
        .complete_password_reset(&b.token, Password::new(b.password), client.info())
        .await?;
    Ok(Reply(PasswordReset {
        password_changed: true,
        sessions_ended: ended,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct PasswordReset {
    /// Always `true`.
    pub password_changed: bool,
    /// How many sessions of the account were ended.
    pub sessions_ended: usize,
}
