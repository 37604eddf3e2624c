//! Sessions (A1-A3): signing in with a password and a second factor, the signed-in user's
//! sessions, and signing out; over the API and in the console.

pub mod api;
mod pages;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sessions", post(api::create).get(api::list))
        .route("/api/v1/sessions/mfa", post(api::mfa))
        .route("/api/v1/sessions/{id}", delete(api::revoke))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/login/mfa", post(pages::login_mfa))
        .route("/logout", post(pages::logout))
        .route("/account/sessions", get(pages::sessions))
        .route("/account/sessions/{id}/revoke", post(pages::revoke_session))
}
