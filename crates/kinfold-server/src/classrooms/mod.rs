//! Classrooms and the staff assigned to them.

pub mod api;

use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/classrooms",
            get(api::classrooms).post(api::create_classroom),
        )
        .route("/api/v1/classrooms/{id}/staff", post(api::assign))
        .route("/api/v1/staff", get(api::staff))
}
