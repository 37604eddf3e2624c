//! Staff attendance and live ratios, over the API: clocking in and out (an administrator's
//! correction names the user and the reason), the ratio board, and the center's ratio table.

use axum::extract::State;
use kinfold_core::attendance::{Clocked, RatioSettings, RoomRatio};
use kinfold_core::CoreError;
use kinfold_model::{AgeBand, ClassroomId, ClockKind, RatioRule, StaffEvent, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::reply::{Created, Page, Reply};
use crate::api::rfc3339;
use crate::error::ErrorBody;
use crate::extract::{Auth, Json};
use crate::{ApiError, AppState};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockBody {
    classroom_id: String,
    /// An administrator's correction: whose record it is. Absent: the caller's own.
    #[serde(default)]
    user_id: Option<String>,
    /// Required with `user_id`: why the record is corrected.
    #[serde(default)]
    reason: Option<String>,
}

/// A clock-in or clock-out, as recorded.
#[derive(Serialize, ToSchema)]
pub struct ClockOut {
    pub id: uuid::Uuid,
    #[schema(value_type = String)]
    pub user_id: UserId,
    #[schema(value_type = String)]
    pub classroom_id: ClassroomId,
    /// `clock_in` or `clock_out`.
    #[schema(value_type = String)]
    pub kind: ClockKind,
    pub day: String,
    pub at: String,
    #[schema(value_type = String)]
    pub recorded_by: UserId,
    pub reason: Option<String>,
    /// Set when the room is now out of ratio (a clock-out): what is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_warning: Option<String>,
}

fn clock_json(c: Clocked) -> ClockOut {
    let StaffEvent {
        id,
        user_id,
        classroom_id,
        kind,
        day,
        at_ms,
        recorded_by,
        reason,
    } = c.event;
    ClockOut {
        id,
        user_id,
        classroom_id,
        kind,
        day,
        at: rfc3339(at_ms),
        recorded_by,
        reason,
        ratio_warning: c.out_of_ratio.and_then(|r| r.problem()),
    }
}

async fn clock(
    st: &AppState,
    actor: &kinfold_core::Actor,
    b: ClockBody,
    kind: ClockKind,
) -> Result<Created<ClockOut>, ApiError> {
    let room = ClassroomId::parse(&b.classroom_id).ok_or(CoreError::NotFound("classroom"))?;
    let service = st.core.attendance();
    let clocked = match (b.user_id, b.reason) {
        (None, None) => service.clock(actor, room, kind).await?,
        (Some(u), reason) => {
            let user = UserId::parse(&u).ok_or(CoreError::NotFound("user"))?;
            let reason = reason.unwrap_or_default();
            service.clock_for(actor, user, room, kind, &reason).await?
        }
        (None, Some(_)) => {
            return Err(CoreError::invalid(
                "reason",
                "a reason goes with a correction of someone's record (user_id)",
            )
            .into())
        }
    };
    Ok(Created(clock_json(clocked)))
}

#[utoipa::path(operation_id = "staff_clock_in", post, path = "/api/v1/staff/clock-in", tag = "attendance", request_body = ClockBody, responses((status = 201, description = "clocked in", body = ClockOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role (parents; a correction by anyone but an administrator)", body = ErrorBody), (status = 404, description = "no such classroom (or user) in your scope", body = ErrorBody), (status = 409, description = "already clocked in", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn clock_in(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Json(b): Json<ClockBody>,
) -> Result<Created<ClockOut>, ApiError> {
    clock(&st, &actor, b, ClockKind::ClockIn).await
}

#[utoipa::path(operation_id = "staff_clock_out", post, path = "/api/v1/staff/clock-out", tag = "attendance", request_body = ClockBody, responses((status = 201, description = "clocked out; `ratio_warning` when the room is now out of ratio", body = ClockOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody), (status = 404, description = "no such classroom (or user) in your scope", body = ErrorBody), (status = 409, description = "not clocked in to this room", body = ErrorBody), (status = 422, description = "invalid input; `field` names it", body = ErrorBody)))]
pub async fn clock_out(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Json(b): Json<ClockBody>,
) -> Result<Created<ClockOut>, ApiError> {
    clock(&st, &actor, b, ClockKind::ClockOut).await
}

