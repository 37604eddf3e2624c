//! `/u/TOKEN`: one-click unsubscribe (E3, RFC 8058).
//!
//! - `GET` shows what the link would do, and the recipient's categories. It changes nothing:
//!   mail scanners prefetch links.
//! - `POST` with the body `List-Unsubscribe=One-Click` (form-encoded or multipart) unsubscribes
//!   at once and answers 200. No cookie and no CSRF token are needed (the CSRF check exempts
//!   `/u/`): the token is the authority, and it names one recipient and one category.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use kinfold_core::mail::unsubscribe::Preferences;
use maud::{html, Markup};

use crate::error::Refusal;
use crate::extract::Client;
use crate::{ApiError, AppState};

/// The console's layout, without navigation: the reader has no session here.
fn render(title: &str, body: Markup) -> Markup {
    crate::console::layout(None, title, html! { div.card { (body) } })
}

fn categories(p: &Preferences) -> Markup {
    html! {
        h2 { "Your email from " (p.center) }
        ul {
            @for (_, label, essential, out) in &p.categories {
                li {
                    (label) ": "
                    @if *essential { strong { "always sent" } " (account and security email cannot be switched off)" }
                    @else if *out { strong { "unsubscribed" } }
                    @else { "subscribed" }
                }
            }
        }
    }
}

/// The error page, through `ApiError::finish` like every other error (see
/// `pages::error_page`; this page has no navigation).
fn failed(client: &Client, e: ApiError) -> Response {
    let body = html! {
        h1 { "This link does not work" }
        (crate::console::pages::error_box(&e))
        p.muted { "Unsubscribe links are personal. Use the newest email you received." }
        @if e.is_internal() {
            p.muted { "Request ID: " code { (client.0.request_id) } }
        }
    };
    let mut resp = (e.status(), Html(render("Unsubscribe", body).into_string())).into_response();
    e.finish(&mut resp);
    resp
}

pub async fn show(
    State(st): State<AppState>,
    client: Client,
    Path(token): Path<String>,
) -> Response {
    let p = match st.core.mail().unsubscribe_preview(&token).await {
        Ok(p) => p,
        Err(e) => return failed(&client, e.into()),
    };
    let body = html! {
        @if p.essential {
            h1 { (p.category_label) }
            p { "This email is about your account or its security, and cannot be switched off." }
        } @else if p.unsubscribed() {
            h1 { "You are unsubscribed" }
            p { "You no longer receive " (p.category_label.to_lowercase()) " from " (p.center) "." }
        } @else {
            h1 { "Unsubscribe from " (p.category_label.to_lowercase()) "?" }
            p { (p.center) " will stop sending you " (p.category_label.to_lowercase()) ". Other email is not affected." }
            form method="post" action={ "/u/" (token) } {
                input type="hidden" name="List-Unsubscribe" value="One-Click";
                button type="submit" { "Unsubscribe" }
            }
        }
        (categories(&p))
    };
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(render("Unsubscribe", body).into_string()),
    )
        .into_response()
}

/// Whether the body says `List-Unsubscribe=One-Click`, as a form or as multipart.
async fn one_click(req: Request) -> Result<bool, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    // Not RFC 8058's body: `400 bad_request` (`invalid_input` is a `422`'s, a field refused).
    let bad = |m: &str| ApiError::refused(Refusal::BadRequest, m);
    if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(req, &())
            .await
            .map_err(|_| bad("the multipart body is malformed"))?;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|_| bad("the multipart body is malformed"))?
        {
            if field.name() == Some("List-Unsubscribe") {
                let value = field
                    .text()
                    .await
                    .map_err(|_| bad("the multipart body is malformed"))?;
                return Ok(value.trim() == "One-Click");
            }
        }
        return Ok(false);
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let body = Bytes::from_request(req, &())
            .await
            .map_err(|_| bad("the body could not be read"))?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&body).map_err(|_| bad("the form body is malformed"))?;
        return Ok(pairs
            .iter()
            .any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click"));
    }
    Err(ApiError::refused(
        Refusal::UnsupportedMediaType,
        "send application/x-www-form-urlencoded or multipart/form-data",
    ))
}

pub async fn post(
    State(st): State<AppState>,
    client: Client,
    Path(token): Path<String>,
    req: Request,
) -> Response {
    match one_click(req).await {
        Ok(true) => {}
        Ok(false) => {
            return failed(
                &client,
                ApiError::refused(
                    Refusal::BadRequest,
                    "the body must be List-Unsubscribe=One-Click",
                ),
            )
        }
        Err(e) => return failed(&client, e),
    }
    let p = match st.core.mail().unsubscribe(&token).await {
        Ok(p) => p,
        Err(e) => return failed(&client, e.into()),
    };
    let body = html! {
        @if p.essential {
            h1 { (p.category_label) }
            p { "This email is about your account or its security, and cannot be switched off. Nothing was changed." }
        } @else {
            h1 { "You are unsubscribed" }
            p { "You will no longer receive " (p.category_label.to_lowercase()) " from " (p.center) "." }
        }
        (categories(&p))
    };
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Html(render("Unsubscribed", body).into_string()),
    )
        .into_response()
}
