//! Check-in, check-out and the day's roster.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kinfold_core::CoreError;
use kinfold_crypto::password::Password;
use kinfold_store::{AttendanceEvent, ChildId, GuardianId, Person, PickupId};
use serde::Deserialize;
use serde_json::{json, Value};

use super::rfc3339;
use crate::api::openapi::ErrorBody;
use crate::extract::{Auth, Client, Json, Query};
use crate::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Body {
    child_id: String,
    #[serde(default)]
    guardian_id: Option<String>,
    #[serde(default)]
    pickup_id: Option<String>,
    #[serde(default)]
    passphrase: Option<String>,
}

fn parse(b: &Body) -> Result<(ChildId, Person), ApiError> {
    let child = ChildId::parse(&b.child_id).ok_or(CoreError::NotFound("child"))?;
    let person = match (&b.guardian_id, &b.pickup_id) {
        (Some(g), None) => Person::Guardian(
            GuardianId::parse(g)
                .ok_or_else(|| CoreError::invalid("guardian_id", "no such guardian"))?,
        ),
        (None, Some(p)) => Person::AuthorizedPickup(
            PickupId::parse(p)
                .ok_or_else(|| CoreError::invalid("pickup_id", "no such authorized pickup"))?,
        ),
        _ => {
            return Err(CoreError::invalid(
                "guardian_id",
                "give exactly one of guardian_id and pickup_id",
            )
            .into())
        }
    };
    Ok((child, person))
}

fn event_json(e: &AttendanceEvent) -> Value {
    json!({"id": e.id, "child_id": e.child_id, "kind": e.kind, "day": e.day, "at": rfc3339(e.at_ms), "recorded_by": e.recorded_by, "person": e.person})
}

#[utoipa::path(operation_id = "attendance_check_in", post, path = "/api/v1/attendance/check-in", tag = "attendance", request_body = Body, responses((status = 201, description = "checked in"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 409, description = "already checked in", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn check_in(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Json(b): Json<Body>,
) -> Result<Response, ApiError> {
    if b.passphrase.is_some() {
        return Err(CoreError::invalid("passphrase", "only check-out takes a passphrase").into());
    }
    let (child, person) = parse(&b)?;
    let e = st
        .core
        .check_in(&actor, child, person, client.info())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(event_json(&e))).into_response())
}

#[utoipa::path(operation_id = "attendance_check_out", post, path = "/api/v1/attendance/check-out", tag = "attendance", request_body = Body, responses((status = 201, description = "checked out"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "pickup_refused, with the reason", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 409, description = "not checked in", body = ErrorBody), (status = 429, description = "too many passphrase guesses", body = ErrorBody)))]
pub async fn check_out(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Json(b): Json<Body>,
) -> Result<Response, ApiError> {
    let (child, person) = parse(&b)?;
    let e = st
        .core
        .check_out(
            &actor,
            child,
            person,
            b.passphrase.map(Password::new),
            client.info(),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(event_json(&e))).into_response())
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RosterParams {
    day: Option<String>,
}

#[utoipa::path(operation_id = "attendance_roster", get, path = "/api/v1/attendance", tag = "attendance", params(RosterParams), responses((status = 200, description = "the day's roster"), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn roster(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Query(p): Query<RosterParams>,
) -> Result<Response, ApiError> {
    let lines = st.core.roster(&actor, p.day.as_deref()).await?;
    let items: Vec<Value> = lines
        .iter()
        .map(|l| {
            json!({
                "child_id": l.child_id,
                "given_name": l.given_name,
                "family_name": l.family_name,
                "classroom_id": l.classroom_id,
                "status": l.status,
                "checked_in_at": l.checked_in_at_ms.map(rfc3339),
                "checked_out_at": l.checked_out_at_ms.map(rfc3339),
            })
        })
        .collect();
    Ok(crate::api::list_body(&items, None))
}
