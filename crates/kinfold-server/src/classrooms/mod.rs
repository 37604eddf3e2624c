//! Classrooms and the staff assigned to them: the API, and the administrators' pages.

pub mod api;
mod pages;

use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/classrooms",
            get(api::classrooms).post(api::create_classroom),
        )
        .route("/api/v1/classrooms/{id}", put(api::update_classroom))
        .route(
            "/api/v1/classrooms/{id}/archive",
            post(api::archive_classroom),
        )
        .route("/api/v1/classrooms/{id}/staff", post(api::assign))
        .route(
            "/api/v1/classrooms/{id}/staff/{user_id}",
            delete(api::unassign),
        )
        .route("/api/v1/staff", get(api::staff))
        .route("/admin/classrooms", get(pages::list).post(pages::create))
        .route(
            "/admin/classrooms/{id}",
            get(pages::show).post(pages::update),
        )
        .route("/admin/classrooms/{id}/staff", post(pages::assign))
        .route(
            "/admin/classrooms/{id}/staff/{user_id}/remove",
            post(pages::unassign),
        )
        .route("/admin/classrooms/{id}/archive", post(pages::archive))
}
