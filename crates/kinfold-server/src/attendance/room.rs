//! The room roster, the check-in kiosk (`/rooms/{id}`): one line per child placed in the room,
//! checked in or out with one tap, choosing who dropped off or picked up.
//!
//! A refused pickup shows the desk what to do next (the instruction comes from core's
//! `Refusal`), and core alerts the administrators. Allergies show as a flag, never spelled out:
//! the screen is shared.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kinfold_core::attendance::{day_label, local_time, AllergyFlag, Choice, RoomLine, RoomRoster};
use kinfold_core::CoreError;
use kinfold_crypto::password::Password;
use kinfold_model::{ChildId, ClassroomId, GuardianId, Person, PickupId};
use maud::{html, Markup};
use serde::Deserialize;

use crate::console::pages::{error_box, error_page, fail, page, to_login};
use crate::console::Page;
use crate::extract::Form;
use crate::{ApiError, AppState};

/// The `person` value of a form: `guardian:ID`, `pickup:ID`, or `unlisted`.
pub(crate) fn person_value(p: Person) -> String {
    match p {
        Person::Guardian(g) => format!("guardian:{g}"),
        Person::AuthorizedPickup(k) => format!("pickup:{k}"),
    }
}

/// What a form's `person` names.
pub(crate) enum Chosen {
    Person(Person),
    /// "Someone not on this list" (check-out only).
    Unlisted,
}

pub(crate) fn parse_person(raw: &str) -> Option<Chosen> {
    if raw == "unlisted" {
        return Some(Chosen::Unlisted);
    }
    match raw.split_once(':') {
        Some(("guardian", g)) => GuardianId::parse(g).map(|g| Chosen::Person(Person::Guardian(g))),
        Some(("pickup", k)) => {
            PickupId::parse(k).map(|k| Chosen::Person(Person::AuthorizedPickup(k)))
        }
        _ => None,
    }
}

/// The options of a "dropped off / picked up by" select: every guardian and authorized pickup,
/// those who may not take the child marked as such, and, for a check-out, "someone not on this
/// list".
/// The people a desk chooses from; `chosen` (a value as sent) is selected, as after a refusal.
pub(crate) fn person_options(
    choices: &[Choice],
    checking_out: bool,
    chosen: Option<&str>,
) -> Markup {
    html! {
        @for c in choices {
            @let value = person_value(c.person);
            option value=(value) selected[chosen == Some(value.as_str())]
                data-passphrase=[matches!(c.person, Person::AuthorizedPickup(_)).then_some("")] {
                (c.name) " (" (c.relation) ")"
                @if let Some(w) = c.warning { " — " (w.to_uppercase()) }
                @if let Some(id) = &c.photo_id { " — ask for: " (id) }
            }
        }
        @if checking_out { option value="unlisted" selected[chosen == Some("unlisted")] { "Someone not on this list" } }
    }
}

#[derive(Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    child: Option<String>,
    #[serde(default)]
    clock: Option<String>,
}

pub async fn room(
    State(st): State<AppState>,
    p: Page,
    Path(id): Path<String>,
    Query(d): Query<Done>,
) -> Response {
    let done = match d.done.as_deref() {
        Some("in") => Some("checked in"),
        Some("out") => Some("checked out"),
        _ => None,
    };
    let child = d.child.as_deref().and_then(ChildId::parse);
    let clock = super::clock_notice(d.clock.as_deref());
    render(&st, &p, &id, done.zip(child), None, None, clock).await
}

#[derive(Deserialize)]
pub struct RoomForm {
    child: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    passphrase: String,
    action: String,
}

pub async fn record(
    State(st): State<AppState>,
    p: Page,
    Path(id): Path<String>,
    Form(f): Form<RoomForm>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let Some(child) = ChildId::parse(&f.child) else {
        return fail(&p, "Room", CoreError::NotFound("child"));
    };
    // The child's own checks (policy and scope) hold whatever room the form came from; the
    // room itself must be one of the center's rooms the actor sees (another center's room is
    // not found, and nothing is recorded), since the answer goes back to it.
    let Some(room) = ClassroomId::parse(&id) else {
        return fail(&p, "Room", CoreError::NotFound("classroom"));
    };
    match st.core.classrooms().list_classrooms(a).await {
        Ok(rooms) if rooms.iter().any(|c| c.id == room) => {}
        Ok(_) => return fail(&p, "Room", CoreError::NotFound("classroom")),
        Err(e) => return fail(&p, "Room", e),
    }
    let info = &p.client.info;
    let result = match (f.action.as_str(), parse_person(&f.person)) {
        (_, None) => Err(CoreError::invalid(
            "person",
            "choose who drops off or picks up",
        )),
        ("check_in", Some(Chosen::Person(person))) => st
            .core
            .attendance()
            .check_in(a, child, person, info)
            .await
            .map(|_| "in"),
        ("check_in", Some(Chosen::Unlisted)) => Err(CoreError::invalid(
            "person",
            "a child is dropped off by a guardian or authorized pickup on file",
        )),
        ("check_out", Some(Chosen::Person(person))) => {
            let pass = Some(f.passphrase)
                .filter(|s| !s.is_empty())
                .map(Password::new);
            st.core
                .attendance()
                .check_out(a, child, person, pass, info)
                .await
                .map(|_| "out")
        }
        ("check_out", Some(Chosen::Unlisted)) => st
            .core
            .attendance()
            .refuse_unlisted(a, child, info)
            .await
            .map(|()| "out"),
        _ => Err(CoreError::invalid("action", "check_in or check_out")),
    };
    match result {
        Ok(done) => Redirect::to(&format!("/rooms/{id}?done={done}&child={child}")).into_response(),
        Err(e) => {
            let chosen = Some((child, f.person.as_str()));
            render(
                &st,
                &p,
                &id,
                None,
                Some((child, ApiError::from(e))),
                chosen,
                None,
            )
            .await
        }
    }
}

