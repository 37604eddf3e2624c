//! The signed-in user's own account: who they are, their password and their second factor.

use axum::extract::State;
use kinfold_core::auth::factors::FactorProof;
use kinfold_core::Actor;
use kinfold_crypto::password::Password;
use kinfold_model::{Role, Tenant, User, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::reply::Reply;
use crate::auth::enrollment::{offer_json, TotpOfferOut};
use crate::error::ErrorBody;
use crate::extract::{Auth, Client, Json};
use crate::{ApiError, AppState};

/// `{user, role, tenant}`, as `/api/v1/me` returns it.
#[derive(Serialize, ToSchema)]
pub struct ActorSummary {
    /// `administrator`, `teacher`, `front_desk` or `parent`.
    #[schema(value_type = String)]
    pub role: Role,
    pub tenant: TenantSummary,
    pub user: UserSummary,
}

impl ActorSummary {
    pub fn of(actor: &Actor) -> Self {
        ActorSummary {
            role: actor.role,
            tenant: TenantSummary::of(&actor.tenant),
            user: UserSummary::of(&actor.user),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserSummary {
    pub email: String,
    #[schema(value_type = String)]
    pub id: UserId,
    pub name: String,
}

impl UserSummary {
    pub fn of(u: &User) -> Self {
        UserSummary {
            email: u.email.clone(),
            id: u.id,
            name: u.name.clone(),
        }
    }
}

/// The center.
#[derive(Serialize, ToSchema)]
pub struct TenantSummary {
    pub name: String,
    pub slug: String,
}

impl TenantSummary {
    pub fn of(t: &Tenant) -> Self {
        TenantSummary {
            name: t.name.clone(),
            slug: t.slug.clone(),
        }
    }
}

#[utoipa::path(operation_id = "account_me", get, path = "/api/v1/me", tag = "account", responses((status = 200, description = "`{user: {id, email, name}, role, tenant: {slug, name}}`", body = ActorSummary), (status = 401, description = "not signed in", body = ErrorBody)))]
pub async fn me(Auth(actor): Auth) -> Reply<ActorSummary> {
    Reply(ActorSummary::of(&actor))
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    current_password: String,
    new_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct PasswordChanged {
    /// How many of your other sessions were ended.
    pub revoked_sessions: usize,
}

#[utoipa::path(operation_id = "account_change_password", post, path = "/api/v1/me/password", tag = "account", request_body = PasswordBody, responses((status = 200, description = "`{revoked_sessions}`", body = PasswordChanged), (status = 401, description = "not signed in, or `invalid_credentials`: the current password is wrong", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody), (status = 429, description = "throttled: too many wrong passwords for the account (sign-in's count); see Retry-After", body = ErrorBody)))]
pub async fn change_password(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Json(b): Json<PasswordBody>,
) -> Result<Reply<PasswordChanged>, ApiError> {
    let revoked = st
        .core
        .auth()
        .change_password(
            &actor,
            Password::new(b.current_password),
            Password::new(b.new_password),
            client.info(),
        )
        .await?;
    Ok(Reply(PasswordChanged {
        revoked_sessions: revoked,
    }))
}

#[utoipa::path(operation_id = "account_totp_begin", post, path = "/api/v1/me/mfa/totp", tag = "account", responses((status = 200, description = "`{secret, otpauth_uri, qr_svg, account}`", body = TotpOfferOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn totp_begin(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Reply<TotpOfferOut>, ApiError> {
    let offer = st.core.auth().totp_begin(&actor).await?;
    Ok(Reply(offer_json(&offer)))
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

#[utoipa::path(operation_id = "account_totp_confirm", post, path = "/api/v1/me/mfa/totp/confirm", tag = "account", request_body = TotpConfirmBody, responses((status = 200, description = "`{recovery_codes}`, shown once", body = RecoveryCodes), (status = 401, description = "not signed in, or the proof (`current_code` or `password`) is wrong", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 422, description = "the proof is missing", body = ErrorBody), (status = 429, description = "too many attempts", body = ErrorBody)))]
pub async fn totp_confirm(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Json(b): Json<TotpConfirmBody>,
) -> Result<Reply<RecoveryCodes>, ApiError> {
    let proof = match (b.current_code, b.password) {
        (Some(code), _) => FactorProof::CurrentCode(code),
        (None, Some(p)) => FactorProof::Password(Password::new(p)),
        (None, None) => FactorProof::None,
    };
    let enrolled = st
        .core
        .auth()
        .totp_confirm(&actor, &b.code, proof, client.info())
        .await?;
    Ok(Reply(RecoveryCodes {
        recovery_codes: enrolled.recovery_codes,
    }))
}

/// The new factor's recovery codes, shown once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}
