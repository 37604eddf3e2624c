//! The center and its people, for administrators: the center's details, its users, their
//! sessions and second factors, and operators' access grants.

pub mod api;
mod pages;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenant", get(api::tenant).patch(api::update_tenant))
        .route("/api/v1/users", get(api::users))
        .route("/api/v1/users/{id}/mfa/reset", post(api::reset_mfa))
        .route("/api/v1/users/{id}/sessions", delete(api::revoke_sessions))
        .route("/api/v1/access-grants", get(api::grants))
        .route("/admin/center", get(pages::show).post(pages::save))
}
