//! Administrator actions: users, their sessions and MFA, access grants, and the center's details.

use axum::extract::{Path, State};
use kinfold_core::{CoreError, Settings};
use kinfold_model::{Role, TenantDetails, UserId};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::reply::{Page, Reply};
use crate::error::ErrorBody;
use crate::extract::{Auth, Client, Json};
use crate::{ApiError, AppState};

/// A user of the tenant.
#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub email: String,
    #[schema(value_type = String)]
    pub id: UserId,
    /// Whether the user has a second factor.
    pub mfa_enrolled: bool,
    /// Whether an administrator deactivated the account (it cannot sign in).
    pub deactivated: bool,
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
}

impl UserOut {
    pub(crate) fn of(u: kinfold_model::User) -> Self {
        UserOut {
            mfa_enrolled: u.has_mfa(),
            deactivated: !u.is_active(),
            email: u.email,
            id: u.id,
            name: u.name,
            role: u.role,
        }
    }
}

#[utoipa::path(operation_id = "admin_users", get, path = "/api/v1/users", tag = "admin", responses((status = 200, description = "the tenant's users", body = Page<UserOut>), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn users(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Reply<Page<UserOut>>, ApiError> {
    let items = st
        .core
        .tenants()
        .list_users(&actor)
        .await?
        .into_iter()
        .map(UserOut::of)
        .collect();
    Ok(Reply(Page::all(items)))
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).ok_or_else(|| CoreError::NotFound("user").into())
}

#[utoipa::path(operation_id = "admin_reset_mfa", post, path = "/api/v1/users/{id}/mfa/reset", tag = "admin", params(("id" = String, Path)), responses((status = 200, description = "`{enrollment_url}`", body = MfaReset), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody)))]
pub async fn reset_mfa(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Path(id): Path<String>,
) -> Result<Reply<MfaReset>, ApiError> {
    let token = st
        .core
        .auth()
        .reset_mfa(&actor, user_id(&id)?, client.info())
        .await?;
    let enrollment_url = st.core.auth().enrollment_link(&token);
    Ok(Reply(MfaReset { enrollment_url }))
}

/// The user's new enrollment link, to hand over if the email does not arrive.
#[derive(Serialize, ToSchema)]
pub struct MfaReset {
    pub enrollment_url: String,
}

#[utoipa::path(operation_id = "admin_revoke_sessions", delete, path = "/api/v1/users/{id}/sessions", tag = "admin", params(("id" = String, Path)), responses((status = 200, description = "`{revoked}`", body = Revoked), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody)))]
pub async fn revoke_sessions(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Path(id): Path<String>,
) -> Result<Reply<Revoked>, ApiError> {
    let revoked = st
        .core
        .sessions()
        .revoke_user_sessions(&actor, user_id(&id)?, client.info())
        .await?;
    Ok(Reply(Revoked { revoked }))
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    /// How many sessions were ended.
    pub revoked: usize,
}

/// A break-glass grant: an operator's time-limited access to this tenant.
#[derive(Serialize, ToSchema)]
pub struct GrantOut {
    /// Whether the grant is still in force.
    pub active: bool,
    pub created_at: String,
    pub expires_at: String,
    pub id: uuid::Uuid,
    pub operator: String,
    pub reason: String,
}

/// Break-glass grants on this tenant (A3): who, why, until when.
#[utoipa::path(operation_id = "admin_grants", get, path = "/api/v1/access-grants", tag = "admin", responses((status = 200, description = "break-glass grants on this tenant", body = Page<GrantOut>), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn grants(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Reply<Page<GrantOut>>, ApiError> {
    let now = st.core.now_ms();
    let items = st
        .core
        .access()
        .list_grants(&actor)
        .await?
        .into_iter()
        .map(|g| GrantOut {
            active: now < g.expires_ms,
            created_at: crate::api::rfc3339(g.created_ms),
            expires_at: crate::api::rfc3339(g.expires_ms),
            id: g.id,
            operator: g.operator,
            reason: g.reason,
        })
        .collect();
    Ok(Reply(Page::all(items)))
}

/// The center's details, as its notices and messages print them.
#[derive(Serialize, ToSchema)]
pub struct TenantDetailsOut {
    pub legal_name: Option<String>,
    pub postal_address: Option<String>,
    pub region: String,
    /// An IANA time-zone name; the center's calendar days are in it.
    pub time_zone: String,
    /// The center's session policy (A4), as set and as it applies.
    pub sessions: SessionPolicyOut,
    /// The details' version: send it back as `version` with a change, and the change is
    /// refused (`409 conflict`) if the details changed in between.
    pub version: i64,
}

/// A center's session policy: what the center set (`null`: the operator's setting), and what
/// every session of the center is held to, within the operator's limits.
#[derive(Serialize, ToSchema)]
pub struct SessionPolicyOut {
    /// As set by the center, in minutes; `null` follows the operator's.
    pub idle_minutes: Option<i64>,
    /// As set by the center; `null` follows the operator's.
    pub max_per_user: Option<i64>,
    /// A session idle this many minutes ends.
    pub effective_idle_minutes: u64,
    /// Each person may have this many sessions at once.
    pub effective_max_per_user: u32,
    /// The operator's limits, the loosest a center may set.
    pub operator_idle_minutes: u64,
    pub operator_max_per_user: u32,
}

fn details_json(settings: &Settings, d: TenantDetails) -> TenantDetailsOut {
    let p = d.sessions;
    TenantDetailsOut {
        sessions: SessionPolicyOut {
            idle_minutes: p.idle_timeout_secs.map(|s| s / 60),
            max_per_user: p.max_sessions,
            effective_idle_minutes: settings.idle_timeout_for(&p).as_secs() / 60,
            effective_max_per_user: settings.session_cap_for(&p),
            operator_idle_minutes: settings.session_idle_timeout.as_secs() / 60,
            operator_max_per_user: settings.max_sessions_per_user,
        },
        legal_name: d.legal_name,
        postal_address: d.postal_address,
        region: d.region,
        time_zone: d.time_zone,
        version: d.version,
    }
}

#[utoipa::path(operation_id = "tenant_details", get, path = "/api/v1/tenant", tag = "admin", responses((status = 200, description = "the center's legal name, postal address, time zone and region", body = TenantDetailsOut), (status = 401, description = "not signed in", body = ErrorBody)))]
pub async fn tenant(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Reply<TenantDetailsOut>, ApiError> {
    let d = st.core.tenants().tenant_details(&actor).await?;
    Ok(Reply(details_json(st.core.settings(), d)))
}

#[utoipa::path(operation_id = "tenant_update", patch, path = "/api/v1/tenant", tag = "admin", request_body = kinfold_core::tenants::TenantDetailsPatch, responses((status = 200, description = "the center's details after the change", body = TenantDetailsOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "administrators only", body = ErrorBody), (status = 409, description = "the details changed since the `version` sent, or while this change was made: reload and try again", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn update_tenant(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Json(patch): Json<kinfold_core::tenants::TenantDetailsPatch>,
) -> Result<Reply<TenantDetailsOut>, ApiError> {
    let d = st
        .core
        .tenants()
        .update_tenant_details(&actor, patch)
        .await?;
    Ok(Reply(details_json(st.core.settings(), d)))
}
