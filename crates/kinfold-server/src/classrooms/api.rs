//! Classrooms and the staff assigned to them, over the API.

use crate::api::reply::{Created, NoContent, Page, Reply};
use crate::error::ErrorBody;
use crate::extract::{Auth, Json};
use crate::{ApiError, AppState};
use axum::extract::{Path, State};
use kinfold_core::classrooms::age_group_field;
use kinfold_core::CoreError;
use kinfold_model::{AgeGroup, Classroom, ClassroomFields, ClassroomId, Role, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A classroom.
#[derive(Serialize, ToSchema)]
pub struct ClassroomOut {
    #[schema(value_type = uuid::Uuid)]
    pub id: ClassroomId,
    pub name: String,
    /// `infant`, `toddler`, `preschool` or `school_age`; null when not set.
    pub age_group: Option<&'static str>,
    /// Licensed capacity, in children; null when not set.
    pub capacity: Option<u32>,
    pub archived: bool,
    /// The room's version: send it back as `version` with a change, and the change is
    /// refused (`409 conflict`) if the room changed in between.
    pub version: i64,
}

impl ClassroomOut {
    fn of(c: Classroom) -> Self {
        ClassroomOut {
            id: c.id,
            name: c.name,
            age_group: c.age_group.map(AgeGroup::as_str),
            capacity: c.capacity,
            archived: c.archived,
            version: c.version,
        }
    }
}

#[utoipa::path(operation_id = "children_classrooms", get, path = "/api/v1/classrooms", tag = "records", responses((status = 200, description = "classrooms you work with", body = Page<ClassroomOut>), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn classrooms(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Reply<Page<ClassroomOut>>, ApiError> {
    let items = st.core.classrooms().list_classrooms(&actor).await?;
    Ok(Reply(Page::all(
        items.into_iter().map(ClassroomOut::of).collect(),
    )))
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ClassroomBody {
    name: String,
    /// `infant`, `toddler`, `preschool` or `school_age`; absent or null for none.
    #[serde(default)]
    age_group: Option<String>,
    /// Licensed capacity, 1 to 200 children; absent or null for none.
    #[serde(default)]
    capacity: Option<u32>,
    /// On a change: the `version` the room had when you read it. A room changed since is
    /// refused with `409 conflict`; without it, the change is saved over whatever is there.
    #[serde(default)]
    version: Option<i64>,
}

impl ClassroomBody {
    fn fields(&self) -> Result<ClassroomFields, ApiError> {
        Ok(ClassroomFields {
            name: self.name.clone(),
            age_group: age_group_field(self.age_group.as_deref().unwrap_or(""))?,
            capacity: self.capacity,
        })
    }
}

fn classroom_id(raw: &str) -> Result<ClassroomId, ApiError> {
    Ok(ClassroomId::parse(raw).ok_or(CoreError::NotFound("classroom"))?)
}

#[utoipa::path(operation_id = "children_create_classroom", post, path = "/api/v1/classrooms", tag = "records", request_body = ClassroomBody, responses((status = 201, description = "created", body = ClassroomOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 409, description = "another room has this name", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn create_classroom(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Json(b): Json<ClassroomBody>,
) -> Result<Created<ClassroomOut>, ApiError> {
    let c = st
        .core
        .classrooms()
        .create_classroom(&actor, &b.fields()?)
        .await?;
    Ok(Created(ClassroomOut::of(c)))
}

#[utoipa::path(operation_id = "classrooms_update", put, path = "/api/v1/classrooms/{id}", tag = "records", params(("id" = String, Path)), request_body = ClassroomBody, responses((status = 200, description = "the room's settings, replaced", body = ClassroomOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "no such classroom, or archived", body = ErrorBody), (status = 409, description = "another room has this name, or the room changed since the `version` sent: reload and try again", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn update_classroom(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(b): Json<ClassroomBody>,
) -> Result<Reply<ClassroomOut>, ApiError> {
    let id = classroom_id(&id)?;
    let c = st
        .core
        .classrooms()
        .update_classroom(&actor, id, &b.fields()?, b.version)
        .await?;
    Ok(Reply(ClassroomOut::of(c)))
}

#[utoipa::path(operation_id = "classrooms_archive", post, path = "/api/v1/classrooms/{id}/archive", tag = "records", params(("id" = String, Path)), responses((status = 204, description = "archived; its staff are unassigned"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "no such classroom, or already archived", body = ErrorBody), (status = 409, description = "children are still placed in the room", body = ErrorBody)))]
pub async fn archive_classroom(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<NoContent, ApiError> {
    let id = classroom_id(&id)?;
    st.core.classrooms().archive_classroom(&actor, id).await?;
    Ok(NoContent)
}

#[utoipa::path(operation_id = "classrooms_unassign", delete, path = "/api/v1/classrooms/{id}/staff/{user_id}", tag = "records", params(("id" = String, Path), ("user_id" = String, Path)), responses((status = 204, description = "unassigned"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "no such assignment", body = ErrorBody)))]
pub async fn unassign(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path((id, user)): Path<(String, String)>,
) -> Result<NoContent, ApiError> {
    let classroom = classroom_id(&id)?;
    let user = UserId::parse(&user).ok_or(CoreError::NotFound("staff assignment"))?;
    st.core
        .classrooms()
        .unassign_teacher(&actor, user, classroom)
        .await?;
    Ok(NoContent)
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    user_id: String,
}

#[utoipa::path(operation_id = "children_assign", post, path = "/api/v1/classrooms/{id}/staff", tag = "records", params(("id" = String, Path)), request_body = AssignBody, responses((status = 204, description = "assigned"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 409, description = "the classroom is archived", body = ErrorBody), (status = 422, description = "only teachers are assigned to classrooms", body = ErrorBody)))]
pub async fn assign(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Json(b): Json<AssignBody>,
) -> Result<NoContent, ApiError> {
    let classroom = classroom_id(&id)?;
    let user = UserId::parse(&b.user_id).ok_or(CoreError::NotFound("user"))?;
    st.core
        .classrooms()
        .assign_teacher(&actor, user, classroom)
        .await?;
    Ok(NoContent)
}

#[utoipa::path(operation_id = "children_staff", get, path = "/api/v1/staff", tag = "records", responses((status = 200, description = "staff and their classrooms", body = Page<StaffOut>), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn staff(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Reply<Page<StaffOut>>, ApiError> {
    let items = st
        .core
        .classrooms()
        .list_staff(&actor)
        .await?
        .into_iter()
        .map(|(u, rooms)| StaffOut {
            classroom_ids: rooms,
            mfa_enrolled: u.has_mfa(),
            email: u.email,
            id: u.id,
            name: u.name,
            role: u.role,
        })
        .collect();
    Ok(Reply(Page::all(items)))
}

/// A member of staff and the classrooms they are assigned to.
#[derive(Serialize, ToSchema)]
pub struct StaffOut {
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub classroom_ids: Vec<ClassroomId>,
    pub email: String,
    #[schema(value_type = uuid::Uuid)]
    pub id: UserId,
    pub mfa_enrolled: bool,
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
}
