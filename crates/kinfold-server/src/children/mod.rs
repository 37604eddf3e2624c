//! Children (R1-R4): their records and sealed fields, guardians and authorized pickups; over the
//! API and in the console.

mod admin;
pub mod api;
pub mod body;
pub mod links;
pub(crate) mod pages;
pub mod pickups;

use axum::routing::{get, patch, post, put};
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/guardians", get(api::all_guardians))
        .route("/api/v1/children", get(api::list).post(api::create))
        .route("/api/v1/children/{id}", get(api::detail).patch(api::update))
        .route(
            "/api/v1/children/{id}/guardians",
            get(api::guardians).post(api::add_guardian),
        )
        .route("/api/v1/children/{id}/pickups", post(pickups::add))
        .route(
            "/api/v1/children/{id}/guardians/{guardian_id}",
            patch(links::change).delete(links::unlink),
        )
        .route(
            "/api/v1/children/{id}/pickups/{pickup_id}",
            put(pickups::edit).delete(pickups::remove),
        )
        .route(
            "/children/{id}/guardians/{guardian_id}",
            post(links::guardian_form),
        )
        .route(
            "/children/{id}/pickups/{pickup_id}/remove",
            post(pickups::remove_form),
        )
        .route("/children/{id}/pickups", post(pickups::add_form))
        .route(
            "/children/{id}/pickups/{pickup_id}",
            post(pickups::edit_form),
        )
        .route("/children", get(pages::children))
        .route("/children/{id}", get(pages::child))
        .route("/children/{id}/guardians", post(pages::add_guardian))
        .route(
            "/admin/children/new",
            get(admin::new_form).post(admin::create),
        )
        .route(
            "/children/{id}/edit",
            get(admin::edit_form).post(admin::update),
        )
}
