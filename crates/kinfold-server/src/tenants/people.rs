//! The administrators' people page (`/admin/people`): invite staff with a role, or a parent;
//! send an invitation again, change a staff member's role, reset a second factor, end
//! someone's sessions, deactivate and reactivate. Each is the same service call the API makes,
//! and an administrative action in the chain.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kinfold_core::people::STAFF_ROLES;
use kinfold_core::{Actor, CoreError};
use kinfold_model::{Role, User, UserId};
use maud::{html, Markup};
use serde::Deserialize;

use crate::console::form::{form_error, Field};
use crate::console::pages::{error_page, fail, page, to_login};
use crate::console::Page;
use crate::extract::Form;
use crate::{ApiError, AppState};

const FIELDS: [&str; 3] = ["name", "email", "role"];

#[derive(Deserialize, Default)]
pub struct InviteForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// What the page says after an action: a line, and the link to hand over when there is one.
struct Said {
    text: String,
    link: Option<String>,
}

/// A role as the console names it.
pub(crate) fn role_label(r: Role) -> &'static str {
    match r {
        Role::Administrator => "Administrator",
        Role::Teacher => "Teacher",
        Role::FrontDesk => "Front desk",
        Role::Parent => "Parent",
    }
}

async fn render(
    st: &AppState,
    p: &Page,
    a: &Actor,
    form: Option<&InviteForm>,
    said: Option<Said>,
    err: Option<ApiError>,
) -> Response {
    let users = match st.core.tenants().list_users(a).await {
        Ok(u) => u,
        Err(e) => return fail(p, "People", e),
    };
    let blank = InviteForm {
        role: "teacher".into(),
        ..InviteForm::default()
    };
    let form = form.unwrap_or(&blank);
    let roles: Vec<(&str, &str)> = Role::ALL
        .iter()
        .map(|r| (r.as_str(), role_label(*r)))
        .collect();
    let field = |name, label, value| Field {
        form: "invite",
        name,
        label,
        value,
        err: err.as_ref(),
    };
    let (staff, parents): (Vec<_>, Vec<_>) = users.iter().partition(|u| u.role.is_staff());
    let body = html! {
        h1 { "People" }
        @if let Some(s) = &said {
            div.notice role="status" #people-notice {
                p { (s.text) }
                @if let Some(link) = &s.link {
                    details {
                        summary { "The link, to hand over if the email does not arrive" }
                        p { code #invite-link { (link) } }
                        p.hint { "It works once, and only until it expires. Give it only to this person." }
                    }
                }
            }
        }
        section aria-labelledby="invite-title" {
            h2 #invite-title { "Invite someone" }
            form.wide method="post" action="/admin/people" #invite-form novalidate {
                (form_error(err.as_ref(), &FIELDS))
                div.row {
                    div { (field("name", "Name", &form.name).input("text", true, None)) }
                    div { (field("email", "Email", &form.email).input("email", true, None)) }
                }
                (field("role", "Role", &form.role).select(&roles))
                p.hint #invite-hint {
                    "They get an email with a link to set a password; staff also set up an authenticator app. "
                    "A parent sees only the children you link them to: on the child's page, "
                    em { "Add a guardian" } " and choose their account (or invite them from there, linked at once)."
                }
                button type="submit" { "Send the invitation" }
            }
        }
        section aria-labelledby="staff-title" {
            h2 #staff-title { "Staff" }
            ul.roster #staff-list {
                @for u in &staff {
                    li.roster-line id={ "user-" (u.id) } {
                        (who(u))
                        @if u.is_active() && u.id != a.user.id {
                            form.role-form method="post" action={ "/admin/people/" (u.id) "/role" } {
                                label for={ "role-" (u.id) } { "Role of " (u.name) }
                                select id={ "role-" (u.id) } name="role" {
                                    @for r in STAFF_ROLES { option value=(r.as_str()) selected[r == u.role] { (role_label(r)) } }
                                }
                                input type="hidden" name="from" value=(u.role.as_str());
                                button type="submit" { "Change role" }
                            }
                        }
                        (actions(a, u))
                    }
                }
            }
        }
        section aria-labelledby="parents-title" {
            h2 #parents-title { "Parents" }
            @if parents.is_empty() { p.muted { "None yet." } }
            ul.roster #parent-list {
                @for u in &parents {
                    li.roster-line id={ "user-" (u.id) } {
                        (who(u))
                        (actions(a, u))
                    }
                }
            }
        }
    };
    match err {
        Some(e) => error_page(p, e, "People", body),
        None => page(p, StatusCode::OK, "People", body),
    }
}

/// A person's line: name, email, role and where their account stands.
fn who(u: &User) -> Markup {
    html! {
        div.who {
            strong { (u.name) } span.muted { (u.email) }
            span.badge { (role_label(u.role)) }
            @if !u.is_active() { span.badge.pending { "deactivated" } }
            @else if u.enrolled() { span.badge { "enrolled" } } @else { span.badge.pending { "invitation pending" } }
        }
    }
}

