//! `/admin`: one page that leads to each area of administration the actor's role may use, so
//! the main navigation stays short on a phone. The entries follow the policy table (A1), like
//! the pages behind them.

use axum::http::StatusCode;
use axum::response::Response;
use kinfold_core::policy::{self, Action, Scope};
use kinfold_core::{Actor, CoreError};
use maud::html;

use super::pages::{fail, page, to_login};
use super::Page;

/// The areas, as (path, name, what it is for), that `actor` may open.
pub(crate) fn areas(actor: &Actor) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut out = Vec::new();
    if policy::scope(actor.role, Action::Administer) == Scope::WholeTenant {
        out.extend([
            (
                "/admin/classrooms",
                "Classrooms",
                "Rooms, their age groups and capacity, and which teachers work in each.",
            ),
            (
                "/admin/people",
                "People",
                "Invite staff and parents, change roles, reset a second factor, deactivate an account.",
            ),
            (
                "/admin/center",
                "Center",
                "Legal name, postal address, time zone, and the ratio table.",
            ),
        ]);
    }
    if policy::scope(actor.role, Action::ReadAudit) == Scope::WholeTenant {
        out.extend([
            (
                "/admin/audit",
                "Audit log",
                "Every sign-in, change and read of a child's sealed records, hash-chained.",
            ),
            (
                "/admin/email",
                "Email log",
                "What was sent to families, what bounced, and messages held for review.",
            ),
        ]);
    }
    out
}

pub async fn index(p: Page) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let areas = areas(a);
    if areas.is_empty() {
        return fail(
            &p,
            "Administration",
            CoreError::Forbidden("your role does not allow this"),
        );
    }
    let body = html! {
        h1 { "Administration" }
        ul.areas #admin-areas {
            @for (path, name, what) in &areas {
                li {
                    a href=(path) { (name) }
                    br;
                    span.muted { (what) }
                }
            }
        }
    };
    page(&p, StatusCode::OK, "Administration", body)
}
