//! Sign-in sheets (`/attendance/export`): choose the days and the room, read the sheet as a
//! printable page, or download it as CSV. Each sheet handed over is a data export in the audit
//! trail; CSV cells that a spreadsheet would run as formulas are defused.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use kinfold_core::attendance::{spreadsheet_safe, Sheet, MAX_DAYS};
use kinfold_core::CoreError;
use maud::html;
use serde::Deserialize;

use crate::console::form::{form_error, Field};
use crate::console::pages::{error_page, fail, page, to_login};
use crate::console::Page;
use crate::{ApiError, AppState};

#[derive(Deserialize, Default)]
pub struct SheetQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    classroom: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

const FIELDS: [&str; 3] = ["from", "to", "classroom"];

pub async fn export(State(st): State<AppState>, p: Page, Query(q): Query<SheetQuery>) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let rooms = match st.core.classrooms().list_classrooms(a).await {
        Ok(r) => r,
        Err(e) => return fail(&p, "Sign-in sheets", e),
    };
    let today = match st.core.attendance().day_now(&a.scope).await {
        Ok(d) => d,
        Err(e) => return fail(&p, "Sign-in sheets", e),
    };
    let csv = match q.format.as_deref() {
        None | Some("" | "html") => false,
        Some("csv") => true,
        Some(_) => {
            return fail(
                &p,
                "Sign-in sheets",
                CoreError::invalid("format", "csv or html"),
            );
        }
    };
    let asked = q.from.is_some() || q.to.is_some();
    let from = q.from.clone().unwrap_or_else(|| today.clone());
    let to = q.to.clone().unwrap_or_else(|| today.clone());
    let classroom = q.classroom.clone().unwrap_or_default();
    let mut err = None;
    let mut sheet = None;
    if asked || csv {
        let format = if csv { "csv" } else { "html" };
        match st
            .core
            .attendance()
            .sign_in_sheet(a, &from, &to, Some(&classroom), format)
            .await
        {
            Ok(s) if csv => return csv_response(&s),
            Ok(s) => sheet = Some(s),
            Err(e) => err = Some(ApiError::from(e)),
        }
    }
    let ids: Vec<String> = rooms.iter().map(|r| r.id.to_string()).collect();
    let mut options: Vec<(&str, &str)> = vec![("", "Every room")];
    options.extend(
        ids.iter()
            .map(String::as_str)
            .zip(rooms.iter().map(|r| r.name.as_str())),
    );
    let field = |name, label, value| Field {
        form: "sheet",
        name,
        label,
        value,
        err: err.as_ref(),
    };
    let body = html! {
        h1 { "Sign-in sheets" }
        form.wide.no-print method="get" action="/attendance/export" #sheet-form novalidate {
            (form_error(err.as_ref(), &FIELDS))
            div.row {
                div { (field("from", "From", &from).input("date", true, None)) }
                div { (field("to", "To", &to).input("date", true, None)) }
            }
            (field("classroom", "Room", &classroom).select(&options))
            p.hint { "At most " (MAX_DAYS) " days on one sheet. Every sheet you open or download is recorded in the audit log." }
            button type="submit" name="format" value="html" { "Show the sheet" }
            " "
            button type="submit" name="format" value="csv" { "Download CSV" }
        }
        @if let Some(s) = &sheet {
            section #sheet aria-labelledby="sheet-title" {
                h2 #sheet-title {
                    (s.classroom.as_deref().unwrap_or("Every room")) ": " (s.from)
                    @if s.to != s.from { " to " (s.to) }
                }
                p.muted { "Times in " (s.time_zone) ". " (s.rows.len()) " entries." }
                @if s.rows.is_empty() { p { "No check-in or check-out on these days." } } @else {
                    div.table-wrap {
                        table.stack #sheet-rows role="table" {
                            thead role="rowgroup" { tr role="row" {
                                th scope="col" role="columnheader" { "Day" } th scope="col" role="columnheader" { "Time" } th scope="col" role="columnheader" { "Child" }
                                th scope="col" role="columnheader" { "Room" } th scope="col" role="columnheader" { "In/out" } th scope="col" role="columnheader" { "Dropped off / picked up by" }
                                th scope="col" role="columnheader" { "Recorded by" } th.signature scope="col" role="columnheader" { "Signature" }
                            } }
                            tbody role="rowgroup" {
                                @for r in &s.rows {
                                    tr role="row" {
                                        td role="cell" data-label="Day" { (r.day) } td role="cell" data-label="Time" { (r.time) }
                                        td role="cell" data-label="Child" { (r.child) } td role="cell" data-label="Room" { (r.classroom) }
                                        td role="cell" data-label="In/out" { @if r.kind == "check_in" { "in" } @else { "out" } }
                                        td role="cell" data-label="Dropped off / picked up by" { (r.person) @if !r.relation.is_empty() { " (" (r.relation) ")" } }
                                        td role="cell" data-label="Recorded by" { (r.recorded_by) @if !r.note.is_empty() { br; span.muted { (r.note) } } }
                                        td.signature role="cell" {}
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    match err {
        Some(e) => error_page(&p, e, "Sign-in sheets", body),
        None => page(&p, StatusCode::OK, "Sign-in sheets", body),
    }
}

fn csv_response(s: &Sheet) -> Response {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "day",
        "time",
        "time_zone",
        "child",
        "classroom",
        "kind",
        "person",
        "relation",
        "recorded_by",
        "note",
    ];
    let mut written = w.write_record(header);
    for r in &s.rows {
        if written.is_err() {
            break;
        }
        let cells = [
            r.day.as_str(),
            r.time.as_str(),
            s.time_zone.as_str(),
            r.child.as_str(),
            r.classroom.as_str(),
            r.kind,
            r.person.as_str(),
            r.relation.as_str(),
            r.recorded_by.as_str(),
            r.note.as_str(),
        ];
        written = w.write_record(cells.iter().map(|c| spreadsheet_safe(c).into_owned()));
    }
    let bytes = written
        .map_err(|e| e.to_string())
        .and_then(|()| w.into_inner().map_err(|e| e.to_string()));
    match bytes {
        Ok(bytes) => {
            let name = format!("sign-in-sheet-{}-{}.csv", s.from, s.to);
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => {
            ApiError::from(CoreError::Internal(format!("writing a CSV sheet: {e}"))).into_response()
        }
    }
}