async fn render(
    st: &AppState,
    p: &Page,
    id: &str,
    done: Option<(&str, ChildId)>,
    err: Option<(ChildId, ApiError)>,
    chosen: Option<(ChildId, &str)>,
    clock: Option<&str>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let Some(room) = ClassroomId::parse(id) else {
        return fail(p, "Room", CoreError::NotFound("classroom"));
    };
    let roster = match st.core.attendance().room(a, room, &p.client.info).await {
        Ok(r) => r,
        Err(e) => return fail(p, "Room", e),
    };
    let my_day = match st.core.attendance().my_day(a).await {
        Ok(d) => d,
        Err(e) => return fail(p, "Room", e),
    };
    let rooms = st
        .core
        .classrooms()
        .list_classrooms(a)
        .await
        .unwrap_or_default();
    let name_of = |c: ChildId| {
        roster
            .lines
            .iter()
            .find(|l| l.child_id == c)
            .map(|l| l.called.clone())
            .unwrap_or_default()
    };
    let notice = done.map(|(what, c)| format!("{} {what}.", name_of(c)));
    let refused = err.as_ref().and_then(|(c, e)| match e {
        ApiError::Core(CoreError::PickupRefused(r)) => Some((name_of(*c), *r)),
        _ => None,
    });
    let title = roster.room.name.clone();
    let body = html! {
        h1 { (roster.room.name) }
        p #room-summary.muted {
            strong { (roster.present()) } " present of " (roster.lines.len()) " on the roster"
            @if let Some(cap) = roster.room.capacity { " · licensed for " (cap) }
            " · " (day_label(&roster.day))
        }
        (super::ratio_line(&roster.ratio))
        (super::clock_form(&my_day, &rooms, Some(roster.room.id), "room"))
        @if let Some(n) = clock { p role="status" .notice #clock-notice { (n) } }
        @if let Some(n) = &notice { p role="status" .notice #room-notice { (n) } }
        @if let Some((who, r)) = &refused {
            div.alert role="alert" #pickup-refused {
                h2 { "Do not release " (who) }
                p { "Pickup refused: " (r.reason()) "." }
                p { (r.what_to_do()) }
            }
        } @else if let Some((_, e)) = &err { (error_box(e)) }
        @if roster.lines.is_empty() {
            p.muted { "No enrolled child is placed in this room." }
        }
        ul.roster {
            @for l in &roster.lines {
                (line(&roster, l, chosen.filter(|(c, _)| *c == l.child_id).map(|(_, p)| p)))
            }
        }
    };
    match err {
        Some((_, e)) => error_page(p, e, &title, body),
        None => page(p, StatusCode::OK, &title, body),
    }
}

fn line(roster: &RoomRoster, l: &RoomLine, chosen: Option<&str>) -> Markup {
    let at = |ms: Option<i64>| ms.map(|t| local_time(&roster.time_zone, t));
    let out = l.status == "present";
    let (verb, label, action) = if out {
        ("Picked up by", "Check out", "check_out")
    } else {
        ("Dropped off by", "Check in", "check_in")
    };
    let select_id = format!("person-{}", l.child_id);
    let pass_id = format!("pass-{}", l.child_id);
    html! {
        li.roster-line data-status=(l.status) id={ "child-" (l.child_id) } {
            div.who {
                a.name href={ "/children/" (l.child_id) } { (l.called) " " (l.family_name) }
                @match l.allergy {
                    Some(AllergyFlag::Severe) => { span.flag.severe role="img" aria-label="Severe allergy: ask the room's teacher before any food or medicine" title="Severe allergy" { "⚠" } }
                    Some(AllergyFlag::Some) => { span.flag role="img" aria-label="Allergy on file" title="Allergy on file" { "!" } }
                    _ => {}
                }
                span.badge.status { (l.status.replace('_', " ")) }
                span.muted.times {
                    @if let Some(t) = at(l.checked_in_at_ms) { "in " (t) }
                    @if let Some(t) = at(l.checked_out_at_ms) { " · out " (t) }
                }
            }
            @if l.choices.is_empty() {
                p.muted { "No guardian or authorized pickup on file: an administrator adds one on the child's page." }
            } @else {
                form.kiosk method="post" action={ "/rooms/" (roster.room.id) "/attendance" } {
                    input type="hidden" name="child" value=(l.child_id);
                    input type="hidden" name="action" value=(action);
                    label for=(select_id) { (verb) }
                    select id=(select_id) name="person" required { (person_options(&l.choices, out, chosen)) }
                    @if out && l.choices.iter().any(|c| matches!(c.person, Person::AuthorizedPickup(_))) {
                        // Shown while an authorized pickup is chosen (app.css, `:has()`);
                        // a browser without it shows it always.
                        div.passphrase {
                            label for=(pass_id) { "Passphrase (authorized pickups)" }
                            input id=(pass_id) name="passphrase" type="password" autocomplete="off";
                        }
                    }
                    button type="submit" { (label) " " (l.called) }
                }
            }
        }
    }
}
