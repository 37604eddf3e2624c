//! Administrator actions: users, their sessions and MFA, access grants, and the center's details.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use kinfold_core::CoreError;
use kinfold_store::UserId;
use serde_json::json;

use crate::api::openapi::ErrorBody;
use crate::extract::{Auth, Client, Json};
use crate::{ApiError, AppState};

#[utoipa::path(operation_id = "admin_users", get, path = "/api/v1/users", tag = "admin", responses((status = 200, description = "the tenant's users"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn users(State(st): State<AppState>, Auth(actor): Auth) -> Result<Response, ApiError> {
    let items: Vec<_> = st
        .core
        .list_users(&actor)
        .await?
        .into_iter()
        .map(|u| json!({"id": u.id, "email": u.email, "name": u.name, "role": u.role, "mfa_enrolled": u.has_mfa()}))
        .collect();
    Ok(crate::api::list_body(&items, None))
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).ok_or_else(|| CoreError::NotFound("user").into())
}

#[utoipa::path(operation_id = "admin_reset_mfa", post, path = "/api/v1/users/{id}/mfa/reset", tag = "admin", params(("id" = String, Path)), responses((status = 200, description = "`{enrollment_url}`"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody)))]
pub async fn reset_mfa(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let token = st
        .core
        .reset_mfa(&actor, user_id(&id)?, client.info())
        .await?;
    let url = st.core.enrollment_link(&token);
    Ok(axum::Json(json!({"enrollment_url": url})).into_response())
}

#[utoipa::path(operation_id = "admin_revoke_sessions", delete, path = "/api/v1/users/{id}/sessions", tag = "admin", params(("id" = String, Path)), responses((status = 200, description = "`{revoked}`"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody)))]
pub async fn revoke_sessions(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let n = st
        .core
        .revoke_user_sessions(&actor, user_id(&id)?, client.info())
        .await?;
    Ok(axum::Json(json!({"revoked": n})).into_response())
}

/// Break-glass grants on this tenant (A3): who, why, until when.
#[utoipa::path(operation_id = "admin_grants", get, path = "/api/v1/access-grants", tag = "admin", responses((status = 200, description = "break-glass grants on this tenant"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn grants(State(st): State<AppState>, Auth(actor): Auth) -> Result<Response, ApiError> {
    let now = st.core.now_ms();
    let items: Vec<_> = st
        .core
        .list_grants(&actor)
        .await?
        .into_iter()
        .map(|g| {
            json!({
                "id": g.id,
                "operator": g.operator,
                "reason": g.reason,
                "created_at": crate::api::rfc3339(g.created_ms),
                "expires_at": crate::api::rfc3339(g.expires_ms),
                "active": now < g.expires_ms,
            })
        })
        .collect();
    Ok(crate::api::list_body(&items, None))
}

fn details_json(d: &kinfold_store::TenantDetails) -> serde_json::Value {
    json!({
        "legal_name": d.legal_name,
        "postal_address": d.postal_address,
        "time_zone": d.time_zone,
        "region": d.region,
    })
}

#[utoipa::path(operation_id = "tenant_details", get, path = "/api/v1/tenant", tag = "admin", responses((status = 200, description = "the center's legal name, postal address, time zone and region"), (status = 401, description = "not signed in", body = ErrorBody)))]
pub async fn tenant(State(st): State<AppState>, Auth(actor): Auth) -> Result<Response, ApiError> {
    let d = st.core.tenant_details(&actor).await?;
    Ok(axum::Json(details_json(&d)).into_response())
}

#[utoipa::path(operation_id = "tenant_update", patch, path = "/api/v1/tenant", tag = "admin", request_body = kinfold_core::tenants::TenantDetailsPatch, responses((status = 200, description = "the center's details after the change"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "administrators only", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn update_tenant(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Json(patch): Json<kinfold_core::tenants::TenantDetailsPatch>,
) -> Result<Response, ApiError> {
    let d = st.core.update_tenant_details(&actor, patch).await?;
    Ok(axum::Json(details_json(&d)).into_response())
}