/// What an administrator may do for a person: reactivate a deactivated account; otherwise
/// reset their second factor (or send the invitation again, before they enroll), end their
/// sessions, deactivate. Nothing of this for oneself.
fn actions(a: &Actor, u: &User) -> Markup {
    html! {
        @if !u.is_active() {
            p.muted { "Cannot sign in. Their history stays in the records and the audit log." }
            form.inline method="post" action={ "/admin/people/" (u.id) "/reactivate" } {
                button.secondary type="submit" aria-label={ "Reactivate " (u.name) } { "Reactivate" }
            }
        } @else if u.id == a.user.id {
            p.muted { "This is you." }
        } @else {
            div.actions {
                @if u.has_mfa() {
                    form.inline method="post" action={ "/admin/people/" (u.id) "/mfa-reset" } {
                        button.secondary type="submit" aria-label={ "Reset second factor: " (u.name) } { "Reset second factor" }
                    }
                    " "
                }
                @if !u.enrolled() {
                    form.inline method="post" action={ "/admin/people/" (u.id) "/invitation" } {
                        button.secondary type="submit" aria-label={ "Send the invitation again: " (u.name) } { "Send the invitation again" }
                    }
                    " "
                }
                form.inline method="post" action={ "/admin/people/" (u.id) "/sessions-end" } {
                    button.secondary type="submit" aria-label={ "End their sessions: " (u.name) } { "End their sessions" }
                }
                " "
                form.inline method="post" action={ "/admin/people/" (u.id) "/deactivate" } {
                    button.danger type="submit" aria-label={ "Deactivate " (u.name) } { "Deactivate" }
                }
            }
        }
    }
}

pub async fn show(State(st): State<AppState>, p: Page) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    render(&st, &p, a, None, None, None).await
}

pub async fn invite(State(st): State<AppState>, p: Page, Form(f): Form<InviteForm>) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    match st
        .core
        .tenants()
        .invite_person(a, &f.email, &f.name, &f.role)
        .await
    {
        Ok((user, link)) => {
            let said = Said {
                text: format!("Invitation sent to {} ({}).", user.name, user.email),
                link: Some(link),
            };
            render(&st, &p, a, None, Some(said), None).await
        }
        Err(e) => render(&st, &p, a, Some(&f), None, Some(e.into())).await,
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
    /// The role the form was filled from.
    #[serde(default)]
    from: String,
}

fn user_id(raw: &str) -> Result<UserId, CoreError> {
    UserId::parse(raw).ok_or(CoreError::NotFound("user"))
}

pub async fn set_role(
    State(st): State<AppState>,
    p: Page,
    Path(id): Path<String>,
    Form(f): Form<RoleForm>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let result = match user_id(&id) {
        // The page always sends `from`: one without it is refused as stale (after the role
        // check).
        Ok(u) => {
            st.core
                .tenants()
                .set_role(a, u, &f.role, Some(&f.from))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(u) => {
            let said = Said {
                text: format!(
                    "{} is now {}; their sessions ended.",
                    u.name,
                    role_label(u.role).to_lowercase()
                ),
                link: None,
            };
            render(&st, &p, a, None, Some(said), None).await
        }
        Err(e) => render(&st, &p, a, None, None, Some(e.into())).await,
    }
}

/// `invitation`, `mfa-reset`, `sessions-end`, `deactivate` or `reactivate` for one person;
/// any other action is not found (after the role check).
pub async fn act(
    State(st): State<AppState>,
    p: Page,
    Path((id, what)): Path<(String, String)>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let user = match user_id(&id) {
        Ok(u) => u,
        Err(e) => return render(&st, &p, a, None, None, Some(e.into())).await,
    };
    let info = &p.client.info;
    let said = match what.as_str() {
        "invitation" => st.core.tenants().resend_invitation(a, user).await.map(|link| Said {
            text: "A new invitation was sent; the old link no longer works.".into(),
            link: Some(link),
        }),
        "mfa-reset" => st.core.auth().reset_mfa(a, user, info).await.map(|token| Said {
            text: "Their second factor was reset and their sessions ended; a new enrollment link was emailed.".into(),
            link: Some(st.core.auth().enrollment_link(&token)),
        }),
        "deactivate" => st.core.tenants().deactivate(a, user).await.map(|u| Said {
            text: format!("{} is deactivated: they cannot sign in, and their sessions ended.", u.name),
            link: None,
        }),
        "reactivate" => st.core.tenants().reactivate(a, user).await.map(|u| Said {
            text: format!("{} can sign in again, with their password and second factor.", u.name),
            link: None,
        }),
        "sessions-end" => st
            .core
            .sessions()
            .revoke_user_sessions(a, user, info)
            .await
            .map(|n| Said {
                text: format!("{n} session(s) ended."),
                link: None,
            }),
        // Not an action of this page: not found (after the role check, in `render`).
        _ => Err(CoreError::NotFound("action")),
    };
    match said {
        Ok(s) => render(&st, &p, a, None, Some(s), None).await,
        Err(e) => render(&st, &p, a, None, None, Some(e.into())).await,
    }
}
