//! Live ratios and staff clock-ins in the console: the board (`/ratios`), the center's ratio
//! table (`/admin/ratios`), and the clock-in form every staff member has on their home page
//! and on a room's roster (`POST /staff/clock`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kinfold_core::attendance::ratios::field;
use kinfold_core::attendance::{RatioSettings, RoomRatio, StaffDay};
use kinfold_core::{Actor, CoreError};
use kinfold_model::{AgeBand, Classroom, ClassroomId, ClockKind, RatioRule, Role};
use maud::{html, Markup};
use serde::Deserialize;

use super::staff_correction::CorrectionForm;
use crate::console::form::{drawn_version, form_error, Field};
use crate::console::pages::{error_page, fail, page, to_login};
use crate::console::Page;
use crate::extract::{Form, Query};
use crate::{ApiError, AppState};

/// A room's ratio as one line of text, and its problem as an alert.
pub(crate) fn ratio_line(r: &RoomRatio) -> Markup {
    html! {
        p.ratio data-room=(r.room.id) {
            strong { (r.children) } " children · "
            strong { (r.staff.len()) } " staff clocked in · needs " (r.needed)
            @if let Some(m) = r.max_group { " · group of at most " (m) }
            @match (r.problem(), r.headroom) {
                (None, Some(0)) => { " · " strong { "at the limit" } }
                (None, Some(1)) => { " · room for 1 more child" }
                (None, Some(n)) => { " · room for " (n) " more children" }
                _ => {}
            }
        }
        @if let Some(problem) = r.problem() {
            p.alert.ratio-alert role="alert" { strong { "Out of ratio: " } (problem) "." }
        }
    }
}

