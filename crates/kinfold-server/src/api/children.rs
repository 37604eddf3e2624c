//! Children, classrooms, staff, guardians and pickups. Every decision is in core's policy
//! table; these handlers only map JSON.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use kinfold_core::children::{ChildInput, ChildPatch, ChildView};
use kinfold_core::CoreError;
use kinfold_crypto::password::Password;
use kinfold_store::{
    Child, ChildId, ClassroomId, Custody, GuardianLink, NewGuardian, PickupId, UserId,
};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{json, Value};

use crate::api::openapi::ErrorBody;
use crate::extract::{Auth, Client, Json, Query};
use crate::{ApiError, AppState};

fn child_id(raw: &str) -> Result<ChildId, ApiError> {
    ChildId::parse(raw).ok_or_else(|| CoreError::NotFound("child").into())
}

/// A child's basic fields, under the API's JSON names. Serialized straight from the record,
/// without an intermediate `Value`.
pub struct ChildBody<'a> {
    id: ChildId,
    given_name: &'a str,
    family_name: &'a str,
    preferred_name: Option<&'a str>,
    date_of_birth: &'a str,
    classroom_id: Option<ClassroomId>,
    enrollment_status: &'a str,
    enrolled_on: Option<&'a str>,
    left_on: Option<&'a str>,
}

impl ChildBody<'_> {
    /// Writes the fields into a struct being serialized, so a larger body can start with them
    /// (`#[serde(flatten)]` would go through a map, slower on the hottest read).
    fn write<S: SerializeStruct>(&self, s: &mut S) -> Result<(), S::Error> {
        s.serialize_field("id", &self.id)?;
        s.serialize_field("given_name", self.given_name)?;
        s.serialize_field("family_name", self.family_name)?;
        s.serialize_field("preferred_name", &self.preferred_name)?;
        s.serialize_field("date_of_birth", self.date_of_birth)?;
        s.serialize_field("classroom_id", &self.classroom_id)?;
        s.serialize_field("enrollment_status", self.enrollment_status)?;
        s.serialize_field("enrolled_on", &self.enrolled_on)?;
        s.serialize_field("left_on", &self.left_on)
    }
}

impl Serialize for ChildBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Child", 9)?;
        self.write(&mut s)?;
        s.end()
    }
}

pub fn child_json(c: &Child) -> ChildBody<'_> {
    ChildBody {
        id: c.id,
        given_name: &c.given_name,
        family_name: &c.family_name,
        preferred_name: c.preferred_name.as_deref(),
        date_of_birth: &c.date_of_birth,
        classroom_id: c.classroom_id,
        enrollment_status: &c.status,
        enrolled_on: c.enrolled_on.as_deref(),
        left_on: c.left_on.as_deref(),
    }
}

#[derive(Serialize)]
pub struct PickupOut<'a> {
    id: PickupId,
    name: &'a str,
    relation: &'a str,
}

/// A child as one reader may see it: the fields the role may not see are left out and named
/// in `redacted`.
pub struct ViewBody<'a> {
    child: ChildBody<'a>,
    // Served as the JSON they were sealed as.
    allergies: Option<&'a serde_json::value::RawValue>,
    medical_notes: Option<&'a serde_json::value::RawValue>,
    emergency_contacts: Option<&'a serde_json::value::RawValue>,
    authorized_pickups: Option<Vec<PickupOut<'a>>>,
    redacted: &'a [&'static str],
}

impl Serialize for ViewBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ChildView", 14)?;
        self.child.write(&mut s)?;
        // A field the reader may not see is left out, not null.
        if let Some(a) = self.allergies {
            s.serialize_field("allergies", a)?;
        }
        if let Some(m) = self.medical_notes {
            s.serialize_field("medical_notes", m)?;
        }
        if let Some(e) = self.emergency_contacts {
            s.serialize_field("emergency_contacts", e)?;
        }
        if let Some(p) = &self.authorized_pickups {
            s.serialize_field("authorized_pickups", p)?;
        }
        s.serialize_field("redacted", self.redacted)?;
        s.end()
    }
}

pub fn view_json(v: &ChildView) -> ViewBody<'_> {
    ViewBody {
        child: child_json(v.child()),
        allergies: v.allergies_json(),
        medical_notes: v.medical_notes_json(),
        emergency_contacts: v.emergency_contacts_json(),
        authorized_pickups: v.authorized_pickups().map(|list| {
            list.iter()
                .map(|p| PickupOut {
                    id: p.id,
                    name: &p.name,
                    relation: &p.relation,
                })
                .collect()
        }),
        redacted: v.redacted,
    }
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

#[utoipa::path(operation_id = "children_list", get, path = "/api/v1/children", tag = "records", params(ListParams), responses((status = 200, description = "basic fields of the children you may see"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
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
    let items: Vec<ChildBody<'_>> = items.iter().map(child_json).collect();
    Ok(crate::api::list_body(&items, next.as_deref()))
}

#[utoipa::path(operation_id = "children_detail", get, path = "/api/v1/children/{id}", tag = "records", params(("id" = String, Path)), responses((status = 200, description = "the child as your role may see it, with `redacted`"), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody)))]
pub async fn detail(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = st
        .core
        .child_view(&actor, child_id(&id)?, client.shared_info())
        .await?;
    Ok(crate::api::json_body(&view_json(&view)))
}

