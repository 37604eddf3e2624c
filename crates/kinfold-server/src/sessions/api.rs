//! Signing in (password, then the second factor), and the signed-in user's sessions.

use axum::extract::{Path, State};
use kinfold_core::auth::{NewSessionIssued, SignIn};
use kinfold_crypto::password::Password;
use kinfold_model::{Role, SessionId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::reply::{NoContent, Page, Reply, WithCookie};
use crate::api::{clear_cookie, rfc3339, session_cookie};
use crate::auth::account::{TenantSummary, UserSummary};
use crate::error::ErrorBody;
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

/// The answer to the password step.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum SignInAnswer {
    /// The second factor comes next: send the token with a code to `/api/v1/sessions/mfa`.
    MfaRequired {
        /// Always `true` here.
        mfa_required: bool,
        mfa_token: String,
    },
    /// Signed in (a parent without a second factor), with the session cookie.
    SignedIn {
        /// Always `false` here.
        mfa_required: bool,
        #[schema(value_type = String)]
        role: Role,
        session: NewSession,
        tenant: TenantSummary,
        user: UserSummary,
    },
}

/// Who signed in, and the new session.
#[derive(Serialize, ToSchema)]
pub struct SignedIn {
    #[schema(value_type = String)]
    pub role: Role,
    pub session: NewSession,
    pub tenant: TenantSummary,
    pub user: UserSummary,
}

#[derive(Serialize, ToSchema)]
pub struct NewSession {
    pub expires_at: String,
    #[schema(value_type = String)]
    pub id: SessionId,
}

#[utoipa::path(operation_id = "sessions_create", post, path = "/api/v1/sessions", tag = "sessions", security(()), request_body = SignInBody, responses((status = 200, description = "`{\"mfa_required\": true, \"mfa_token\"}` for staff; a session cookie and `{\"mfa_required\": false, \"user\", \"role\", \"tenant\", \"session\"}` for a parent without MFA", body = SignInAnswer), (status = 401, description = "invalid_credentials", body = ErrorBody), (status = 403, description = "mfa_enrollment_required", body = ErrorBody), (status = 429, description = "throttled", body = ErrorBody), (status = 503, description = "busy", body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    client: Client,
    Json(b): Json<SignInBody>,
) -> Result<WithCookie<Reply<SignInAnswer>>, ApiError> {
    match st
        .core
        .auth()
        .sign_in(
            &b.tenant,
            &b.email,
            Password::new(b.password),
            client.info(),
        )
        .await?
    {
        SignIn::MfaRequired { mfa_token } => Ok(WithCookie(
            None,
            Reply(SignInAnswer::MfaRequired {
                mfa_required: true,
                mfa_token: mfa_token.expose().to_owned(),
            }),
        )),
        SignIn::SignedIn(issued) => {
            let WithCookie(cookie, Reply(s)) = signed_in(&issued, client.0.https);
            let answer = SignInAnswer::SignedIn {
                mfa_required: false,
                role: s.role,
                session: s.session,
                tenant: s.tenant,
                user: s.user,
            };
            Ok(WithCookie(cookie, Reply(answer)))
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MfaBody {
    mfa_token: String,
    code: String,
}

#[utoipa::path(operation_id = "sessions_mfa", post, path = "/api/v1/sessions/mfa", tag = "sessions", security(()), request_body = MfaBody, responses((status = 200, description = "signed in: a session cookie and `{user, role, tenant, session}`", body = SignedIn), (status = 401, description = "invalid_mfa_token or invalid_code", body = ErrorBody), (status = 429, description = "throttled: too many wrong codes for the account", body = ErrorBody)))]
pub async fn mfa(
    State(st): State<AppState>,
    client: Client,
    Json(b): Json<MfaBody>,
) -> Result<WithCookie<Reply<SignedIn>>, ApiError> {
    let issued = st
        .core
        .auth()
        .sign_in_mfa(&b.mfa_token, &b.code, client.info())
        .await?;
    Ok(signed_in(&issued, client.0.https))
}

/// The sign-in answer with its cookie.
pub fn signed_in(issued: &NewSessionIssued, https: bool) -> WithCookie<Reply<SignedIn>> {
    let body = SignedIn {
        role: issued.user.role,
        session: NewSession {
            expires_at: rfc3339(issued.session.expires_ms),
            id: issued.session.id,
        },
        tenant: TenantSummary::of(&issued.tenant),
        user: UserSummary::of(&issued.user),
    };
    WithCookie(Some(cookie_for(issued, https)), Reply(body))
}

pub fn cookie_for(issued: &NewSessionIssued, https: bool) -> axum::http::HeaderValue {
    let max_age = (issued.session.expires_ms - issued.session.created_ms) / 1000;
    session_cookie(issued.token.expose(), https, max_age)
}

/// One of your live sessions.
#[derive(Serialize, ToSchema)]
pub struct SessionOut {
    pub created_at: String,
    /// Whether this is the session making the request.
    pub current: bool,
    /// A hash of the browser's stable client hints.
    pub device: Option<String>,
    pub expires_at: String,
    #[schema(value_type = String)]
    pub id: SessionId,
    pub ip: Option<String>,
    pub last_seen_at: String,
    pub user_agent: Option<String>,
}

#[utoipa::path(operation_id = "sessions_list", get, path = "/api/v1/sessions", tag = "sessions", responses((status = 200, description = "your live sessions", body = Page<SessionOut>), (status = 401, description = "not signed in", body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Reply<Page<SessionOut>>, ApiError> {
    let items = st
        .core
        .sessions()
        .my_sessions(&actor)
        .await?
        .into_iter()
        .map(|s| SessionOut {
            created_at: rfc3339(s.created_ms),
            current: s.id == actor.session.id,
            device: s.device,
            expires_at: rfc3339(s.expires_ms),
            id: s.id,
            ip: s.ip,
            last_seen_at: rfc3339(s.last_seen_ms),
            user_agent: s.user_agent,
        })
        .collect();
    Ok(Reply(Page::all(items)))
}

#[utoipa::path(operation_id = "sessions_revoke", delete, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "a session ID, or `current` to sign out")), responses((status = 204, description = "revoked"), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody)))]
pub async fn revoke(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Path(id): Path<String>,
) -> Result<WithCookie<NoContent>, ApiError> {
    if id == "current" {
        st.core.sessions().sign_out(&actor, client.info()).await?;
        return Ok(WithCookie(Some(clear_cookie(client.0.https)), NoContent));
    }
    let id = SessionId::parse(&id).ok_or(kinfold_core::CoreError::NotFound("session"))?;
    st.core
        .sessions()
        .revoke_my_session(&actor, id, client.info())
        .await?;
    Ok(WithCookie(None, NoContent))
}
