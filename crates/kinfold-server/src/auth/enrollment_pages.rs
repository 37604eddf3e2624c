//! The console's enrollment page: an invited user sets a password and a second factor.

use crate::api::cookie_for;
use crate::api::{qr_svg, with_cookie};
use crate::console::pages::{error_box, error_page, page};
use crate::console::Page;
use crate::extract::Form;
use crate::{ApiError, AppState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kinfold_crypto::password::Password;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

fn enroll_body(token: &str, offer: Option<(&str, &str, bool)>, err: Option<&ApiError>) -> Markup {
    html! {
        div.card {
            h1 { "Set up two-step verification" }
            @if let Some(e) = err { (error_box(e)) }
            @if let Some((svg, secret, needs_password)) = offer {
                p { "Scan this code with an authenticator app, then enter the 6-digit code it shows." }
                div.qr role="img" aria-label="QR code for your authenticator app" { (PreEscaped(svg)) }
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
