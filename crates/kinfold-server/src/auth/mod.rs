//! A user's own account and how one is made safe: who they are, their password and second
//! factor, enrollment links, and password resets; over the API and in the console.

pub mod account;
pub mod enrollment;
mod enrollment_pages;
pub mod password_reset;
mod reset_pages;

use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(account::me))
        .route("/api/v1/me/password", post(account::change_password))
        .route("/api/v1/me/mfa/totp", post(account::totp_begin))
        .route("/api/v1/me/mfa/totp/confirm", post(account::totp_confirm))
        .route("/api/v1/enrollment/begin", post(enrollment::begin))
        .route("/api/v1/enrollment/confirm", post(enrollment::confirm))
        .route("/api/v1/password-reset", post(password_reset::request))
        .route(
            "/api/v1/password-reset/confirm",
            post(password_reset::confirm),
        )
        .route(
            "/enroll/{token}",
            get(enrollment_pages::enroll_form).post(enrollment_pages::enroll),
        )
        .route(
            "/reset",
            get(reset_pages::request_form).post(reset_pages::request),
        )
        .route(
            "/reset/{token}",
            get(reset_pages::choose_form).post(reset_pages::choose),
        )
}