/// One room on the ratio board.
#[derive(Serialize, ToSchema)]
pub struct RatioOut {
    #[schema(value_type = String)]
    pub classroom_id: ClassroomId,
    pub name: String,
    pub children_present: u32,
    pub staff_present: u32,
    /// Staff the present children need, by their ages and the center's ratio table.
    pub staff_needed: u32,
    /// The largest group the present children's ages allow; null when no child is present.
    pub max_group: Option<u32>,
    /// How many more children of the youngest age present the room takes before it needs
    /// another staff member or passes its group size; null when no child is present.
    pub headroom: Option<u32>,
    /// What is wrong, when the room is out of ratio or over its group size; else null.
    pub problem: Option<String>,
}

pub(crate) fn ratio_json(r: &RoomRatio) -> RatioOut {
    RatioOut {
        classroom_id: r.room.id,
        name: r.room.name.clone(),
        children_present: r.children,
        staff_present: u32::try_from(r.staff.len()).unwrap_or(u32::MAX),
        staff_needed: r.needed,
        max_group: r.max_group,
        headroom: r.headroom,
        problem: r.problem(),
    }
}

#[utoipa::path(operation_id = "attendance_ratios", get, path = "/api/v1/ratios", tag = "attendance", responses((status = 200, description = "each room you work with, now", body = Page<RatioOut>), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn ratios(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Reply<Page<RatioOut>>, ApiError> {
    let rooms = st.core.attendance().ratios(&actor).await?;
    Ok(Reply(Page::all(rooms.iter().map(ratio_json).collect())))
}

/// One row of the ratio table.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatioRow {
    /// `infant` (to 12 months), `toddler` (13-35 months), `three`, `four_five` or
    /// `school_age` (6 and over).
    pub band: String,
    /// 1 to 50.
    pub children_per_staff: u32,
    /// 1 to 200, and at least `children_per_staff`.
    pub max_group: u32,
}

#[derive(Serialize, ToSchema)]
pub struct RatioTableOut {
    /// Every band, the center's row where it set one, the CFOC 1.1.1.2 default elsewhere.
    pub rows: Vec<RatioRow>,
    /// The table's version, a counter each change moves on by one: send it back with a change.
    pub version: i64,
}

fn table_json(t: &RatioSettings) -> RatioTableOut {
    RatioTableOut {
        version: t.version,
        rows: t
            .table
            .0
            .iter()
            .map(|r| RatioRow {
                band: r.band.as_str().to_owned(),
                children_per_staff: r.children_per_staff,
                max_group: r.max_group,
            })
            .collect(),
    }
}

#[utoipa::path(operation_id = "ratio_table", get, path = "/api/v1/ratio-table", tag = "attendance", responses((status = 200, description = "the center's ratio table", body = RatioTableOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "not allowed for this role", body = ErrorBody)))]
pub async fn ratio_table(
    State(st): State<AppState>,
    Auth(actor): Auth,
) -> Result<Reply<RatioTableOut>, ApiError> {
    let t = st.core.attendance().ratio_table(&actor).await?;
    Ok(Reply(table_json(&t)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatioTableBody {
    /// The rows to set; a band left out goes back to the default.
    rows: Vec<RatioRow>,
    /// The table's `version` as read: a table changed since is refused with `409 conflict`
    /// and nothing changes. Without it, the table is replaced as it is.
    #[serde(default)]
    version: Option<i64>,
}

#[utoipa::path(operation_id = "ratio_table_set", put, path = "/api/v1/ratio-table", tag = "attendance", request_body = RatioTableBody, responses((status = 200, description = "the table as set", body = RatioTableOut), (status = 401, description = "not signed in", body = ErrorBody), (status = 403, description = "administrators only", body = ErrorBody), (status = 409, description = "the table changed since the version sent", body = ErrorBody), (status = 422, description = "invalid input; `field` names it (`toddler_ratio`, `toddler_group`, ...)", body = ErrorBody)))]
pub async fn set_ratio_table(
    State(st): State<AppState>,
    Auth(actor): Auth,
    Json(b): Json<RatioTableBody>,
) -> Result<Reply<RatioTableOut>, ApiError> {
    let mut rows = Vec::new();
    for r in &b.rows {
        let band = AgeBand::parse(&r.band).ok_or_else(|| {
            CoreError::invalid("band", "infant, toddler, three, four_five or school_age")
        })?;
        if rows.iter().any(|x: &RatioRule| x.band == band) {
            return Err(CoreError::invalid("band", format!("{} is given twice", r.band)).into());
        }
        rows.push(RatioRule::new(band, r.children_per_staff, r.max_group));
    }
    let t = st
        .core
        .attendance()
        .set_ratio_table(&actor, &rows, b.version)
        .await?;
    Ok(Reply(table_json(&t)))
}
