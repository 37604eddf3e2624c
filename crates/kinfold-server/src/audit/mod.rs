//! The audit trail (L1-L4): the tenant's chain, its signed checkpoints, the API-access log and
//! the public key that checks them; over the API and in the console.

pub mod api;
mod pages;

use axum::routing::get;
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit", get(api::list))
        .route("/api/v1/audit/checkpoints", get(api::checkpoints))
        .route("/api/v1/audit/api-access", get(api::api_access))
        .route("/api/v1/audit/public-key", get(api::public_key))
        .route("/admin/audit", get(pages::audit))
}
