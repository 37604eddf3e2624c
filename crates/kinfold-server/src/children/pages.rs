//! Console pages for children: the list, a child's page, and guardian administration on it.

use crate::console::pages::{error_box, error_page, fail, page, to_login};
use crate::console::Page;
use crate::extract::Form;
use crate::{ApiError, AppState};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kinfold_core::children::{ChildView, OpenedFields};
use kinfold_core::policy::{self, Action};
use kinfold_core::{Actor, CoreError};
use kinfold_model::{ChildId, Classroom, Custody, GuardianLink, NewGuardian, Role};
use maud::{html, Markup};
use serde::Deserialize;

pub(crate) fn room_name(rooms: &[Classroom], id: Option<kinfold_model::ClassroomId>) -> String {
    id.and_then(|id| rooms.iter().find(|r| r.id == id))
        .map(|r| r.name.clone())
        .unwrap_or_else(|| "—".into())
}

#[derive(Deserialize)]
pub struct ListParams {
    classroom_id: Option<String>,
}

pub async fn children(
    State(st): State<AppState>,
    p: Page,
    Query(q): Query<ListParams>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let rooms = st
        .core
        .classrooms()
        .list_classrooms(a)
        .await
        .unwrap_or_default();
    let list = match st
        .core
        .children()
        .list_children(a, q.classroom_id.as_deref(), None, None, Some(200))
        .await
    {
        Ok(l) => l,
        Err(e) => return fail(&p, "Children", e),
    };
    let admin = policy::scope(a.role, Action::ManageChild) == policy::Scope::WholeTenant;
    let body = html! {
        h1 { "Children" }
        @if admin { p { a.button href="/admin/children/new" { "Add a child" } } }
        @if !rooms.is_empty() {
            form method="get" action="/children" {
                label for="classroom_id" { "Classroom" }
                select #classroom_id name="classroom_id" {
                    option value="" { "All" }
                    @for r in &rooms { option value=(r.id) selected[q.classroom_id.as_deref() == Some(r.id.to_string().as_str())] { (r.name) } }
                }
                button type="submit" { "Filter" }
            }
        }
        table {
            thead { tr { th { "Name" } th { "Date of birth" } th { "Classroom" } th { "Status" } } }
            tbody {
                @for c in &list {
                    tr {
                        td { a href={ "/children/" (c.id) } { (c.given_name) " " (c.family_name) } }
                        td { (c.date_of_birth) }
                        td { (room_name(&rooms, c.classroom_id)) }
                        td { (c.status) }
                    }
                }
            }
        }
        @if list.is_empty() { p.muted { "No children to show." } }
    };
    page(&p, StatusCode::OK, "Children", body)
}

/// What a child's page shows, as read for this request.
struct Detail<'a> {
    view: &'a ChildView,
    opened: &'a OpenedFields,
    guardians: &'a [GuardianLink],
    /// Who may be chosen as dropping off or picking up.
    choices: &'a [kinfold_core::attendance::Choice],
    /// Today's entries, and the center's time zone.
    today: &'a [kinfold_model::AttendanceEvent],
    /// Parent accounts an administrator may link as this child's guardian.
    parents: &'a [kinfold_model::User],
    time_zone: &'a str,
    rooms: &'a [Classroom],
    /// A correction of today's times the page refused, drawn again as sent.
    correction: Option<&'a crate::attendance::SentCorrection>,
}

