use axum::extract::State;
use axum::response::{IntoResponse, Response};
use kinfold_crypto::password::Password;
use serde::Deserialize;
use serde_json::json;

use super::enrollment::offer_json;
use crate::extract::{Auth, Client, Json};
use crate::{actor_summary, ApiError, AppState};

pub async fn me(Auth(actor): Auth) -> Response {
    axum::Json(actor_summary(&actor)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    current_password: String,
    new_password: String,
}

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

pub async fn totp_begin(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Response, ApiError> {
    let offer = st.core.totp_begin(&actor).await?;
    Ok(axum::Json(offer_json(&offer)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    code: String,
}

pub async fn totp_confirm(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Json(b): Json<CodeBody>,
) -> Result<Response, ApiError> {
    let enrolled = st.core.totp_confirm(&actor, &b.code, client.info()).await?;
    Ok(axum::Json(json!({"recovery_codes": enrolled.recovery_codes})).into_response())
}
