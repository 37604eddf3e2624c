//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and
//! the request types, served at `/api/v1/openapi.json`.

use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    account, admin, attendance, audit, children, csp, email_events, enrollment, messages,
    password_reset, sessions,
};

/// Every error's body: the type `error_response` writes.
pub use crate::error::ErrorBody;

struct SessionCookie;

impl Modify for SessionCookie {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "kinfold_session",
                "The session cookie (`__Host-kinfold_session` over HTTPS), set by sign-in.",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Kinfold API", description = "Records, sign-in and the audit trail of a Kinfold server. See docs/api.md."),
    paths(
        super::healthz,
        super::readyz,
        csp::report,
        sessions::create,
        sessions::mfa,
        sessions::list,
        sessions::revoke,
        account::me,
        account::change_password,
        account::totp_begin,
        account::totp_confirm,
        enrollment::begin,
        enrollment::confirm,
        password_reset::request,
        password_reset::confirm,
        admin::users,
        admin::reset_mfa,
        admin::revoke_sessions,
        admin::grants,
        admin::tenant,
        admin::update_tenant,
        messages::send,
        messages::status,
        messages::release,
        messages::discard,
        email_events::receive,
        audit::list,
        audit::checkpoints,
        audit::public_key,
        audit::api_access,
        children::list,
        children::detail,
        children::create,
        children::update,
        children::guardians,
        children::add_guardian,
        children::add_pickup,
        children::classrooms,
        children::create_classroom,
        children::assign,
        children::staff,
        children::all_guardians,
        attendance::check_in,
        attendance::check_out,
        attendance::roster,
        openapi_json,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SessionCookie),
    security(("session" = []))
)]
pub struct ApiDoc;

#[utoipa::path(operation_id = "openapi_json", get, path = "/api/v1/openapi.json", tag = "health", responses((status = 200, description = "this document")))]
pub async fn openapi_json() -> Response {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    axum::Json(doc).into_response()
}
