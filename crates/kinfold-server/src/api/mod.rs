//! The JSON API under `/api/v1`, plus health checks and CSP reports.

mod account;
mod admin;
mod attendance;
mod audit;
mod child_body;
mod children;
mod csp;
mod email_events;
mod enrollment;
mod messages;
pub mod openapi;
pub mod password_reset;
pub mod reply;
mod sessions;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::error::ErrorBody;
use crate::{ApiError, AppState};
use reply::{Health, Reply};

pub use child_body::view_json;
pub use enrollment::qr_svg;
pub use sessions::cookie_for;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .route("/readyz", get(readyz))
        .route("/csp-reports", post(csp::report))
        .route(
            "/api/v1/sessions",
            post(sessions::create).get(sessions::list),
        )
        .route("/api/v1/sessions/mfa", post(sessions::mfa))
        .route("/api/v1/sessions/{id}", delete(sessions::revoke))
        .route("/api/v1/me", get(account::me))
        .route("/api/v1/me/password", post(account::change_password))
        .route("/api/v1/me/mfa/totp", post(account::totp_begin))
        .route("/api/v1/me/mfa/totp/confirm", post(account::totp_confirm))
        .route("/api/v1/enrollment/begin", post(enrollment::begin))
        .route("/api/v1/enrollment/confirm", post(enrollment::confirm))
        .route("/api/v1/password-reset", post(password_reset::request))
        .route(
            "/api/v1/password-reset/confirm",
            post(password_reset::confirm),
        )
        .route(
            "/api/v1/tenant",
            get(admin::tenant).patch(admin::update_tenant),
        )
        .route("/api/v1/users", get(admin::users))
        .route("/api/v1/users/{id}/mfa/reset", post(admin::reset_mfa))
        .route(
            "/api/v1/users/{id}/sessions",
            delete(admin::revoke_sessions),
        )
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/audit/checkpoints", get(audit::checkpoints))
        .route("/api/v1/audit/api-access", get(audit::api_access))
        .route("/api/v1/audit/public-key", get(audit::public_key))
        .route(
            "/api/v1/classrooms",
            get(children::classrooms).post(children::create_classroom),
        )
        .route("/api/v1/classrooms/{id}/staff", post(children::assign))
        .route("/api/v1/staff", get(children::staff))
        .route("/api/v1/guardians", get(children::all_guardians))
        .route(
            "/api/v1/children",
            get(children::list).post(children::create),
        )
        .route(
            "/api/v1/children/{id}",
            get(children::detail).patch(children::update),
        )
        .route(
            "/api/v1/children/{id}/guardians",
            get(children::guardians).post(children::add_guardian),
        )
        .route("/api/v1/children/{id}/pickups", post(children::add_pickup))
        .route("/api/v1/access-grants", get(admin::grants))
        .route("/api/v1/messages", post(messages::send))
        .route(
            "/api/v1/email/events/{provider}",
            post(email_events::receive),
        )
        .route("/api/v1/messages/{id}", get(messages::status))
        .route("/api/v1/messages/{id}/release", post(messages::release))
        .route("/api/v1/messages/{id}/discard", post(messages::discard))
        .route("/api/v1/attendance", get(attendance::roster))
        .route("/api/v1/attendance/check-in", post(attendance::check_in))
        .route("/api/v1/attendance/check-out", post(attendance::check_out))
}

#[utoipa::path(operation_id = "healthz", get, path = "/healthz", tag = "health", security(()), responses((status = 200, description = "serving: `{\"status\": \"ok\"}`", body = Health)))]
async fn healthz() -> Reply<Health> {
    Reply(Health { status: "ok" })
}

#[utoipa::path(operation_id = "readyz", get, path = "/readyz", tag = "health", security(()), responses((status = 200, description = "database reachable, migrations applied: `{\"status\": \"ready\"}`", body = Health), (status = 503, description = "`not_ready`", body = ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> Result<Reply<Health>, ApiError> {
    match state.core.ready().await {
        Ok(true) => Ok(Reply(Health { status: "ready" })),
        Ok(false) => Err(ApiError::http(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "migrations are pending",
        )),
        Err(e) => {
            // Logged here: the answer is a 503 that names no internal error.
            tracing::error!(error = %e.detail(), "readiness check failed");
            Err(ApiError::http(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the database is unreachable",
            ))
        }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::http(StatusCode::NOT_FOUND, "not_found", "no such resource")
}

/// `Set-Cookie` for a new session: `HttpOnly`, `SameSite=Lax`, `Path=/`, and over HTTPS
/// `Secure` with the `__Host-` prefix.
pub fn session_cookie(token: &str, https: bool, max_age_secs: i64) -> HeaderValue {
    let name = crate::extract::cookie_name(https);
    let secure = if https { "; Secure" } else { "" };
    let v =
        format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear_cookie(https: bool) -> HeaderValue {
    session_cookie("", https, 0)
}

pub fn with_cookie(mut resp: Response, cookie: HeaderValue) -> Response {
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    resp
}

pub use kinfold_core::auth::rfc3339_ms as rfc3339;

pub fn parse_rfc3339(field: &'static str, s: &str) -> Result<i64, ApiError> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
        .map_err(|_| {
            kinfold_core::CoreError::invalid(field, "must be an RFC 3339 timestamp").into()
        })
}

/// A JSON body serialized into a buffer sized for a typical record, in one allocation, instead
/// of `axum::Json`'s small buffer that grows as it writes. For the hottest reads.
pub fn json_body<T: serde::Serialize>(value: &T) -> Response {
    let mut buf = Vec::with_capacity(1024);
    match serde_json::to_writer(&mut buf, value) {
        Ok(()) => {
            // Room for the security headers the edge middleware adds: one allocation.
            let mut headers = axum::http::HeaderMap::with_capacity(16);
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let mut resp = Response::new(axum::body::Body::from(buf));
            *resp.headers_mut() = headers;
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "a response could not be serialized");
            crate::error::error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
                None,
            )
        }
    }
}