fn detail_body(a: &Actor, d: &Detail<'_>, notice: Option<&str>, err: Option<&ApiError>) -> Markup {
    let Detail {
        view: v,
        opened,
        guardians,
        choices,
        rooms,
        today,
        time_zone,
        parents,
        correction: _,
    } = *d;
    let c = v.child();
    let can_attend = policy::reaches_visible_child(a.role, Action::CheckInOut)
        || policy::scope(a.role, Action::CheckInOut) == policy::Scope::WholeTenant;
    html! {
        h1 #child-name { (c.given_name) " " (c.family_name) }
        @if let Some(n) = notice { p role="status" .notice { (n) } }
        @if policy::scope(a.role, Action::ManageChild) == policy::Scope::WholeTenant {
            p { a href={ "/children/" (c.id) "/edit" } { "Edit this child's record" } }
        }
        @if let Some(e) = err { (error_box(e)) }
        dl {
            dt { "Date of birth" } dd { (c.date_of_birth) }
            dt { "Classroom" } dd { (room_name(rooms, c.classroom_id)) }
            dt { "Enrollment" } dd { (c.status) }
        }
        @if let Some(allergies) = &opened.allergies {
            h2 { "Allergies" }
            @if allergies.is_empty() { p #allergies { "None recorded." } } @else {
                ul #allergies { @for al in allergies { li { strong { (al.name) } " — " (al.severity.label()) } } }
            }
        }
        @if let Some(notes) = &opened.medical_notes {
            h2 { "Medical notes" }
            p #medical-notes { @if notes.is_empty() { "None." } @else { (notes) } }
        }
        @if let Some(contacts) = &opened.emergency_contacts {
            h2 { "Emergency contacts" }
            ul { @for ec in contacts { li { (ec.name) " (" (ec.relation) "), " (ec.phone) } } }
        }
        @if !v.redacted.is_empty() {
            p.muted #redacted { "Not shown to your role: " (v.redacted.join(", ").replace('_', " ")) "." }
        }
        @if !guardians.is_empty() {
            h2 { "Guardians" }
            ul #guardians {
                @for g in guardians {
                    li {
                        (g.guardian.name) " (" (g.relationship) ", " (g.custody.as_str().replace('_', " ")) ")"
                        @if !g.may_pick_up { " — may not pick up" }
                        @if a.role == Role::Administrator {
                            form.role-form method="post" action={ "/children/" (c.id) "/guardians/" (g.guardian.id) } {
                                label for={ "custody-" (g.guardian.id) } { "Custody of " (g.guardian.name) }
                                select id={ "custody-" (g.guardian.id) } name="custody" {
                                    @for k in [Custody::Full, Custody::Shared, Custody::CourtRestricted] {
                                        option value=(k.as_str()) selected[k == g.custody] { (k.as_str().replace('_', " ")) }
                                    }
                                }
                                label.check { input type="checkbox" name="may_pick_up" value="true" checked[g.may_pick_up]; " May pick up" }
                                input type="hidden" name="version" value=(g.version);
                                div {
                                    button type="submit" name="action" value="save" { "Save" }
                                    " "
                                    button.secondary type="submit" name="action" value="unlink" { "Unlink" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(pickups) = v.authorized_pickups() {
            (crate::children::pickups::section(c.id, pickups, a.role == Role::Administrator))
        }
        @if can_attend {
            (crate::attendance::day_history(c.id, today, choices, time_zone, d.correction.zip(err)))
            h2 { "Check in / check out" }
            @if choices.is_empty() {
                p.muted #no-one-on-file {
                    "No guardian or authorized pickup is on file yet, so no one can be recorded as dropping off or picking up."
                    @if a.role == Role::Administrator { " Add one below." } @else { " An administrator can add one." }
                }
            } @else {
                form method="post" action={ "/children/" (c.id) "/attendance" } #attendance-form {
                    label for="person" { "Dropped off or picked up by" }
                    select #person name="person" required {
                        (crate::attendance::person_options(choices, true, None))
                    }
                    label for="passphrase" { "Pickup passphrase (authorized pickups only)" }
                    input #passphrase name="passphrase" type="password" autocomplete="off";
                    @if c.status == kinfold_core::children::ENROLLED {
                        button type="submit" name="action" value="check_in" { "Check in" }
                        " "
                    } @else {
                        p.hint #not-enrolled { "Check-in is for enrolled children; " (c.given_name) " is " (c.status) "." }
                    }
                    button type="submit" name="action" value="check_out" { "Check out" }
                }
            }
        }
        @if a.role == Role::Administrator {
            h2 { "Add a guardian" }
            form method="post" action={ "/children/" (c.id) "/guardians" } {
                label for="g-name" { "Name" } input #g-name name="name" required;
                label for="g-rel" { "Relationship" } input #g-rel name="relationship" required;
                label for="g-phone" { "Phone (E.164, optional)" } input #g-phone name="phone" placeholder="+14155550123";
                label for="g-email" { "Email (for notices; needed to invite them)" } input #g-email name="email" type="email";
                label for="g-account" { "Their account" }
                select #g-account name="account" {
                    option value="" { "No account: a contact only" }
                    option value="invite" { "Invite them by email to see this child" }
                    @for u in parents { option value={ "user:" (u.id) } { "Link " (u.name) " (" (u.email) ")" } }
                }
                label for="g-custody" { "Custody" }
                select #g-custody name="custody" { option value="full" { "Full" } option value="shared" { "Shared" } option value="court_restricted" { "Court-restricted" } }
                label { input type="checkbox" name="may_pick_up" value="true"; " May pick up" }
                button type="submit" { "Add guardian" }
            }
        }
    }
}

/// A child the actor may see, with its sealed fields opened (a data-access event): what the
/// child's page and its edit page both show.
pub(crate) async fn opened_child(
    st: &AppState,
    p: &Page,
    a: &Actor,
    raw_id: &str,
) -> Result<(ChildView, OpenedFields), CoreError> {
    let id = ChildId::parse(raw_id).ok_or(CoreError::NotFound("child"))?;
    let view = st.core.children().child_view(a, id, &p.client.info).await?;
    let opened = view.opened()?;
    Ok((view, opened))
}

pub(crate) async fn render_detail(
    st: &AppState,
    p: &Page,
    id: &str,
    notice: Option<&str>,
    err: Option<ApiError>,
) -> Response {
    render_detail_with(st, p, id, notice, err, None).await
}

/// [`render_detail`], with a refused correction drawn again beside its entry.
pub(crate) async fn render_detail_with(
    st: &AppState,
    p: &Page,
    id: &str,
    notice: Option<&str>,
    err: Option<ApiError>,
    correction: Option<&crate::attendance::SentCorrection>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let (view, opened) = match opened_child(st, p, a, id).await {
        Ok(v) => v,
        Err(e) => return fail(p, "Child", e),
    };
    let id = view.child().id;
    let guardians = st
        .core
        .children()
        .child_guardians(a, id)
        .await
        .unwrap_or_default();
    let rooms: Vec<Classroom> = st
        .core
        .classrooms()
        .child_classroom(a, &view)
        .await
        .ok()
        .flatten()
        .into_iter()
        .collect();
    let choices = st
        .core
        .attendance()
        .choices(a, id)
        .await
        .unwrap_or_default();
    let today = st
        .core
        .attendance()
        .child_day(a, id)
        .await
        .unwrap_or_default();
    let time_zone = st.core.tenants().time_zone(a).await;
    let title = format!("{} {}", view.child().given_name, view.child().family_name);
    let parents: Vec<kinfold_model::User> = if a.role == Role::Administrator {
        st.core
            .tenants()
            .list_users(a)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|u| u.role == Role::Parent && u.is_active())
            .collect()
    } else {
        Vec::new()
    };
    let detail = Detail {
        parents: &parents,
        today: &today,
        time_zone: &time_zone,
        view: &view,
        opened: &opened,
        guardians: &guardians,
        choices: &choices,
        rooms: &rooms,
        correction,
    };
    let body = detail_body(a, &detail, notice, err.as_ref());
    match err {
        Some(e) => error_page(p, e, &title, body),
        None => page(p, StatusCode::OK, &title, body),
    }
}

#[derive(Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

pub async fn child(
    State(st): State<AppState>,
    p: Page,
    Path(id): Path<String>,
    Query(d): Query<Done>,
) -> Response {
    let notice = match d.done.as_deref() {
        Some("created") => Some("Child added."),
        Some("saved") => Some("Saved."),
        _ => None,
    };
    render_detail(&st, &p, &id, notice, None).await
}

#[derive(Deserialize)]
pub struct GuardianForm {
    name: String,
    relationship: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    /// Empty (a contact only), `invite` (a new parent account, invited by email), or
    /// `user:ID` (an existing parent account).
    #[serde(default)]
    account: String,
    custody: String,
    #[serde(default)]
    may_pick_up: Option<String>,
}

pub async fn add_guardian(
    State(st): State<AppState>,
    p: Page,
    Path(id): Path<String>,
    Form(f): Form<GuardianForm>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let Some(child) = ChildId::parse(&id) else {
        return fail(&p, "Child", CoreError::NotFound("child"));
    };
    let Some(custody) = Custody::parse(&f.custody) else {
        let e = ApiError::from(CoreError::invalid(
            "custody",
            "full, shared or court_restricted",
        ));
        return render_detail(&st, &p, &id, None, Some(e)).await;
    };
    let email = Some(f.email.trim().to_owned()).filter(|e| !e.is_empty());
    // Every field is checked before an invitation goes out, so a refused guardian leaves no
    // account behind.
    let checked = kinfold_core::validate::name("name", &f.name)
        .and_then(|_| kinfold_core::validate::name("relationship", &f.relationship))
        .and_then(|_| match f.phone.trim() {
            "" => Ok(String::new()),
            p => kinfold_core::validate::phone("phone", p),
        })
        .and_then(|_| match email.as_deref() {
            Some(e) => kinfold_core::validate::email("email", e),
            None => Ok(String::new()),
        });
    if let Err(e) = checked {
        return render_detail(&st, &p, &id, None, Some(e.into())).await;
    }
    let mut invited = None;
    let user_id = match f.account.as_str() {
        "" => None,
        "invite" => {
            let Some(address) = email.as_deref() else {
                let e = CoreError::invalid("email", "an invitation needs their email address");
                return render_detail(&st, &p, &id, None, Some(e.into())).await;
            };
            match st.core.tenants().invite_parent(a, address, &f.name).await {
                Ok((user, _link)) => {
                    invited = Some(user.email.clone());
                    Some(user.id)
                }
                Err(e) => return render_detail(&st, &p, &id, None, Some(e.into())).await,
            }
        }
        other => match other
            .strip_prefix("user:")
            .and_then(kinfold_model::UserId::parse)
        {
            Some(u) => Some(u),
            None => {
                let e = CoreError::invalid("account", "choose an account from the list");
                return render_detail(&st, &p, &id, None, Some(e.into())).await;
            }
        },
    };
    let new = NewGuardian {
        user_id,
        name: f.name,
        // An account's own address is used for notices; a contact's is kept with them.
        email: if user_id.is_some() { None } else { email },
        phone: Some(f.phone).filter(|s| !s.trim().is_empty()),
    };
    match st
        .core
        .children()
        .add_guardian(
            a,
            child,
            new,
            &f.relationship,
            custody,
            f.may_pick_up.is_some(),
            false,
        )
        .await
    {
        Ok(_) => match invited {
            Some(address) => {
                let said = format!(
                    "Guardian added; an invitation to see this child was emailed to {address}."
                );
                render_detail(&st, &p, &id, Some(&said), None).await
            }
            None => Redirect::to(&format!("/children/{id}")).into_response(),
        },
        Err(e) => render_detail(&st, &p, &id, None, Some(ApiError::from(e))).await,
    }
}
