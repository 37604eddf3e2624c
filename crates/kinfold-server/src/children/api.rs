//! Children, their guardians and authorized pickups, over the API.

use crate::api::reply::{Created, Page, Reply};
use crate::children::body::{ChildBody, ChildOut, ChildrenPage, ViewBody, ViewOut};
use crate::error::ErrorBody;
use crate::extract::{Auth, Client, Json, Query};
use crate::{ApiError, AppState};
use axum::extract::{Path, State};
use base64::Engine;
use kinfold_core::children::{ChildInput, ChildPatch};
use kinfold_core::CoreError;
use kinfold_model::{ChildId, Custody, GuardianId, GuardianLink, NewGuardian, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn child_id(raw: &str) -> Result<ChildId, ApiError> {
    ChildId::parse(raw).ok_or_else(|| CoreError::NotFound("child").into())
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    classroom_id: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

fn decode_cursor(c: &str) -> Option<ChildId> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    ChildId::parse(std::str::from_utf8(&raw).ok()?)
}

#[utoipa::path(operation_id = "children_list", get, path = "/api/v1/children", tag = "records", params(ListParams), responses((status = 200, description = "basic fields of the children you may see", body = Page<ChildBody>), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Query(p): Query<ListParams>,
) -> Result<Reply<ChildrenPage>, ApiError> {
    let cursor = match p.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => {
            Some(decode_cursor(c).ok_or_else(|| CoreError::invalid("cursor", "malformed cursor"))?)
        }
        None => None,
    };
    let limit = p
        .limit
        .unwrap_or(kinfold_core::children::PAGE)
        .clamp(1, kinfold_core::children::MAX_PAGE);
    let items = st
        .core
        .children()
        .list_children(
            &actor,
            p.classroom_id.as_deref(),
            p.status.as_deref(),
            cursor,
            Some(limit),
        )
        .await?;
    let next = (items.len() == limit as usize)
        .then(|| {
            items
                .last()
                .map(|c| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.id.to_string()))
        })
        .flatten();
    Ok(Reply(ChildrenPage {
        children: items,
        next_cursor: next,
    }))
}

#[utoipa::path(operation_id = "children_detail", get, path = "/api/v1/children/{id}", tag = "records", params(("id" = String, Path)), responses((status = 200, description = "the child as your role may see it, with `redacted`", body = ViewBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody)))]
pub async fn detail(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Path(id): Path<String>,
) -> Result<Reply<ViewOut>, ApiError> {
    let view = st
        .core
        .children()
        .child_view(&actor, child_id(&id)?, client.shared_info())
        .await?;
    Ok(Reply(ViewOut(view)))
}

#[utoipa::path(operation_id = "children_create", post, path = "/api/v1/children", tag = "records", request_body = kinfold_core::children::ChildInput, responses((status = 201, description = "created", body = ChildBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Json(input): Json<ChildInput>,
) -> Result<Created<ChildOut>, ApiError> {
    let child = st.core.children().create_child(&actor, input).await?;
    Ok(Created(ChildOut(child)))
}

#[utoipa::path(operation_id = "children_update", patch, path = "/api/v1/children/{id}", tag = "records", params(("id" = String, Path)), request_body = kinfold_core::children::ChildPatch, responses((status = 200, description = "updated", body = ChildBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 409, description = "the record changed since the `version` sent (or, when moving the child, the room is archived): reload and try again", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn update(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(patch): Json<ChildPatch>,
) -> Result<Reply<ChildOut>, ApiError> {
    let child = st
        .core
        .children()
        .update_child(&actor, child_id(&id)?, patch)
        .await?;
    Ok(Reply(ChildOut(child)))
}

