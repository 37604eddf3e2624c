//! Attendance: check-in, check-out and the day's roster; over the API and in the console.

pub mod api;
mod pages;
mod room;

pub(crate) use room::person_options;

use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/attendance", get(api::roster))
        .route("/api/v1/attendance/check-in", post(api::check_in))
        .route("/api/v1/attendance/check-out", post(api::check_out))
        .route("/attendance", get(pages::roster))
        .route("/children/{id}/attendance", post(pages::attendance))
        .route("/rooms/{id}", get(room::room))
        .route("/rooms/{id}/attendance", post(room::record))
}
