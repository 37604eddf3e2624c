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

/// An error as the console shows it: the message and the same stable code the API answers.
pub(crate) fn error_box(e: &ApiError) -> Markup {
    html! { p.error role="alert" { (e.public_message()) " " span.code { "(" (e.code()) ")" } } }
}

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

/// A page that only shows `e`.
pub(crate) fn fail(p: &Page, title: &str, e: impl Into<ApiError>) -> Response {
    let e = e.into();
    let body = error_box(&e);
    error_page(p, e, title, body)
}

pub async fn home(State(st): State<AppState>, p: Page) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let idle = humantime::format_duration(st.core.settings().session_idle_timeout);
    let body = html! {
        h1 { "Welcome, " (a.user.name) }
        p { "You are signed in to " strong { (a.tenant.name) } " as " (a.role.as_str().replace('_', " ")) "." }
        p.muted { "Signed in as " (a.user.email) ". Your session ends after " (idle) " without activity." }
        ul {
            li { a href="/account/sessions" { "See and end your sessions" } }
            @if policy::scope(a.role, Action::ReadAudit) == Scope::WholeTenant {
                li { a href="/admin/audit" { "Read the audit log" } }
            }
        }
    };
    page(&p, StatusCode::OK, "Home", body)
}
