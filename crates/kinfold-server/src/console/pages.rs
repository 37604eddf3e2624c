//! What every console page shares: rendering a page, the error box and error page, the
//! redirect to sign-in; and the home page.

use crate::console::Page;
use crate::{ApiError, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use kinfold_core::policy::{self, Action, Scope};
use maud::{html, Markup};

pub(crate) fn page(p: &Page, status: StatusCode, title: &str, body: Markup) -> Response {
    (status, Html(p.render(title, body).into_string())).into_response()
}

pub(crate) fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

/// An error as the console shows it: the message and the same stable code the API answers;
/// for a refused pickup, also what the desk does next.
pub(crate) fn error_box(e: &ApiError) -> Markup {
    // Every page that refuses a stale change draws the record as it is now (see
    // `form::redrawn`), so the console says so rather than "reload it".
    let message = if e.is_stale() {
        STALE_REDRAWN.to_owned()
    } else {
        e.public_message()
    };
    html! {
        p.error role="alert" { (message) " " span.code { "(" (e.code()) ")" } }
        @if let ApiError::Core(kinfold_core::CoreError::PickupRefused(r)) = e {
            p.error.what-to-do { (r.what_to_do()) }
        }
    }
}

/// What the console says of a change refused as stale.
const STALE_REDRAWN: &str = "Nothing was saved: this record was changed by someone else after \
     you opened it. The page now shows it as it is, with their change; make yours again.";

/// Every console error goes out here, as the API's go out through `ApiError::into_response`:
/// with the error's status, and through `ApiError::finish`, which hands an internal error to
/// the edge to be logged once with the request's ID. `body` shows the error ([`error_box`]);
/// for an internal error the page also names the request's ID, for a report to quote.
pub(crate) fn error_page(p: &Page, e: ApiError, title: &str, body: Markup) -> Response {
    let body = if e.is_internal() {
        html! {
            (body)
            p.muted { "Request ID: " code { (p.client.request_id) } }
        }
    } else {
        body
    };
    let mut resp = page(p, e.status(), title, body);
    e.finish(&mut resp);
    resp
}

/// A page that only shows `e`: under the page's title, with the way back home.
pub(crate) fn fail(p: &Page, title: &str, e: impl Into<ApiError>) -> Response {
    let e = e.into();
    let body = html! {
        h1 { (title) }
        (error_box(&e))
        p { a href="/" { "Back to your home page" } }
    };
    error_page(p, e, title, body)
}

#[derive(serde::Deserialize)]
pub struct HomeQuery {
    #[serde(default)]
    clock: Option<String>,
}

pub async fn home(
    State(st): State<AppState>,
    p: Page,
    axum::extract::Query(q): axum::extract::Query<HomeQuery>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let idle = humantime::format_duration(st.core.settings().idle_timeout_for(&a.tenant.sessions));
    // Read once, for the staff's rooms and the administrators' alerts.
    let today = if policy::scope(a.role, Action::CheckInOut) == Scope::No {
        None
    } else {
        match st.core.attendance().today(a).await {
            Ok(t) => Some(t),
            Err(e) => return fail(&p, "Home", e),
        }
    };
    let ratios = today
        .as_ref()
        .map(|t| t.ratios.as_slice())
        .unwrap_or_default();
    let clock = crate::attendance::clock_notice(q.clock.as_deref());
    let admin = admin_panel(&st, a, ratios).await;
    let today = today_panel(&st, a, today.as_ref(), clock).await;
    let family = family_panel(&st, a).await;
    let body = html! {
        h1 { "Welcome, " (a.user.name) }
        p { "You are signed in to " strong { (a.tenant.name) } " as " (a.role.as_str().replace('_', " ")) "." }
        (family)
        (today)
        (admin)
        ul {
            li { a href="/account/sessions" { "See and end your sessions" } }
            @if policy::scope(a.role, Action::ReadAudit) == Scope::WholeTenant {
                li { a href="/admin/audit" { "Read the audit log" } }
            }
        }
        p.muted { "Signed in as " (a.user.email) ". Your session ends after " (idle) " without activity." }
    };
    page(&p, StatusCode::OK, "Home", body)
}

/// For parents (whose reach is their own children): each child, a link to their page.
async fn family_panel(st: &AppState, a: &kinfold_core::Actor) -> Markup {
    if policy::scope(a.role, Action::ReadChildBasic) != Scope::Own {
        return html! {};
    }
    let Ok(children) = st
        .core
        .children()
        .list_children(a, None, None, None, Some(50))
        .await
    else {
        return html! { p.muted { "Your children could not be read." } };
    };
    html! {
        section aria-labelledby="family-title" {
            h2 #family-title { "Your children" }
            @if children.is_empty() {
                p #no-children { "No child is linked to your account yet. The center links you as a guardian; ask them if this is wrong." }
            } @else {
                ul #your-children {
                    @for c in &children {
                        li {
                            a href={ "/children/" (c.id) } { (c.preferred_name.as_deref().unwrap_or(&c.given_name)) " " (c.family_name) }
                        }
                    }
                }
                p.muted { "Open a child to see what the center holds: contacts, who may pick them up, and health notes. Each time staff open those notes, it is recorded." }
            }
        }
    }
}

