//! Console pages for attendance: today's roster, and check-in and check-out from a child's page.

use crate::children::pages::{render_detail, render_detail_with, room_name};
use crate::console::pages::{fail, page, to_login};
use crate::console::Page;
use crate::extract::Form;
use crate::{ApiError, AppState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kinfold_core::attendance::local_time;
use kinfold_core::CoreError;
use kinfold_crypto::password::Password;
use kinfold_model::ChildId;

use super::room::{parse_person, Chosen};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct AttendanceForm {
    person: String,
    #[serde(default)]
    passphrase: String,
    action: String,
}

pub async fn attendance(
    State(st): State<AppState>,
    p: Page,
    Path(id): Path<String>,
    Form(f): Form<AttendanceForm>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let Some(child) = ChildId::parse(&id) else {
        return fail(&p, "Child", CoreError::NotFound("child"));
    };
    let person = match parse_person(&f.person) {
        Some(Chosen::Person(person)) => person,
        Some(Chosen::Unlisted) if f.action == "check_out" => {
            let e = st
                .core
                .attendance()
                .refuse_unlisted(a, child, &p.client.info)
                .await
                .err()
                .map(ApiError::from);
            return render_detail(&st, &p, &id, None, e).await;
        }
        _ => {
            let e = ApiError::from(CoreError::invalid(
                "person",
                "choose who drops off or picks up",
            ));
            return render_detail(&st, &p, &id, None, Some(e)).await;
        }
    };
    let result = match f.action.as_str() {
        "check_in" => st
            .core
            .attendance()
            .check_in(a, child, person, &p.client.info)
            .await
            .map(|done| match done.out_of_ratio {
                Some(r) => format!(
                    "Checked in. {} is now out of ratio: {}. The administrators have been alerted.",
                    r.room.name,
                    r.problem().unwrap_or_default()
                ),
                None => "Checked in.".to_owned(),
            }),
        "check_out" => {
            let pass = Some(f.passphrase)
                .filter(|s| !s.is_empty())
                .map(Password::new);
            st.core
                .attendance()
                .check_out(a, child, person, pass, &p.client.info)
                .await
                .map(|_| "Checked out.".to_owned())
        }
        _ => Err(CoreError::invalid("action", "check_in or check_out")),
    };
    match result {
        Ok(notice) => render_detail(&st, &p, &id, Some(&notice), None).await,
        Err(e) => render_detail(&st, &p, &id, None, Some(ApiError::from(e))).await,
    }
}

/// Today's roster, for front desk and teachers.
pub async fn roster(State(st): State<AppState>, p: Page) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let lines = match st.core.attendance().roster(a, None).await {
        Ok(l) => l,
        Err(e) => return fail(&p, "Attendance", e),
    };
    let rooms = st
        .core
        .classrooms()
        .list_classrooms(a)
        .await
        .unwrap_or_default();
    let tz = st.core.tenants().time_zone(a).await;
    let body = html! {
        h1 { "Attendance today" }
        p.muted { "Times in " (tz) "." }
        @if !rooms.is_empty() {
            nav aria-label="Rooms" #room-links {
                p { "Check children in and out from their room's roster: "
                    @for (i, r) in rooms.iter().enumerate() { @if i > 0 { ", " } a href={ "/rooms/" (r.id) } { (r.name) } } "." }
            }
        }
        p.muted { "Or open a child to check them in or out. " a href="/attendance/export" { "Sign-in sheets" } " for any days, printable or as CSV." }
        div.table-wrap {
            table #roster {
                thead { tr { th scope="col" { "Child" } th scope="col" { "Classroom" } th scope="col" { "Status" } th scope="col" { "In" } th scope="col" { "Out" } } }
                tbody {
                    @for l in &lines {
                        tr {
                            td { a href={ "/children/" (l.child_id) } { (l.given_name) " " (l.family_name) } }
                            td { (room_name(&rooms, l.classroom_id)) }
                            td.status { (l.status.replace('_', " ")) }
                            td { (l.checked_in_at_ms.map(|t| local_time(&tz, t)).unwrap_or_default()) }
                            td { (l.checked_out_at_ms.map(|t| local_time(&tz, t)).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    page(&p, StatusCode::OK, "Attendance", body)
}

/// A correction as its form sent it, refused: drawn again, open, with the error beside its
/// field.
pub(crate) struct SentCorrection {
    pub entry: uuid::Uuid,
    pub time: String,
    pub reason: String,
}

/// The day's entries of a child, corrections beside what they correct, each original with a
/// form to correct its time (`failed`: the one refused, as sent, with its error).
pub(crate) fn day_history(
    child: ChildId,
    events: &[kinfold_model::AttendanceEvent],
    choices: &[kinfold_core::attendance::Choice],
    tz: &str,
    failed: Option<(&SentCorrection, &ApiError)>,
) -> maud::Markup {
    // As the record named them then; else (entries from before names were kept) as it names
    // them now.
    let who = |e: &kinfold_model::AttendanceEvent| match &e.named_as {
        Some(n) => n.name.clone(),
        None => choices
            .iter()
            .find(|c| c.person == e.person)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| "someone no longer on file".into()),
    };
    let verb = |k: kinfold_model::AttendanceKind| match k {
        kinfold_model::AttendanceKind::CheckIn => "Checked in",
        kinfold_model::AttendanceKind::CheckOut => "Checked out",
    };
    html! {
        @if !events.is_empty() {
            h2 #today-title { "Today" }
            ul #day-history {
                @for e in events {
                    li {
                        @match &e.correction {
                            None => {
                                (verb(e.kind)) " at " strong { (local_time(tz, e.at_ms)) } " with " (who(e)) "."
                                @let sent = failed.filter(|(c, _)| c.entry == e.id);
                                @let form = format!("correct-{}", e.id);
                                @let field = |name, label, value| crate::console::form::Field {
                                    form: &form,
                                    name,
                                    label,
                                    value,
                                    err: sent.map(|(_, err)| err),
                                };
                                details open[sent.is_some()] {
                                    summary { "Correct this time" }
                                    form.row method="post" action={ "/children/" (child) "/attendance/" (e.id) "/correction" } {
                                        div { (field("time", "Right time", sent.map_or("", |(c, _)| c.time.as_str())).input("time", true, None)) }
                                        div { (field("reason", "Why", sent.map_or("", |(c, _)| c.reason.as_str())).input("text", true, None)) }
                                        div { button type="submit" { "Save the correction" } }
                                    }
                                }
                            }
                            Some(c) => {
                                span.muted {
                                    "Correction: " (verb(e.kind).to_lowercase()) " at " strong { (local_time(tz, e.at_ms)) }
                                    " (" (c.reason) ")."
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct CorrectionForm {
    #[serde(default)]
    time: String,
    #[serde(default)]
    reason: String,
}

pub async fn correct(
    State(st): State<AppState>,
    p: Page,
    Path((id, entry)): Path<(String, String)>,
    Form(f): Form<CorrectionForm>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let (Some(child), Ok(entry)) = (ChildId::parse(&id), uuid::Uuid::parse_str(&entry)) else {
        return fail(&p, "Child", CoreError::NotFound("attendance entry"));
    };
    let sent = SentCorrection {
        entry,
        time: f.time.clone(),
        reason: f.reason.clone(),
    };
    match st
        .core
        .attendance()
        .correct(a, child, entry, &f.time, &f.reason)
        .await
    {
        Ok(_) => {
            render_detail(
                &st,
                &p,
                &id,
                Some("Corrected: the first entry stands beside the correction."),
                None,
            )
            .await
        }
        Err(e) => {
            let e = ApiError::from(e);
            render_detail_with(&st, &p, &id, None, Some(e), Some(&sent)).await
        }
    }
}
