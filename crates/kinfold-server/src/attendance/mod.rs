//! Attendance: check-in, check-out and the day's roster; over the API and in the console.

pub mod api;
mod export;
mod pages;
mod ratio_pages;
mod room;
pub mod staff_api;
mod staff_correction;

pub(crate) use pages::{day_history, SentCorrection};
pub(crate) use ratio_pages::{clock_form, clock_notice, ratio_line};
pub(crate) use room::person_options;

use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/attendance", get(api::roster))
        .route("/api/v1/attendance/check-in", post(api::check_in))
        .route("/api/v1/attendance/check-out", post(api::check_out))
        .route("/api/v1/attendance/{id}/correction", post(api::correct))
        .route(
            "/children/{id}/attendance/{entry}/correction",
            post(pages::correct),
        )
        .route("/api/v1/staff/clock-in", post(staff_api::clock_in))
        .route("/api/v1/staff/clock-out", post(staff_api::clock_out))
        .route("/api/v1/ratios", get(staff_api::ratios))
        .route(
            "/api/v1/ratio-table",
            get(staff_api::ratio_table).put(staff_api::set_ratio_table),
        )
        .route("/attendance", get(pages::roster))
        .route("/attendance/export", get(export::export))
        .route("/ratios", get(ratio_pages::board))
        .route(
            "/admin/ratios",
            get(ratio_pages::table).post(ratio_pages::save_table),
        )
        .route("/staff/clock", post(ratio_pages::clock))
        .route("/staff/clock/correct", post(staff_correction::correct))
        .route("/children/{id}/attendance", post(pages::attendance))
        .route("/rooms/{id}", get(room::room))
        .route("/rooms/{id}/attendance", post(room::record))
}
