//! Console pages for a forgotten password: `/reset` asks for the center and the address, and
//! answers the same for every address; `/reset/{token}` (the emailed link) sets the new one.
//! The token sits in the path, like an enrollment link's; `Referrer-Policy:
//! strict-origin-when-cross-origin` keeps the path from other sites, and the pages load nothing
//! from elsewhere.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kinfold_crypto::password::Password;
use maud::{html, Markup};
use serde::Deserialize;

use crate::auth::password_reset::SENT_IF_KNOWN;
use crate::console::pages::{error_box, error_page, page};
use crate::console::Page;
use crate::extract::Form;
use crate::{ApiError, AppState};

fn request_body(tenant: &str, email: &str, err: Option<&ApiError>) -> Markup {
    html! {
        div.card {
            h1 { "Reset your password" }
            @if let Some(e) = err { (error_box(e)) }
            p { "We will email a link to choose a new password. It works once, within an hour." }
            form method="post" action="/reset" {
                label for="tenant" { "Center" }
                input #tenant name="tenant" value=(tenant) required autocomplete="organization" placeholder="maple-grove";
                label for="email" { "Email" }
                input #email name="email" type="email" value=(email) required autocomplete="username";
                button type="submit" { "Email me a link" }
            }
            p { a href="/login" { "Back to sign in" } }
        }
    }
}

pub async fn request_form(p: Page) -> Response {
    page(
        &p,
        StatusCode::OK,
        "Reset password",
        request_body("", "", None),
    )
}

#[derive(Deserialize)]
pub struct RequestForm {
    tenant: String,
    email: String,
}

pub async fn request(State(st): State<AppState>, p: Page, Form(f): Form<RequestForm>) -> Response {
    match st
        .core
        .auth()
        .request_password_reset(&f.tenant, &f.email, &p.client.info)
        .await
    {
        Ok(()) => {
            let body = html! {
                div.card {
                    h1 { "Check your email" }
                    p { (SENT_IF_KNOWN) }
                    p.muted { "Nothing arrived? Look in your spam folder, or ask your center's administrator." }
                    p { a href="/login" { "Back to sign in" } }
                }
            };
            page(&p, StatusCode::OK, "Check your email", body)
        }
        Err(e) => {
            let e = ApiError::from(e);
            let body = request_body(&f.tenant, &f.email, Some(&e));
            error_page(&p, e, "Reset password", body)
        }
    }
}

fn choose_body(token: &str, account: Option<(&str, &str)>, err: Option<&ApiError>) -> Markup {
    html! {
        div.card {
            h1 { "Choose a new password" }
            @if let Some(e) = err { (error_box(e)) }
            @if let Some((email, center)) = account {
                p { "For " strong { (email) } " at " (center) ". Every session of the account will be signed out." }
                form method="post" action={ "/reset/" (token) } {
                    label for="password" { "New password" }
                    input #password name="password" type="password" required minlength="12" autocomplete="new-password";
                    button type="submit" { "Set password" }
                }
            } @else {
                p { a href="/reset" { "Ask for a new link" } }
            }
        }
    }
}

async fn choose_page(st: &AppState, p: &Page, token: &str, err: Option<ApiError>) -> Response {
    match st.core.auth().password_reset_target(token).await {
        Ok(t) => {
            let body = choose_body(token, Some((&t.email, &t.center)), err.as_ref());
            match err {
                Some(e) => error_page(p, e, "Choose a new password", body),
                None => page(p, StatusCode::OK, "Choose a new password", body),
            }
        }
        Err(e) => {
            let e = ApiError::from(e);
            let body = choose_body(token, None, Some(&e));
            error_page(p, e, "Choose a new password", body)
        }
    }
}

pub async fn choose_form(
    State(st): State<AppState>,
    p: Page,
    Path(token): Path<String>,
) -> Response {
    choose_page(&st, &p, &token, None).await
}

#[derive(Deserialize)]
pub struct ChooseForm {
    password: String,
}

pub async fn choose(
    State(st): State<AppState>,
    p: Page,
    Path(token): Path<String>,
    Form(f): Form<ChooseForm>,
) -> Response {
    match st
        .core
        .auth()
        .complete_password_reset(&token, Password::new(f.password), &p.client.info)
        .await
    {
        Ok(_) => {
            let body = html! {
                div.card {
                    h1 { "Your password is changed" }
                    p { "Every session of your account was signed out. Sign in with the new password." }
                    p { a href="/login" { "Sign in" } }
                }
            };
            page(&p, StatusCode::OK, "Password changed", body)
        }
        Err(e) => choose_page(&st, &p, &token, Some(ApiError::from(e))).await,
    }
}
