//! The console's sign-in (password, then the second factor), sign-out, and the signed-in
//! user's sessions.

use crate::api::cookie_for;
use crate::api::{clear_cookie, rfc3339, with_cookie};
use crate::console::pages::{error_box, error_page, fail, page, to_login};
use crate::console::Page;
use crate::extract::Form;
use crate::{ApiError, AppState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kinfold_core::auth::SignIn;
use kinfold_core::CoreError;
use kinfold_crypto::password::Password;
use kinfold_model::SessionId;
use maud::{html, Markup};
use serde::Deserialize;

fn login_body(tenant: &str, email: &str, err: Option<&ApiError>) -> Markup {
    html! {
        div.card {
            h1 { "Sign in" }
            @if let Some(e) = err { (error_box(e)) }
            form method="post" action="/login" {
                label for="tenant" { "Center" }
                input #tenant name="tenant" value=(tenant) required autocomplete="organization" placeholder="maple-grove";
                label for="email" { "Email" }
                input #email name="email" type="email" value=(email) required autocomplete="username";
                label for="password" { "Password" }
                input #password name="password" type="password" required autocomplete="current-password";
                button type="submit" { "Continue" }
            }
            p { a href="/reset" { "Forgot your password?" } }
        }
    }
}

pub async fn login_form(p: Page) -> Response {
    if p.actor.is_some() {
        return Redirect::to("/").into_response();
    }
    page(&p, StatusCode::OK, "Sign in", login_body("", "", None))
}

#[derive(Deserialize)]
pub struct LoginForm {
    tenant: String,
    email: String,
    password: String,
}

pub async fn login(State(st): State<AppState>, p: Page, Form(f): Form<LoginForm>) -> Response {
    match st
        .core
        .auth()
        .sign_in(
            &f.tenant,
            &f.email,
            Password::new(f.password),
            &p.client.info,
        )
        .await
    {
        Ok(SignIn::MfaRequired { mfa_token }) => page(
            &p,
            StatusCode::OK,
            "Verify",
            mfa_body(mfa_token.expose(), None),
        ),
        Ok(SignIn::SignedIn(issued)) => with_cookie(
            Redirect::to("/").into_response(),
            cookie_for(&issued, p.client.https),
        ),
        Err(e) => {
            let e = ApiError::from(e);
            let body = login_body(&f.tenant, &f.email, Some(&e));
            error_page(&p, e, "Sign in", body)
        }
    }
}

fn mfa_body(token: &str, err: Option<&ApiError>) -> Markup {
    html! {
        div.card {
            h1 { "Two-step verification" }
            @if let Some(e) = err { (error_box(e)) }
            p { "Enter the 6-digit code from your authenticator app, or one of your recovery codes." }
            form method="post" action="/login/mfa" {
                input type="hidden" name="mfa_token" value=(token);
                label for="code" { "Code" }
                input #code name="code" required autocomplete="one-time-code" inputmode="numeric" autofocus;
                button type="submit" { "Verify" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct MfaForm {
    mfa_token: String,
    code: String,
}

pub async fn login_mfa(State(st): State<AppState>, p: Page, Form(f): Form<MfaForm>) -> Response {
    match st
        .core
        .auth()
        .sign_in_mfa(&f.mfa_token, &f.code, &p.client.info)
        .await
    {
        Ok(issued) => with_cookie(
            Redirect::to("/").into_response(),
            cookie_for(&issued, p.client.https),
        ),
        Err(CoreError::InvalidMfaToken) => {
            let e = ApiError::from(CoreError::InvalidMfaToken);
            let body = login_body("", "", Some(&e));
            error_page(&p, e, "Sign in", body)
        }
        Err(e) => {
            let e = ApiError::from(e);
            let body = mfa_body(&f.mfa_token, Some(&e));
            error_page(&p, e, "Verify", body)
        }
    }
}

pub async fn logout(State(st): State<AppState>, p: Page) -> Response {
    if let Some(a) = &p.actor {
        if let Err(e) = st.core.sessions().sign_out(a, &p.client.info).await {
            // The session may still be live: logged whole, with the request's ID, as every
            // internal failure is; the browser's cookie is cleared either way.
            tracing::error!(
                request_id = %p.client.request_id,
                error = %e.detail(),
                "sign-out failed"
            );
        }
    }
    with_cookie(
        Redirect::to("/login").into_response(),
        clear_cookie(p.client.https),
    )
}

pub async fn sessions(State(st): State<AppState>, p: Page) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let list = match st.core.sessions().my_sessions(a).await {
        Ok(l) => l,
        Err(e) => return fail(&p, "My sessions", e),
    };
    let body = html! {
        h1 { "My sessions" }
        p.muted { "Each place you are signed in. End any you do not recognise." }
        div.table-wrap { table.stack role="table" {
            thead role="rowgroup" { tr role="row" { th scope="col" role="columnheader" { "Started" } th scope="col" role="columnheader" { "Last seen" } th scope="col" role="columnheader" { "IP" } th scope="col" role="columnheader" { "Device" } th scope="col" role="columnheader" { span.visually-hidden { "End" } } } }
            tbody role="rowgroup" {
                @for s in &list {
                    tr role="row" {
                        td role="cell" data-label="Started" { (rfc3339(s.created_ms)) }
                        td role="cell" data-label="Last seen" { (rfc3339(s.last_seen_ms)) }
                        td.address role="cell" data-label="IP" { (s.ip.clone().unwrap_or_default()) }
                        td.address role="cell" data-label="Device" { (s.user_agent.clone().unwrap_or_default()) }
                        td role="cell" {
                            @if s.id == a.session.id { "This session" } @else {
                                form method="post" action={ "/account/sessions/" (s.id) "/revoke" } {
                                    button.link type="submit" { "End" }
                                }
                            }
                        }
                    }
                }
            }
        } }
    };
    page(&p, StatusCode::OK, "My sessions", body)
}

pub async fn revoke_session(
    State(st): State<AppState>,
    p: Page,
    Path(id): Path<String>,
) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let Some(id) = SessionId::parse(&id) else {
        return fail(&p, "My sessions", CoreError::NotFound("session"));
    };
    match st
        .core
        .sessions()
        .revoke_my_session(a, id, &p.client.info)
        .await
    {
        Ok(()) => Redirect::to("/account/sessions").into_response(),
        Err(e) => fail(&p, "My sessions", e),
    }
}
