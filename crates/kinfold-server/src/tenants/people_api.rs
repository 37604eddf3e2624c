//! Inviting staff and parents, and changing roles, over the API (administrators).

use axum::extract::{Path, State};
use kinfold_core::CoreError;
use kinfold_model::UserId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api::UserOut;
use crate::api::reply::{Created, Reply};
use crate::error::ErrorBody;
use crate::extract::{Auth, Json};
use crate::{ApiError, AppState};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    email: String,
    name: String,
    /// `administrator`, `teacher`, `front_desk` or `parent` (a parent sees no child until
    /// linked to one as a guardian: `POST /api/v1/children/{id}/guardians`).
    role: String,
}

/// The invited user, and the enrollment link that was emailed to them.
#[derive(Serialize, ToSchema)]
pub struct Invited {
    pub user: UserOut,
    /// To hand over if the email does not arrive; single use, expires.
    pub enrollment_url: String,
}

#[utoipa::path(operation_id = "admin_invite", post, path = "/api/v1/users", tag = "admin", request_body = InviteBody, responses((status = 201, description = "invited", body = Invited), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 409, description = "a user with this email exists", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn invite(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Json(b): Json<InviteBody>,
) -> Result<Created<Invited>, ApiError> {
    let (user, enrollment_url) = st
        .core
        .tenants()
        .invite_person(&actor, &b.email, &b.name, &b.role)
        .await?;
    Ok(Created(Invited {
        user: UserOut::of(user),
        enrollment_url,
    }))
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).ok_or_else(|| CoreError::NotFound("user").into())
}

#[derive(Serialize, ToSchema)]
pub struct Invitation {
    pub enrollment_url: String,
}

#[utoipa::path(operation_id = "admin_resend_invitation", post, path = "/api/v1/users/{id}/invitation", tag = "admin", params(("id" = String, Path)), responses((status = 200, description = "a new link was emailed; the old one no longer works", body = Invitation), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 409, description = "already enrolled, or not staff", body = ErrorBody)))]
pub async fn resend(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Reply<Invitation>, ApiError> {
    let enrollment_url = st
        .core
        .tenants()
        .resend_invitation(&actor, user_id(&id)?)
        .await?;
    Ok(Reply(Invitation { enrollment_url }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// `administrator`, `teacher` or `front_desk`: a staff member's role (a parent stays a
    /// parent).
    role: String,
    /// The role you read: if it has changed since, the change is refused with `409 conflict`.
    /// Left out: the change applies to whatever role is there.
    #[serde(default)]
    from: Option<String>,
}

#[utoipa::path(operation_id = "admin_set_role", put, path = "/api/v1/users/{id}/role", tag = "admin", params(("id" = String, Path)), request_body = RoleBody, responses((status = 200, description = "the user with the new role; their sessions ended", body = UserOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 409, description = "it would leave the center without an administrator, or the role changed since `from`", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn set_role(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(b): Json<RoleBody>,
) -> Result<Reply<UserOut>, ApiError> {
    let user = st
        .core
        .tenants()
        .set_role(&actor, user_id(&id)?, &b.role, b.from.as_deref())
        .await?;
    Ok(Reply(UserOut::of(user)))
}

#[utoipa::path(operation_id = "admin_deactivate", post, path = "/api/v1/users/{id}/deactivate", tag = "admin", params(("id" = String, Path)), responses((status = 200, description = "deactivated: it cannot sign in, its sessions and unused links ended", body = UserOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 409, description = "your own account, the last administrator, or already deactivated", body = ErrorBody)))]
pub async fn deactivate(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Reply<UserOut>, ApiError> {
    let user = st.core.tenants().deactivate(&actor, user_id(&id)?).await?;
    Ok(Reply(UserOut::of(user)))
}

#[utoipa::path(operation_id = "admin_reactivate", post, path = "/api/v1/users/{id}/reactivate", tag = "admin", params(("id" = String, Path)), responses((status = 200, description = "the account signs in again, with its password and second factor as they were", body = UserOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 409, description = "not deactivated", body = ErrorBody)))]
pub async fn reactivate(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Reply<UserOut>, ApiError> {
    let user = st.core.tenants().reactivate(&actor, user_id(&id)?).await?;
    Ok(Reply(UserOut::of(user)))
}
