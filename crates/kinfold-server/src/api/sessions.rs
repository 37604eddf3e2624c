use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kinfold_core::auth::{NewSessionIssued, SignIn};
use kinfold_crypto::password::Password;
use kinfold_store::SessionId;
use serde::Deserialize;
use serde_json::json;

use super::{clear_cookie, rfc3339, session_cookie, with_cookie};
use crate::api::openapi::ErrorBody;
use crate::extract::{Auth, Client, Json};
use crate::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    tenant: String,
    email: String,
    password: String,
}

#[utoipa::path(operation_id = "sessions_create", post, path = "/api/v1/sessions", tag = "sessions", request_body = SignInBody, responses((status = 200, description = "`{\"mfa_required\": true, \"mfa_token\"}` for staff; a session cookie and `{\"mfa_required\": false, \"user\", \"role\", \"tenant\"}` for a parent without MFA"), (status = 401, description = "invalid_credentials", body = ErrorBody), (status = 403, description = "mfa_enrollment_required", body = ErrorBody), (status = 429, description = "throttled", body = ErrorBody), (status = 503, description = "busy", body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    client: Client,
    Json(b): Json<SignInBody>,
) -> Result<Response, ApiError> {
    match st
        .core
        .sign_in(
            &b.tenant,
            &b.email,
            Password::new(b.password),
            client.info(),
        )
        .await?
    {
        SignIn::MfaRequired { mfa_token } => Ok(axum::Json(
            json!({"mfa_required": true, "mfa_token": mfa_token.expose()}),
        )
        .into_response()),
        SignIn::SignedIn(issued) => Ok(signed_in(*issued, client.0.https, true)),
    }
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MfaBody {
    mfa_token: String,
    code: String,
}

#[utoipa::path(operation_id = "sessions_mfa", post, path = "/api/v1/sessions/mfa", tag = "sessions", request_body = MfaBody, responses((status = 200, description = "signed in: a session cookie and `{user, role, tenant}`"), (status = 401, description = "invalid_mfa_token or invalid_code", body = ErrorBody)))]
pub async fn mfa(
    State(st): State<AppState>,
    client: Client,
    Json(b): Json<MfaBody>,
) -> Result<Response, ApiError> {
    let issued = st
        .core
        .sign_in_mfa(&b.mfa_token, &b.code, client.info())
        .await?;
    Ok(signed_in(issued, client.0.https, false))
}

/// The sign-in answer with its cookie.
pub fn signed_in(issued: NewSessionIssued, https: bool, with_mfa_flag: bool) -> Response {
    let cookie = cookie_for(&issued, https);
    let mut body = json!({
        "user": {"id": issued.user.id, "email": issued.user.email, "name": issued.user.name},
        "role": issued.user.role,
        "tenant": {"slug": issued.tenant.slug, "name": issued.tenant.name},
        "session": {"id": issued.session.id, "expires_at": rfc3339(issued.session.expires_ms)},
    });
    if let (true, Some(o)) = (with_mfa_flag, body.as_object_mut()) {
        o.insert("mfa_required".into(), json!(false));
    }
    with_cookie(axum::Json(body).into_response(), cookie)
}

pub fn cookie_for(issued: &NewSessionIssued, https: bool) -> axum::http::HeaderValue {
    let max_age = (issued.session.expires_ms - issued.session.created_ms) / 1000;
    session_cookie(issued.token.expose(), https, max_age)
}

#[utoipa::path(operation_id = "sessions_list", get, path = "/api/v1/sessions", tag = "sessions", responses((status = 200, description = "your live sessions"), (status = 401, description = "not signed in", body = ErrorBody)))]
pub async fn list(State(st): State<AppState>, Auth(actor): Auth) -> Result<Response, ApiError> {
    let items: Vec<_> = st
        .core
        .my_sessions(&actor)
        .await?
        .into_iter()
        .map(|s| {
            json!({
                "id": s.id,
                "created_at": rfc3339(s.created_ms),
                "last_seen_at": rfc3339(s.last_seen_ms),
                "expires_at": rfc3339(s.expires_ms),
                "ip": s.ip,
                "user_agent": s.user_agent,
                "device": s.device,
                "current": s.id == actor.session.id,
            })
        })
        .collect();
    Ok(crate::api::list_body(&items, None))
}

#[utoipa::path(operation_id = "sessions_revoke", delete, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "a session ID, or `current` to sign out")), responses((status = 204, description = "revoked"), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody)))]
pub async fn revoke(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if id == "current" {
        st.core.sign_out(&actor, client.info()).await?;
        return Ok(with_cookie(
            StatusCode::NO_CONTENT.into_response(),
            clear_cookie(client.0.https),
        ));
    }
    let id = SessionId::parse(&id).ok_or(kinfold_core::CoreError::NotFound("session"))?;
    st.core.revoke_my_session(&actor, id, client.info()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
