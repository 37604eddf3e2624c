//! Console pages. Each handler calls one core service, like the API handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use kinfold_core::auth::SignIn;
use kinfold_core::policy::{self, Action, Scope};
use kinfold_core::CoreError;
use kinfold_crypto::password::Password;
use kinfold_model::{AuditQuery, SessionId};
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

use super::Page;
use crate::api::cookie_for;
use crate::api::{clear_cookie, qr_svg, rfc3339, with_cookie};
use crate::extract::Form;
use crate::{ApiError, AppState};

pub(super) fn page(p: &Page, status: StatusCode, title: &str, body: Markup) -> Response {
    (status, Html(p.render(title, body).into_string())).into_response()
}

pub(super) fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

/// An error as the console shows it: the message and the same stable code the API answers.
pub(super) fn error_box(e: &ApiError) -> Markup {
    html! { p.error role="alert" { (e.public_message()) " " span.code { "(" (e.code()) ")" } } }
}

/// Every console error goes out here, as the API's go out through `ApiError::into_response`:
/// with the error's status, and through `ApiError::finish`, which hands an internal error to
/// the edge to be logged once with the request's ID. `body` shows the error ([`error_box`]);
/// for an internal error the page also names the request's ID, for a report to quote.
pub(super) fn error_page(p: &Page, e: ApiError, title: &str, body: Markup) -> Response {
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
pub(super) fn fail(p: &Page, title: &str, e: impl Into<ApiError>) -> Response {
    let e = e.into();
    let body = error_box(&e);
    error_page(p, e, title, body)
}

pub async fn home(p: Page) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    let body = html! {
        h1 { "Welcome, " (a.user.name) }
        p { "You are signed in to " strong { (a.tenant.name) } " as " (a.role.as_str().replace('_', " ")) "." }
        p.muted { "Signed in as " (a.user.email) ". Your session ends after 8 hours without activity." }
        ul {
            li { a href="/account/sessions" { "See and end your sessions" } }
            @if policy::scope(a.role, Action::ReadAudit) == Scope::WholeTenant {
                li { a href="/admin/audit" { "Read the audit log" } }
            }
        }
    };
    page(&p, StatusCode::OK, "Home", body)
}

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
            tracing::warn!(error = %e, "sign-out failed");
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
        table {
            thead { tr { th { "Started" } th { "Last seen" } th { "IP" } th { "Device" } th {} } }
            tbody {
                @for s in &list {
                    tr {
                        td { (rfc3339(s.created_ms)) }
                        td { (rfc3339(s.last_seen_ms)) }
                        td { (s.ip.clone().unwrap_or_default()) }
                        td { (s.user_agent.clone().unwrap_or_default()) }
                        td {
                            @if s.id == a.session.id { "This session" } @else {
                                form method="post" action={ "/account/sessions/" (s.id) "/revoke" } {
                                    button.link type="submit" { "End" }
                                }
                            }
                        }
                    }
                }
            }
        }
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

fn enroll_body(token: &str, offer: Option<(&str, &str, bool)>, err: Option<&ApiError>) -> Markup {
    html! {
        div.card {
            h1 { "Set up two-step verification" }
            @if let Some(e) = err { (error_box(e)) }
            @if let Some((svg, secret, needs_password)) = offer {
                p { "Scan this code with an authenticator app, then enter the 6-digit code it shows." }
                div.qr aria-label="QR code for your authenticator app" { (PreEscaped(svg)) }
                p { "Or type this key: " code #totp-secret { (secret) } }
                form method="post" action={ "/enroll/" (token) } {
                    label for="password" { @if needs_password { "Choose a password (at least 8 characters)" } @else { "Your password" } }
                    input #password name="password" type="password" required autocomplete=(if needs_password { "new-password" } else { "current-password" });
                    label for="code" { "Code from the app" }
                    input #code name="code" required inputmode="numeric" autocomplete="one-time-code";
                    button type="submit" { "Turn on two-step verification" }
                }
            }
        }
    }
}

pub async fn enroll_form(
    State(st): State<AppState>,
    p: Page,
    Path(token): Path<String>,
) -> Response {
    match st.core.auth().enrollment_begin(&token).await {
        Ok((offer, user, _)) => {
            let svg = qr_svg(&offer.otpauth_uri);
            let secret = offer.secret.to_base32();
            let body = enroll_body(
                &token,
                Some((&svg, &secret, user.password_hash.is_none())),
                None,
            );
            page(&p, StatusCode::OK, "Enroll", body)
        }
        Err(e) => {
            let e = ApiError::from(e);
            let body = enroll_body(&token, None, Some(&e));
            error_page(&p, e, "Enroll", body)
        }
    }
}

#[derive(Deserialize)]
pub struct EnrollForm {
    password: String,
    code: String,
}

pub async fn enroll(
    State(st): State<AppState>,
    p: Page,
    Path(token): Path<String>,
    Form(f): Form<EnrollForm>,
) -> Response {
    match st
        .core
        .auth()
        .enrollment_confirm(&token, &f.code, Password::new(f.password), &p.client.info)
        .await
    {
        Ok(enrolled) => {
            let body = html! {
                div.card {
                    h1 { "Two-step verification is on" }
                    p { "Keep these recovery codes somewhere safe. Each works once, if you lose your phone. They are shown only now." }
                    ul.codes { @for c in &enrolled.recovery_codes { li { (c) } } }
                    p { a href="/" { "Continue to Kinfold" } }
                }
            };
            let resp = page(&p, StatusCode::OK, "Enrolled", body);
            match &enrolled.session {
                Some(s) => with_cookie(resp, cookie_for(s, p.client.https)),
                None => resp,
            }
        }
        Err(e) => {
            let e = ApiError::from(e);
            let body = enroll_body(&token, None, Some(&e));
            error_page(&p, e, "Enroll", body)
        }
    }
}

pub async fn audit(State(st): State<AppState>, p: Page) -> Response {
    let Some(a) = &p.actor else { return to_login() };
    if let Err(e) =
        kinfold_core::policy::require_whole_tenant(a, kinfold_core::policy::Action::ReadAudit)
    {
        return fail(&p, "Audit log", e);
    }
    let q = AuditQuery {
        limit: 100,
        ..Default::default()
    };
    let entries = match st.core.audit_log().tenant_audit_entries(a, &q).await {
        Ok(e) => e,
        Err(e) => return fail(&p, "Audit log", e),
    };
    let body = html! {
        h1 { "Audit log" }
        p.muted { "Newest first. Every entry is hash-chained; signed checkpoints are exported from "
            code { "/api/v1/audit/checkpoints" } "." }
        table {
            thead { tr { th { "#" } th { "Time" } th { "Category" } th { "Event" } th { "IP" } th { "Details" } } }
            tbody {
                @for e in &entries {
                    tr {
                        td { (e.seq) }
                        td { (rfc3339(e.at_ms)) }
                        td { (e.category) }
                        td { (e.kind) }
                        td { (e.ip.clone().unwrap_or_default()) }
                        td.mono { (e.event) }
                    }
                }
            }
        }
    };
    page(&p, StatusCode::OK, "Audit log", body)
}
