//! Classrooms and the staff assigned to them, over the API.

use crate::api::reply::{Created, NoContent, Page, Reply};
use crate::error::ErrorBody;
use crate::extract::{Auth, Json};
use crate::{ApiError, AppState};
use axum::extract::{Path, State};
use kinfold_core::CoreError;
use kinfold_model::{Classroom, ClassroomId, Role, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A classroom.
#[derive(Serialize, ToSchema)]
pub struct ClassroomOut {
    #[schema(value_type = uuid::Uuid)]
    pub id: ClassroomId,
    pub name: String,
}

impl ClassroomOut {
    fn of(c: Classroom) -> Self {
        ClassroomOut {
            id: c.id,
            name: c.name,
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
}

#[utoipa::path(operation_id = "children_create_classroom", post, path = "/api/v1/classrooms", tag = "records", request_body = ClassroomBody, responses((status = 201, description = "created", body = ClassroomOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn create_classroom(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Json(b): Json<ClassroomBody>,
) -> Result<Created<ClassroomOut>, ApiError> {
    let c = st
        .core
        .classrooms()
        .create_classroom(&actor, &b.name)
        .await?;
    Ok(Created(ClassroomOut::of(c)))
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
) -> Result<NoContent, ApiError> {
    let classroom = ClassroomId::parse(&id).ok_or(CoreError::NotFound("classroom"))?;
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
