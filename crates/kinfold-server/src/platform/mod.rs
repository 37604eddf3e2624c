//! The platform's own endpoints: health and readiness, CSP violation reports, and the OpenAPI
//! document.

pub mod csp;

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;

use crate::api::openapi;
use crate::api::reply::{Health, Reply};
use crate::error::ErrorBody;
use crate::error::Refusal;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .route("/csp-reports", post(csp::report))
}

#[utoipa::path(operation_id = "healthz", get, path = "/healthz", tag = "health", security(()), responses((status = 200, description = "serving: `{\"status\": \"ok\"}`", body = Health)))]
pub async fn healthz() -> Reply<Health> {
    Reply(Health { status: "ok" })
}

#[utoipa::path(operation_id = "readyz", get, path = "/readyz", tag = "health", security(()), responses((status = 200, description = "database reachable, migrations applied: `{\"status\": \"ready\"}`", body = Health), (status = 503, description = "`not_ready`", body = ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Reply<Health>, ApiError> {
    match state.core.ready().await {
        Ok(true) => Ok(Reply(Health { status: "ready" })),
        Ok(false) => Err(ApiError::refused(
            Refusal::NotReady,
            "migrations are pending",
        )),
        Err(e) => {
            // Logged here: the answer is a 503 that names no internal error.
            tracing::error!(error = %e.detail(), "readiness check failed");
            Err(ApiError::refused(
                Refusal::NotReady,
                "the database is unreachable",
            ))
        }
    }
}