/// Today's attendance in the rooms the actor works with (staff who check children in and
/// out): present, gone home and not yet in, per room.
async fn today_panel(
    st: &AppState,
    a: &kinfold_core::Actor,
    today: Option<&kinfold_core::attendance::Today>,
    clock: Option<&str>,
) -> Markup {
    if policy::scope(a.role, Action::CheckInOut) == Scope::No {
        return html! {};
    }
    let (Some(today), Ok(my_day)) = (today, st.core.attendance().my_day(a).await) else {
        return html! { p.muted { "Today's attendance could not be read." } };
    };
    let roster = &today.lines;
    let rooms: Vec<kinfold_model::Classroom> =
        today.ratios.iter().map(|r| r.room.clone()).collect();
    let ratio_of =
        |room: kinfold_model::ClassroomId| today.ratios.iter().find(|r| r.room.id == room);
    let count = |room: Option<kinfold_model::ClassroomId>, status: &str| {
        roster
            .iter()
            .filter(|l| l.status == status && (room.is_none() || l.classroom_id == room))
            .count()
    };
    html! {
        section aria-labelledby="clock-title" {
            h2 #clock-title { "Your day" }
            @if let Some(n) = clock { p role="status" .notice #clock-notice { (n) } }
            (crate::attendance::clock_form(&my_day, &rooms, None, "home"))
        }
        section aria-labelledby="today-title" {
            h2 #today-title { "Today" }
            p #today-counts {
                strong { (count(None, "present")) } " present, "
                (count(None, "checked_out")) " gone home, "
                (count(None, "absent")) " not in yet."
            }
            @if !rooms.is_empty() {
                div.table-wrap {
                    table #rooms-today {
                        thead { tr { th scope="col" { "Room" } th scope="col" { "Present" } th scope="col" { "Staff" } th scope="col" { "Capacity" } } }
                        tbody {
                            @for r in &rooms {
                                tr {
                                    td { a href={ "/rooms/" (r.id) } { (r.name) } }
                                    td { (count(Some(r.id), "present")) }
                                    td {
                                        @if let Some(q) = ratio_of(r.id) {
                                            (q.staff.len()) " of " (q.needed) " needed"
                                            @if q.problem().is_some() { " " strong.bad { "out of ratio" } }
                                        }
                                    }
                                    td { @if let Some(c) = r.capacity { (c) } @else { "—" } }
                                }
                            }
                        }
                    }
                }
            }
            p { a href="/attendance" { "Open today's roster" } " · " a href="/ratios" { "Ratios now" } }
        }
    }
}

/// For administrators: staff who have not finished enrolling, and the deployment's last
/// backup and restore drill.
async fn admin_panel(
    st: &AppState,
    a: &kinfold_core::Actor,
    ratios: &[kinfold_core::attendance::RoomRatio],
) -> Markup {
    if policy::scope(a.role, Action::Administer) != Scope::WholeTenant {
        return html! {};
    }
    let pending: Vec<_> = st
        .core
        .tenants()
        .list_users(a)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|u| u.role.is_staff() && !u.has_mfa())
        .collect();
    let backups = st
        .core
        .audit_log()
        .backup_status(a)
        .await
        .unwrap_or_default();
    let day_ago = st.core.now_ms() - 24 * 3_600_000;
    let refused = st
        .core
        .audit_log()
        .refused_pickups(a, day_ago)
        .await
        .unwrap_or_default();
    let held = st
        .core
        .audit_log()
        .held_messages(a)
        .await
        .unwrap_or_default();
    // Times as the center reads them, in its own time zone.
    let tz = st.core.tenants().time_zone(a).await;
    let when = |ms: i64| kinfold_core::attendance::moment_label(&tz, ms);
    html! {
        section aria-labelledby="admin-title" {
            h2 #admin-title { "For administrators" }
            @for r in ratios.iter().filter(|r| r.problem().is_some()) {
                p.alert.ratio-alert role="alert" {
                    strong { a href={ "/rooms/" (r.room.id) } { (r.room.name) } " is out of ratio: " }
                    (r.problem().unwrap_or_default()) "."
                }
            }
            @for h in &held {
                p.alert.held-message role="alert" {
                    strong { "A message is held: " }
                    (h.held) " deliveries wait for you since " (when(h.at_ms)) ". "
                    a href={ "/messages/" (h.message_id) } { "Release or discard it" }
                }
            }
            @if !refused.is_empty() {
                div.alert #refused-pickups {
                    h3 { "Refused pickups in the last 24 hours" }
                    ul {
                        @for r in &refused {
                            li { (when(r.at_ms)) ": " a href={ "/children/" (r.child_id) } { (r.child_name) } " — " (r.reason) }
                        }
                    }
                }
            }
            @if pending.is_empty() {
                p { "Every staff member has enrolled a second factor." }
            } @else {
                p #pending-enrollment { (pending.len()) " staff member(s) have not finished enrolling: "
                    @for (i, u) in pending.iter().enumerate() { @if i > 0 { ", " } (u.name) } "." }
            }
            p #backup-status {
                @match &backups.last_backup {
                    Some((at, id)) => { "Last backup: " (when(*at)) " " span.muted { "(" code { (id) } ")" } ". " }
                    None => { strong { "No backup recorded yet." } " " }
                }
                @match &backups.last_drill {
                    Some((at, _, true)) => { "Last restore drill passed " (when(*at)) "." }
                    Some((at, id, false)) => { strong.bad { "The last restore drill FAILED (" (when(*at)) ", backup " (id) "): tell the operator." } }
                    None => { "No restore drill recorded yet." }
                }
                @if let Some((at, _)) = &backups.failed_since {
                    " " strong.bad { "The scheduled backup has FAILED since " (when(*at)) ": tell the operator (the reason is in the system log)." }
                }
            }
        }
    }
}
