//! Check-in, check-out and the day's roster.

use axum::extract::State;
use kinfold_core::CoreError;
use kinfold_crypto::password::Password;
use kinfold_model::{
    AttendanceEvent, AttendanceKind, ChildId, ClassroomId, GuardianId, NamedAs, Person, PickupId,
    UserId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::reply::{Created, Page, Reply};
use crate::api::rfc3339;
use crate::error::ErrorBody;
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

/// A check-in or check-out, as recorded.
#[derive(Serialize, ToSchema)]
pub struct EventOut {
    pub at: String,
    #[schema(value_type = String)]
    pub child_id: ChildId,
    /// `YYYY-MM-DD` in the center's calendar.
    pub day: String,
    pub id: uuid::Uuid,
    /// `check_in` or `check_out`.
    #[schema(value_type = String)]
    pub kind: AttendanceKind,
    pub person: PersonOut,
    #[schema(value_type = String)]
    pub recorded_by: UserId,
    /// For a correction: the entry it corrects and why; the entry's `at` is the right time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correction: Option<CorrectionOut>,
    /// Set when a check-in leaves the child's room out of ratio or over its group size: what
    /// is wrong. The check-in stands; the administrators are alerted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_warning: Option<String>,
}

/// Who dropped off or picked up the child: `{"id", "kind": "guardian" | "authorized_pickup"}`,
/// and the name and relationship the child's record gave them at that moment (absent on
/// entries from before Kinfold kept them).
#[derive(Serialize, ToSchema)]
pub struct PersonOut {
    pub id: uuid::Uuid,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
}

impl PersonOut {
    fn of(p: Person, named_as: Option<NamedAs>) -> Self {
        let (id, kind) = match p {
            Person::Guardian(id) => (id.0, "guardian"),
            Person::AuthorizedPickup(id) => (id.0, "authorized_pickup"),
        };
        let (name, relation) = named_as.map(|n| (n.name, n.relation)).unzip();
        PersonOut {
            id,
            kind,
            name,
            relation,
        }
    }
}

fn event_json(e: AttendanceEvent) -> EventOut {
    EventOut {
        at: rfc3339(e.at_ms),
        child_id: e.child_id,
        day: e.day,
        id: e.id,
        kind: e.kind,
        person: PersonOut::of(e.person, e.named_as),
        recorded_by: e.recorded_by,
        correction: e.correction.map(|c| CorrectionOut {
            corrects: c.corrects,
            reason: c.reason,
        }),
        ratio_warning: None,
    }
}

/// What a correction corrects.
#[derive(Serialize, ToSchema)]
pub struct CorrectionOut {
    pub corrects: uuid::Uuid,
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionBody {
    child_id: String,
    /// The right time, `HH:MM` in the center's time zone, on the entry's day.
    time: String,
    /// Why, 1 to 300 characters on one line.
    reason: String,
}

#[utoipa::path(operation_id = "attendance_correct", post, path = "/api/v1/attendance/{id}/correction", tag = "attendance", params(("id" = String, Path)), request_body = CorrectionBody, responses((status = 201, description = "the correction entry; the original stands", body = EventOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "no such entry of this child today, or outside your scope", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn correct(
    State(st): State<AppState>,
    Auth(actor): Auth,
    axum::extract::Path(id): axum::extract::Path<String>,
    Json(b): Json<CorrectionBody>,
) -> Result<Created<EventOut>, ApiError> {
    let entry = uuid::Uuid::parse_str(&id).map_err(|_| CoreError::NotFound("attendance entry"))?;
    let child = ChildId::parse(&b.child_id).ok_or(CoreError::NotFound("child"))?;
    let e = st
        .core
        .attendance()
        .correct(&actor, child, entry, &b.time, &b.reason)
        .await?;
    Ok(Created(event_json(e)))
}

#[utoipa::path(operation_id = "attendance_check_in", post, path = "/api/v1/attendance/check-in", tag = "attendance", request_body = Body, responses((status = 201, description = "checked in", body = EventOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 409, description = "already checked in", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn check_in(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Json(b): Json<Body>,
) -> Result<Created<EventOut>, ApiError> {
    if b.passphrase.is_some() {
        return Err(CoreError::invalid("passphrase", "only check-out takes a passphrase").into());
    }
    let (child, person) = parse(&b)?;
    let done = st
        .core
        .attendance()
        .check_in(&actor, child, person, client.info())
        .await?;
    let mut out = event_json(done.event);
    out.ratio_warning = done.out_of_ratio.and_then(|r| r.problem());
    Ok(Created(out))
}

#[utoipa::path(operation_id = "attendance_check_out", post, path = "/api/v1/attendance/check-out", tag = "attendance", request_body = Body, responses((status = 201, description = "checked out", body = EventOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "pickup_refused, with the reason", body = ErrorBody), (status = 404, description = "not found, or outside your scope", body = ErrorBody), (status = 409, description = "not checked in", body = ErrorBody), (status = 429, description = "too many passphrase guesses", body = ErrorBody)))]
pub async fn check_out(
    State(st): State<AppState>,
    Auth(actor): Auth,
    client: Client,
    Json(b): Json<Body>,
) -> Result<Created<EventOut>, ApiError> {
    let (child, person) = parse(&b)?;
    let e = st
        .core
        .attendance()
        .check_out(
            &actor,
            child,
            person,
            b.passphrase.map(Password::new),
            client.info(),
        )
        .await?;
    Ok(Created(event_json(e)))
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RosterParams {
    day: Option<String>,
}

#[utoipa::path(operation_id = "attendance_roster", get, path = "/api/v1/attendance", tag = "attendance", params(RosterParams), responses((status = 200, description = "the day's roster", body = Page<RosterLineOut>), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn roster(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Query(p): Query<RosterParams>,
) -> Result<Reply<Page<RosterLineOut>>, ApiError> {
    let lines = st
        .core
        .attendance()
        .roster(&actor, p.day.as_deref())
        .await?;
    let items = lines
        .into_iter()
        .map(|l| RosterLineOut {
            checked_in_at: l.checked_in_at_ms.map(rfc3339),
            checked_out_at: l.checked_out_at_ms.map(rfc3339),
            child_id: l.child_id,
            classroom_id: l.classroom_id,
            family_name: l.family_name,
            given_name: l.given_name,
            status: l.status,
        })
        .collect();
    Ok(Reply(Page::all(items)))
}

/// A child on the day's roster.
#[derive(Serialize, ToSchema)]
pub struct RosterLineOut {
    pub checked_in_at: Option<String>,
    pub checked_out_at: Option<String>,
    #[schema(value_type = String)]
    pub child_id: ChildId,
    #[schema(value_type = Option<String>)]
    pub classroom_id: Option<ClassroomId>,
    pub family_name: String,
    pub given_name: String,
    /// `absent`, `present` or `checked_out`.
    pub status: &'static str,
}
