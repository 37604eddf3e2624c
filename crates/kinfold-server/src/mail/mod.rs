//! Family email (E1-E7): sending messages and holding them for review, provider reports,
//! one-click unsubscribe and its preferences page, and the administrators' email log.

mod compose;
pub mod events;
mod log;
pub mod messages;
mod unsubscribe;

use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/messages", post(messages::send))
        .route("/api/v1/messages/{id}", get(messages::status))
        .route("/api/v1/messages/{id}/release", post(messages::release))
        .route("/api/v1/messages/{id}/discard", post(messages::discard))
        .route("/api/v1/email/events/{provider}", post(events::receive))
        .route("/admin/email", get(log::show))
        .route("/messages/new", get(compose::new).post(compose::post))
        .route("/messages/{id}", get(compose::show))
        .route("/messages/{id}/{what}", post(compose::resolve))
        .route("/u/{token}", get(unsubscribe::show).post(unsubscribe::post))
}