/// The clock-in form for the actor's day: clocked in somewhere (a button to clock out), or
/// not (a room to choose, or `here`, and a button). `back` is where the form returns.
pub(crate) fn clock_form(
    day: &StaffDay,
    rooms: &[Classroom],
    here: Option<ClassroomId>,
    back: &str,
) -> Markup {
    let name = |id: ClassroomId| {
        rooms
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| "a room".into())
    };
    html! {
        @match day.room {
            Some(room) => {
                form.clock method="post" action="/staff/clock" {
                    input type="hidden" name="classroom_id" value=(room);
                    input type="hidden" name="action" value="clock_out";
                    input type="hidden" name="back" value=(back);
                    p #clocked-in { "You are clocked in to " strong { (name(room)) } "." }
                    button type="submit" { "Clock out of " (name(room)) }
                }
            }
            None => {
                @if let Some(room) = here {
                    form.clock method="post" action="/staff/clock" {
                        input type="hidden" name="classroom_id" value=(room);
                        input type="hidden" name="action" value="clock_in";
                        input type="hidden" name="back" value=(back);
                        p #clocked-in.muted { "You are not clocked in." }
                        button type="submit" { "Clock in to " (name(room)) }
                    }
                } @else if !rooms.is_empty() {
                    form.clock method="post" action="/staff/clock" {
                        input type="hidden" name="action" value="clock_in";
                        input type="hidden" name="back" value=(back);
                        p #clocked-in.muted { "You are not clocked in." }
                        label for="clock-room" { "Room" }
                        select #clock-room name="classroom_id" {
                            @for r in rooms { option value=(r.id) { (r.name) } }
                        }
                        button type="submit" { "Clock in" }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ClockForm {
    #[serde(default)]
    classroom_id: String,
    action: String,
    #[serde(default)]
    back: String,
}

/// Clocks the signed-in staff member in or out, then goes back to the page the form was on
/// (their home page, or the room's roster); a clock-out that leaves the room out of ratio
/// says so there.
pub async fn clock(State(st): State<AppState>, p: Page, Form(f): Form<ClockForm>) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let Some(room) = ClassroomId::parse(&f.classroom_id) else {
        return fail(&p, "Clock in or out", CoreError::NotFound("classroom"));
    };
    let Some(kind) = ClockKind::parse(&f.action) else {
        return fail(
            &p,
            "Clock in or out",
            CoreError::invalid("action", "clock_in or clock_out"),
        );
    };
    let title = match kind {
        ClockKind::ClockIn => "Clock in",
        ClockKind::ClockOut => "Clock out",
    };
    match st.core.attendance().clock(a, room, kind).await {
        Ok(done) => {
            let back = if f.back == "room" {
                format!("/rooms/{room}")
            } else {
                "/".to_owned()
            };
            let what = match (kind, done.out_of_ratio.is_some()) {
                (ClockKind::ClockIn, _) => "clocked_in",
                (ClockKind::ClockOut, false) => "clocked_out",
                (ClockKind::ClockOut, true) => "clocked_out_ratio",
            };
            let sep = if back.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{back}{sep}clock={what}")).into_response()
        }
        Err(e) => fail(&p, title, e),
    }
}

/// The notice a page shows after the clock form brought the reader back.
pub(crate) fn clock_notice(code: Option<&str>) -> Option<&'static str> {
    match code {
        Some("clocked_in") => Some("Clocked in."),
        Some("clocked_out") => Some("Clocked out."),
        Some("clocked_out_ratio") => {
            Some("Clocked out. The room is now out of ratio: the administrators have been alerted.")
        }
        Some("corrected") => Some("Correction recorded."),
        _ => None,
    }
}

/// What a redirect back to the board says (`?clock=`).
#[derive(Deserialize)]
pub struct BoardQuery {
    #[serde(default)]
    clock: Option<String>,
}

/// The ratio board: every room the reader works with, now.
pub async fn board(State(st): State<AppState>, p: Page, Query(q): Query<BoardQuery>) -> Response {
    render_board(&st, &p, clock_notice(q.clock.as_deref()), None).await
}

/// The board, with `notice`, or with an administrator's correction that came back refused
/// (its fields as sent, the error beside its field).
pub(crate) async fn render_board(
    st: &AppState,
    p: &Page,
    notice: Option<&str>,
    refused: Option<(&CorrectionForm, ApiError)>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let rooms = match st.core.attendance().ratios(a).await {
        Ok(r) => r,
        Err(e) => return fail(p, "Ratios", e),
    };
    let (sent, err) = match refused {
        Some((f, e)) => (Some(f), Some(e)),
        None => (None, None),
    };
    let correction = match super::staff_correction::section(st, a, sent, err.as_ref()).await {
        Ok(c) => c,
        Err(e) => return fail(p, "Ratios", e),
    };
    let body = html! {
        h1 { "Ratios now" }
        @if let Some(n) = notice { p.notice #board-notice role="status" { (n) } }
        p.muted { "Children present, staff clocked in, and the staff the children need by their ages today." }
        @if rooms.first().is_some_and(|r| !r.measured) {
            p.notice #not-measured { "No staff member has clocked in today, so no room is measured against its ratio yet. Clock in from your home page or a room's roster." }
        }
        @if rooms.is_empty() { p.muted { "No room to show." } }
        ul.roster #ratio-board {
            @for r in &rooms {
                li.roster-line data-status=(if r.problem().is_some() { "out" } else { "ok" }) {
                    a.name href={ "/rooms/" (r.room.id) } { (r.room.name) }
                    (ratio_line(r))
                }
            }
        }
        @if a.role == Role::Administrator {
            p { a href="/admin/ratios" { "Edit the center's ratio table" } }
        }
        (correction)
    };
    match err {
        Some(e) => error_page(p, e, "Ratios", body),
        None => page(p, StatusCode::OK, "Ratios", body),
    }
}

/// The ratio table form's fields: each band's children per staff member and largest group.
#[derive(Deserialize, Default)]
pub struct TableForm {
    #[serde(flatten)]
    values: std::collections::HashMap<String, String>,
}

fn table_values(t: &RatioSettings) -> TableForm {
    let mut values = std::collections::HashMap::new();
    values.insert("version".to_owned(), t.version.to_string());
    for r in &t.table.0 {
        values.insert(
            field(r.band, false).to_owned(),
            r.children_per_staff.to_string(),
        );
        values.insert(field(r.band, true).to_owned(), r.max_group.to_string());
    }
    TableForm { values }
}

async fn render_table(
    st: &AppState,
    p: &Page,
    a: &Actor,
    form: Option<&TableForm>,
    saved: bool,
    err: Option<ApiError>,
) -> Response {
    let stored = match st.core.attendance().ratio_table(a).await {
        Ok(t) => table_values(&t),
        Err(e) => return fail(p, "Ratio table", e),
    };
    if a.role != Role::Administrator {
        return fail(
            p,
            "Ratio table",
            CoreError::Forbidden("administrators only"),
        );
    }
    let form = crate::console::form::redrawn(form, &stored, err.as_ref());
    let names: Vec<&str> = AgeBand::ALL
        .iter()
        .flat_map(|b| [field(*b, false), field(*b, true)])
        .collect();
    let value = |name: &str| form.values.get(name).cloned().unwrap_or_default();
    let body = html! {
        h1 { "Ratio table" }
        @if saved { p.notice role="status" { "Saved." } }
        p.muted { "How many children one staff member may look after, and the largest group, by age. The default is the CFOC 1.1.1.2 table; check your state's licensing rules." }
        form.wide method="post" action="/admin/ratios" #ratio-form novalidate {
            (form_error(err.as_ref(), &names))
            input type="hidden" name="version" value=(value("version"));
            @for band in AgeBand::ALL {
                fieldset {
                    legend { (band.label()) }
                    div.row {
                        div { (Field { form: "ratios", name: field(band, false), label: "Children per staff member", value: &value(field(band, false)), err: err.as_ref() }.input("number", true, None)) }
                        div { (Field { form: "ratios", name: field(band, true), label: "Largest group", value: &value(field(band, true)), err: err.as_ref() }.input("number", true, None)) }
                    }
                }
            }
            button type="submit" { "Save" }
        }
    };
    match err {
        Some(e) => error_page(p, e, "Ratio table", body),
        None => page(p, StatusCode::OK, "Ratio table", body),
    }
}

#[derive(Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

pub async fn table(
    State(st): State<AppState>,
    p: Page,
    axum::extract::Query(d): axum::extract::Query<Done>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    render_table(&st, &p, a, None, d.done.as_deref() == Some("saved"), None).await
}

pub async fn save_table(State(st): State<AppState>, p: Page, Form(f): Form<TableForm>) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let mut rows = Vec::new();
    for band in AgeBand::ALL {
        let number = |group: bool| -> Result<u32, CoreError> {
            let name = field(band, group);
            let sent = f.values.get(name).map_or("", String::as_str);
            kinfold_core::validate::whole_number(name, sent)?
                .ok_or_else(|| CoreError::invalid(name, "must be a whole number"))
        };
        match number(false).and_then(|per| Ok(RatioRule::new(band, per, number(true)?))) {
            Ok(r) => rows.push(r),
            Err(e) => return render_table(&st, &p, a, Some(&f), false, Some(e.into())).await,
        }
    }
    let version = drawn_version(f.values.get("version").map_or("", String::as_str));
    match st
        .core
        .attendance()
        .set_ratio_table(a, &rows, version)
        .await
    {
        Ok(_) => Redirect::to("/admin/ratios?done=saved").into_response(),
        Err(e) => render_table(&st, &p, a, Some(&f), false, Some(e.into())).await,
    }
}
