//! The center and its people, for administrators: the center's details, its users, their
//! sessions and second factors, and operators' access grants.

pub mod api;
mod pages;
pub(crate) mod people;
pub mod people_api;

use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenant", get(api::tenant).patch(api::update_tenant))
        .route("/api/v1/users", get(api::users).post(people_api::invite))
        .route("/api/v1/users/{id}/invitation", post(people_api::resend))
        .route("/api/v1/users/{id}/role", put(people_api::set_role))
        .route(
            "/api/v1/users/{id}/deactivate",
            post(people_api::deactivate),
        )
        .route(
            "/api/v1/users/{id}/reactivate",
            post(people_api::reactivate),
        )
        .route("/api/v1/users/{id}/mfa/reset", post(api::reset_mfa))
        .route("/api/v1/users/{id}/sessions", delete(api::revoke_sessions))
        .route("/api/v1/access-grants", get(api::grants))
        .route("/admin/center", get(pages::show).post(pages::save))
        .route("/admin/people", get(people::show).post(people::invite))
        .route("/admin/people/{id}/role", post(people::set_role))
        .route("/admin/people/{id}/{what}", post(people::act))
}
