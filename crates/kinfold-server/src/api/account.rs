use super::openapi::ErrorBody;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use kinfold_core::factors::FactorProof;
use kinfold_crypto::password::Password;
use serde::Deserialize;
use serde_json::json;

use super::enrollment::offer_json;
use crate::extract::{Auth, Client, Json};
use crate::{actor_summary, ApiError, AppState};

#[utoipa::path(operation_id = "account_me", get, path = "/api/v1/me", tag = "account", responses((status = 200, description = "`{user: {id, email, name}, role, tenant: {slug, name}}`"), (status = 401, description = "not signed in", body = ErrorBody)))]
pub async fn me(Auth(actor): Auth) -> Response {
    axum::Json(actor_summary(&actor)).into_response()
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    current_password: String,
    new_password: String,
}

#[utoipa::path(operation_id = "account_change_password", post, path = "/api/v1/me/password", tag = "account", request_body = PasswordBody, responses((status = 200, description = "`{revoked_sessions}`"), (status = 401, description = "not signed in", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn change_password(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Json(b): Json<PasswordBody>,
) -> Result<Response, ApiError> {
    let revoked = st
        .core
        .change_password(
            &actor,
            Password::new(b.current_password),
            Password::new(b.new_password),
            client.info(),
        )
        .await?;
    Ok(axum::Json(json!({"revoked_sessions": revoked})).into_response())
}

#[utoipa::path(operation_id = "account_totp_begin", post, path = "/api/v1/me/mfa/totp", tag = "account", responses((status = 200, description = "`{secret, otpauth_uri, qr_svg, account}`"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn totp_begin(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Response, ApiError> {
    let offer = st.core.totp_begin(&actor).await?;
    Ok(axum::Json(offer_json(&offer)).into_response())
}

/// Confirms the offered secret. Replacing a factor takes proof entered with the request:
/// `current_code` (a code of the current factor or a recovery code) when the account has one,
/// otherwise `password`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirmBody {
    code: String,
    #[serde(default)]
    current_code: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[utoipa::path(operation_id = "account_totp_confirm", post, path = "/api/v1/me/mfa/totp/confirm", tag = "account", request_body = TotpConfirmBody, responses((status = 200, description = "`{recovery_codes}`, shown once"), (status = 401, description = "not signed in, or the proof (`current_code` or `password`) is wrong", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 422, description = "the proof is missing", body = ErrorBody), (status = 429, description = "too many attempts", body = ErrorBody)))]
pub async fn totp_confirm(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Json(b): Json<TotpConfirmBody>,
) -> Result<Response, ApiError> {
    let proof = match (b.current_code, b.password) {
        (Some(code), _) => FactorProof::CurrentCode(code),
        (None, Some(p)) => FactorProof::Password(Password::new(p)),
        (None, None) => FactorProof::None,
    };
    let enrolled = st
        .core
        .totp_confirm(&actor, &b.code, proof, client.info())
        .await?;
    Ok(axum::Json(json!({"recovery_codes": enrolled.recovery_codes})).into_response())
}
