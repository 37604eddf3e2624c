//! What every console page shares, and the home page. The pages live with their feature
//! (`crate::children::pages`, ...).
//!
//! The web console: server-rendered HTML (maud escapes every value), plain forms, no inline
//! script or style. The stylesheet is served from `/static/app.css` (`style-src 'self'`).

mod admin_index;
pub(crate) mod form;
pub(crate) mod pages;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use kinfold_core::policy::{self, Action, Scope};
use kinfold_core::Actor;
use maud::{html, Markup, DOCTYPE};

use crate::middleware::client::ClientContext;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/admin", get(admin_index::index))
        .route("/static/app.css", get(stylesheet))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.css"),
    )
        .into_response()
}

/// The page context: nonce, scheme, and the signed-in actor if any.
pub struct Page {
    pub nonce: String,
    pub client: std::sync::Arc<ClientContext>,
    pub actor: Option<Actor>,
}

/// A missing, expired or revoked session is a page without an actor (most pages then send the
/// reader to sign in); a failure to check the session is an error page, logged like any other.
impl FromRequestParts<AppState> for Page {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = parts
            .extensions
            .get::<std::sync::Arc<ClientContext>>()
            .cloned()
            .unwrap_or_default();
        let mut page = Page {
            nonce: client.nonce.clone(),
            client,
            actor: None,
        };
        if let Some(t) = crate::extract::session_token(&parts.headers, page.client.https) {
            match state
                .core
                .sessions()
                .authenticate(t, &page.client.info)
                .await
            {
                Ok(actor) => page.actor = Some(actor),
                // A failure (the database unavailable, an internal error) is not a missing
                // session: the page says so, rather than asking to sign in again.
                Err(e) if e.is_logged() => return Err(pages::fail(&page, "Error", e)),
                Err(_) => {}
            }
        }
        Ok(page)
    }
}

impl Page {
    pub fn render(&self, title: &str, body: Markup) -> Markup {
        layout(self.actor.as_ref(), title, body)
    }
}

/// Every console page: the head, the navigation for a signed-in `actor`, and `body`.
pub(crate) fn layout(actor: Option<&Actor>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " · Kinfold" }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                // The first stop of the keyboard: past the navigation, straight to the page
                // (WCAG 2.4.1), shown when it has the focus.
                a.skip href="#main" { "Skip to the page's content" }
                header {
                    a.brand href="/" { "Kinfold" }
                    @if let Some(a) = actor {
                        nav aria-label="Main" {
                            a href="/" { "Home" }
                            a href="/children" { "Children" }
                            // The links follow the policy table (A1), like the pages behind them.
                            @if policy::scope(a.role, Action::CheckInOut) != Scope::No {
                                a href="/attendance" { "Attendance" }
                                a href="/ratios" { "Ratios" }
                            }
                            @if policy::scope(a.role, Action::SendMessage) != Scope::No {
                                a href="/messages/new" { "Write to families" }
                            }
                            a href="/account/sessions" { "My sessions" }
                            // One link to the administration areas the role may use: the bar
                            // stays short on a phone.
                            @if !admin_index::areas(a).is_empty() {
                                a href="/admin" { "Administration" }
                            }
                        }
                        form method="post" action="/logout" {
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

/// An email address that a narrow table cell may break after its `@` (and, with
/// `td.address`, anywhere else if it must): `name@` over `example.org` reads better on a phone
/// than a break mid-word.
pub fn email_address(address: &str) -> Markup {
    match address.split_once('@') {
        Some((local, domain)) => html! { (local) "@" wbr; (domain) },
        None => html! { (address) },
    }
}