#[utoipa::path(operation_id = "children_create", post, path = "/api/v1/children", tag = "records", request_body = kinfold_core::children::ChildInput, responses((status = 201, description = "created"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Json(input): Json<ChildInput>,
) -> Result<Response, ApiError> {
    let child = st.core.create_child(&actor, input).await?;
    Ok((StatusCode::CREATED, axum::Json(child_json(&child))).into_response())
}

#[utoipa::path(operation_id = "children_update", patch, path = "/api/v1/children/{id}", tag = "records", params(("id" = String, Path)), request_body = kinfold_core::children::ChildPatch, responses((status = 200, description = "updated"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn update(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(patch): Json<ChildPatch>,
) -> Result<Response, ApiError> {
    let child = st.core.update_child(&actor, child_id(&id)?, patch).await?;
    Ok(axum::Json(child_json(&child)).into_response())
}

fn link_json(l: &GuardianLink) -> Value {
    json!({
        "id": l.guardian.id,
        "user_id": l.guardian.user_id,
        "name": l.guardian.name,
        "email": l.guardian.email,
        "phone": l.guardian.phone,
        "relationship": l.relationship,
        "custody": l.custody,
        "may_pick_up": l.may_pick_up,
        "primary_contact": l.primary_contact,
    })
}

#[utoipa::path(operation_id = "children_guardians", get, path = "/api/v1/children/{id}/guardians", tag = "records", params(("id" = String, Path)), responses((status = 200, description = "the child's guardians"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody)))]
pub async fn guardians(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let links = st.core.child_guardians(&actor, child_id(&id)?).await?;
    let items: Vec<Value> = links.iter().map(link_json).collect();
    Ok(crate::api::list_body(&items, None))
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

#[utoipa::path(operation_id = "children_add_guardian", post, path = "/api/v1/children/{id}/guardians", tag = "records", params(("id" = String, Path)), request_body = GuardianBody, responses((status = 201, description = "linked"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn add_guardian(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(b): Json<GuardianBody>,
) -> Result<Response, ApiError> {
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
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": g.id, "name": g.name})),
    )
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PickupBody {
    name: String,
    relation: String,
    passphrase: String,
}

#[utoipa::path(operation_id = "children_add_pickup", post, path = "/api/v1/children/{id}/pickups", tag = "records", params(("id" = String, Path)), request_body = PickupBody, responses((status = 201, description = "added"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn add_pickup(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(b): Json<PickupBody>,
) -> Result<Response, ApiError> {
    let p = st
        .core
        .add_pickup(
            &actor,
            child_id(&id)?,
            &b.name,
            &b.relation,
            Password::new(b.passphrase),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": p.id, "name": p.name, "relation": p.relation})),
    )
        .into_response())
}

#[utoipa::path(operation_id = "children_classrooms", get, path = "/api/v1/classrooms", tag = "records", responses((status = 200, description = "classrooms you work with"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn classrooms(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Response, ApiError> {
    let items = st.core.list_classrooms(&actor).await?;
    Ok(crate::api::list_body(&items, None))
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ClassroomBody {
    name: String,
}

#[utoipa::path(operation_id = "children_create_classroom", post, path = "/api/v1/classrooms", tag = "records", request_body = ClassroomBody, responses((status = 201, description = "created"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn create_classroom(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Json(b): Json<ClassroomBody>,
) -> Result<Response, ApiError> {
    let c = st.core.create_classroom(&actor, &b.name).await?;
    Ok((StatusCode::CREATED, axum::Json(json!(c))).into_response())
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    user_id: String,
}

#[utoipa::path(operation_id = "children_assign", post, path = "/api/v1/classrooms/{id}/staff", tag = "records", params(("id" = String, Path)), request_body = AssignBody, responses((status = 204, description = "assigned"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody)))]
pub async fn assign(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(b): Json<AssignBody>,
) -> Result<Response, ApiError> {
    let classroom = ClassroomId::parse(&id).ok_or(CoreError::NotFound("classroom"))?;
    let user = UserId::parse(&b.user_id).ok_or(CoreError::NotFound("user"))?;
    st.core.assign_teacher(&actor, user, classroom).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(operation_id = "children_staff", get, path = "/api/v1/staff", tag = "records", responses((status = 200, description = "staff and their classrooms"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn staff(State(st): State<AppState>, Auth(actor): Auth) -> Result<Response, ApiError> {
    let items: Vec<Value> = st
        .core
        .list_staff(&actor)
        .await?
        .into_iter()
        .map(|(u, rooms)| json!({"id": u.id, "email": u.email, "name": u.name, "role": u.role, "classroom_ids": rooms, "mfa_enrolled": u.has_mfa()}))
        .collect();
    Ok(crate::api::list_body(&items, None))
}

#[utoipa::path(operation_id = "children_all_guardians", get, path = "/api/v1/guardians", tag = "records", responses((status = 200, description = "every guardian of the tenant"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn all_guardians(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Response, ApiError> {
    let items: Vec<Value> = st
        .core
        .list_guardians(&actor)
        .await?
        .into_iter()
        .map(|(g, n)| json!({"id": g.id, "user_id": g.user_id, "name": g.name, "email": g.email, "phone": g.phone, "children": n}))
        .collect();
    Ok(crate::api::list_body(&items, None))
}