/// A guardian of the child, and how they are linked.
#[derive(Serialize, ToSchema)]
pub struct GuardianLinkOut {
    /// `full`, `shared` or `court_restricted`.
    #[schema(value_type = String)]
    pub custody: Custody,
    pub email: Option<String>,
    #[schema(value_type = uuid::Uuid)]
    pub id: GuardianId,
    pub may_pick_up: bool,
    pub name: String,
    /// E.164.
    pub phone: Option<String>,
    pub primary_contact: bool,
    pub relationship: String,
    /// The guardian's own account, if they have one.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub user_id: Option<UserId>,
    /// Send it back as `version` with a change of custody or pickup permission: one made
    /// since is refused.
    pub version: i64,
}

fn link_json(l: GuardianLink) -> GuardianLinkOut {
    GuardianLinkOut {
        custody: l.custody,
        email: l.guardian.email,
        id: l.guardian.id,
        may_pick_up: l.may_pick_up,
        name: l.guardian.name,
        phone: l.guardian.phone,
        primary_contact: l.primary_contact,
        relationship: l.relationship,
        user_id: l.guardian.user_id,
        version: l.version,
    }
}

#[utoipa::path(operation_id = "children_guardians", get, path = "/api/v1/children/{id}/guardians", tag = "records", params(("id" = String, Path)), responses((status = 200, description = "the child's guardians", body = Page<GuardianLinkOut>), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody)))]
pub async fn guardians(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Reply<Page<GuardianLinkOut>>, ApiError> {
    let links = st
        .core
        .children()
        .child_guardians(&actor, child_id(&id)?)
        .await?;
    Ok(Reply(Page::all(links.into_iter().map(link_json).collect())))
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GuardianBody {
    name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    relationship: String,
    custody: String,
    #[serde(default)]
    may_pick_up: bool,
    #[serde(default)]
    primary_contact: bool,
}

#[utoipa::path(operation_id = "children_add_guardian", post, path = "/api/v1/children/{id}/guardians", tag = "records", params(("id" = String, Path)), request_body = GuardianBody, responses((status = 201, description = "linked", body = GuardianAdded), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn add_guardian(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(b): Json<GuardianBody>,
) -> Result<Created<GuardianAdded>, ApiError> {
    let custody = Custody::parse(&b.custody)
        .ok_or_else(|| CoreError::invalid("custody", "must be full, shared or court_restricted"))?;
    let user_id = match b.user_id.as_deref() {
        Some(u) => {
            Some(UserId::parse(u).ok_or_else(|| CoreError::invalid("user_id", "no such user"))?)
        }
        None => None,
    };
    let new = NewGuardian {
        user_id,
        name: b.name,
        email: b.email,
        phone: b.phone,
    };
    let g = st
        .core
        .children()
        .add_guardian(
            &actor,
            child_id(&id)?,
            new,
            &b.relationship,
            custody,
            b.may_pick_up,
            b.primary_contact,
        )
        .await?;
    Ok(Created(GuardianAdded {
        id: g.id,
        name: g.name,
    }))
}

/// The guardian, linked to the child.
#[derive(Serialize, ToSchema)]
pub struct GuardianAdded {
    #[schema(value_type = uuid::Uuid)]
    pub id: GuardianId,
    pub name: String,
}

/// A guardian of the tenant, and how many children they are linked to.
#[derive(Serialize, ToSchema)]
pub struct GuardianOut {
    pub children: i64,
    pub email: Option<String>,
    #[schema(value_type = uuid::Uuid)]
    pub id: GuardianId,
    pub name: String,
    pub phone: Option<String>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub user_id: Option<UserId>,
}

#[utoipa::path(operation_id = "children_all_guardians", get, path = "/api/v1/guardians", tag = "records", responses((status = 200, description = "every guardian of the tenant", body = Page<GuardianOut>), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn all_guardians(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Reply<Page<GuardianOut>>, ApiError> {
    let items = st
        .core
        .children()
        .list_guardians(&actor)
        .await?
        .into_iter()
        .map(|(g, n)| GuardianOut {
            children: n,
            email: g.email,
            id: g.id,
            name: g.name,
            phone: g.phone,
            user_id: g.user_id,
        })
        .collect();
    Ok(Reply(Page::all(items)))
}
