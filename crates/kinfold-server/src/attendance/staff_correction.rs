//! An administrator's correction of a staff member's clock-in or clock-out, on the ratio board
//! (`POST /staff/clock/correct`): a new entry that names the staff member and carries a reason,
//! never an edit of the one before (the API's `user_id` and `reason`).

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use kinfold_core::{Actor, CoreError};
use kinfold_model::{ClassroomId, ClockKind, Role, UserId};
use maud::{html, Markup};
use serde::Deserialize;

use crate::console::form::{form_error, Field};
use crate::console::pages::to_login;
use crate::console::Page;
use crate::extract::Form;
use crate::{ApiError, AppState};

/// The correction form's fields, as sent (kept when it comes back with an error).
#[derive(Deserialize, Default)]
pub struct CorrectionForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    classroom_id: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
}

const FIELDS: [&str; 4] = ["user_id", "classroom_id", "action", "reason"];

/// The form, for administrators: whom, which room, in or out, and why. Nothing for others.
/// A failure to list the staff or rooms is the page's, not an empty select.
pub(crate) async fn section(
    st: &AppState,
    a: &Actor,
    sent: Option<&CorrectionForm>,
    err: Option<&ApiError>,
) -> Result<Markup, CoreError> {
    if a.role != Role::Administrator {
        return Ok(html! {});
    }
    let classrooms = st.core.classrooms();
    let staff = classrooms.list_staff(a).await?;
    let rooms = classrooms.all_classrooms(a).await?;
    let people: Vec<(String, String)> = staff
        .iter()
        .filter(|(u, _)| u.role.is_staff() && u.is_active())
        // Name and role: short enough for a phone's select.
        .map(|(u, _)| {
            let role = crate::tenants::people::role_label(u.role).to_lowercase();
            (u.id.to_string(), format!("{} ({role})", u.name))
        })
        .collect();
    // Archived rooms too: a clock-out forgotten there is corrected like any other.
    let open: Vec<(String, String)> = rooms
        .iter()
        .map(|r| {
            let name = if r.archived {
                format!("{} (archived)", r.name)
            } else {
                r.name.clone()
            };
            (r.id.to_string(), name)
        })
        .collect();
    let blank = CorrectionForm::default();
    let f = sent.unwrap_or(&blank);
    let field = |name, label, value| Field {
        form: "correct",
        name,
        label,
        value,
        err,
    };
    Ok(html! {
        section.card aria-labelledby="correct-title" {
            h2 #correct-title { "Correct a staff record" }
            p.muted { "For a clock-in or clock-out someone forgot or got wrong. It is added as a new entry with your reason; the earlier one stays." }
            form method="post" action="/staff/clock/correct" #correct-clock novalidate {
                (form_error(err, &FIELDS))
                (field("user_id", "Staff member", &f.user_id).select(&refs(&people)))
                (field("classroom_id", "Room", &f.classroom_id).select(&refs(&open)))
                (field("action", "Record", &f.action).select(&[("clock_in", "Clock in"), ("clock_out", "Clock out")]))
                (field("reason", "Reason", &f.reason).input("text", true, Some("Up to 300 characters, one line.")))
                button type="submit" { "Record the correction" }
            }
        }
    })
}

/// Records an administrator's correction, then shows the board with a notice; a refused one
/// comes back on the board with its fields as sent and the error beside the field.
pub async fn correct(
    State(st): State<AppState>,
    p: Page,
    Form(f): Form<CorrectionForm>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let done = async {
        let user = UserId::parse(&f.user_id)
            .ok_or_else(|| CoreError::invalid("user_id", "choose a staff member"))?;
        let room = ClassroomId::parse(&f.classroom_id)
            .ok_or_else(|| CoreError::invalid("classroom_id", "choose a room"))?;
        let kind = ClockKind::parse(&f.action)
            .ok_or_else(|| CoreError::invalid("action", "clock in or clock out"))?;
        st.core
            .attendance()
            .clock_for(a, user, room, kind, &f.reason)
            .await
    }
    .await;
    match done {
        Ok(_) => Redirect::to("/ratios?clock=corrected").into_response(),
        Err(e) => super::ratio_pages::render_board(&st, &p, None, Some((&f, e.into()))).await,
    }
}

/// Select options borrowed from owned `(value, label)` pairs.
fn refs(list: &[(String, String)]) -> Vec<(&str, &str)> {
    list.iter().map(|(v, l)| (v.as_str(), l.as_str())).collect()
}
