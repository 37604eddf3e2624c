//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and
//! the request and response types, served at `/api/v1/openapi.json`.
//!
//! Each operation declares its success body (the type its handler returns) and the errors its
//! service can answer; [`CommonErrors`] adds, in one place, the errors the HTTP layer can answer
//! on any operation. Public operations say `security(())`; the rest inherit the session cookie.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::reply::Reply;
use crate::error::ErrorBody;

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

/// The errors the HTTP layer can answer on an operation whatever its handler does, so that no
/// annotation can forget them:
/// - `500 internal`, on any operation (a failure, a panic);
/// - `503 timeout`, on any operation that runs past the request timeout, and `503 unavailable`
///   (with `Retry-After`), on any operation that meets a database it cannot reach just now;
/// - `401 unauthenticated`, behind the session cookie;
/// - `403 cross_site_request`, on state-changing operations (not `/csp-reports`);
/// - `413 payload_too_large`, on operations that take a body;
/// - `400 invalid_json`, `415 unsupported_media_type` and `422 invalid_input`, on operations that
///   take a JSON object through the strict `Json` extractor;
/// - `422 invalid_input`, on operations with query parameters.
///
/// An operation's own description of a status is kept.
struct CommonErrors;

/// Operations that read their body raw (a CSP report, a provider's signed report), not through
/// the `Json` extractor.
const RAW_BODY: [&str; 2] = ["csp_report", "email_events"];

impl Modify for CommonErrors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            let ops = [
                (&mut item.get, false),
                (&mut item.post, true),
                (&mut item.patch, true),
                (&mut item.put, true),
                (&mut item.delete, true),
            ];
            for (op, changes_state) in ops {
                if let Some(op) = op.as_mut() {
                    add_common_errors(op, changes_state);
                }
            }
        }
    }
}

fn add_common_errors(op: &mut Operation, changes_state: bool) {
    let id = op.operation_id.clone().unwrap_or_default();
    let public = op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()));
    let has_body = op.request_body.is_some();
    let json_body = has_body && !RAW_BODY.contains(&id.as_str());
    let has_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Query);
    let mut add = |status: &str, description: &str| {
        let error = ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody"))))
                    .build(),
            )
            .build();
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert(RefOr::T(error));
    };
    add(
        "500",
        "`internal`: logged with the request's ID, named in `X-Request-Id`",
    );
    add(
        "503",
        "Each with `Retry-After`. `timeout`: the request took too long; `unavailable`: the database cannot be reached or written just now (a failover, a full disk), nothing was committed, try again after `Retry-After` seconds; `outcome_unknown`: the connection failed while the change was being committed, so it may or may not have been saved: look (read the record) after `Retry-After` seconds before sending it again; `busy`: the request's audit entries could not be committed in time, nothing was answered",
    );
    if !public {
        add("401", "`unauthenticated`: not signed in");
    }
    if changes_state && id != "csp_report" {
        add(
            "403",
            "`cross_site_request`: a browser's cross-site request",
        );
    }
    if has_body {
        add("413", "`payload_too_large`");
    }
    if json_body {
        add("400", "`invalid_json`: the body is not JSON");
        add("415", "`unsupported_media_type`: send `application/json`");
    }
    if json_body || has_query {
        add(
            "422",
            "`invalid_input`: a malformed or unknown field; `field` names it when it can",
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Kinfold API", description = "Records, sign-in and the audit trail of a Kinfold server. See docs/api.md."),
    paths(
        crate::platform::healthz,
        crate::platform::readyz,
        crate::platform::csp::report,
        crate::sessions::api::create,
        crate::sessions::api::mfa,
        crate::sessions::api::list,
        crate::sessions::api::revoke,
        crate::auth::account::me,
        crate::auth::account::change_password,
        crate::auth::account::totp_begin,
        crate::auth::account::totp_confirm,
        crate::auth::enrollment::begin,
        crate::auth::enrollment::confirm,
        crate::auth::password_reset::request,
        crate::auth::password_reset::confirm,
        crate::tenants::api::users,
        crate::tenants::api::reset_mfa,
        crate::tenants::api::revoke_sessions,
        crate::tenants::api::grants,
        crate::tenants::api::tenant,
        crate::tenants::api::update_tenant,
        crate::mail::messages::send,
        crate::mail::messages::status,
        crate::mail::messages::release,
        crate::mail::messages::discard,
        crate::mail::events::receive,
        crate::audit::api::list,
        crate::audit::api::checkpoints,
        crate::audit::api::public_key,
        crate::audit::api::api_access,
        crate::children::api::list,
        crate::children::api::detail,
        crate::children::api::create,
        crate::children::api::update,
        crate::children::api::guardians,
        crate::children::api::add_guardian,
        crate::children::pickups::add,
        crate::children::pickups::edit,
        crate::classrooms::api::classrooms,
        crate::classrooms::api::create_classroom,
        crate::classrooms::api::assign,
        crate::classrooms::api::update_classroom,
        crate::classrooms::api::archive_classroom,
        crate::classrooms::api::unassign,
        crate::classrooms::api::staff,
        crate::children::api::all_guardians,
        crate::attendance::api::check_in,
        crate::attendance::api::check_out,
        crate::attendance::api::roster,
        crate::children::links::change,
        crate::children::links::unlink,
        crate::children::pickups::remove,
        crate::attendance::api::correct,
        crate::tenants::people_api::invite,
        crate::tenants::people_api::resend,
        crate::tenants::people_api::set_role,
        crate::tenants::people_api::deactivate,
        crate::tenants::people_api::reactivate,
        crate::attendance::staff_api::clock_in,
        crate::attendance::staff_api::clock_out,
        crate::attendance::staff_api::ratios,
        crate::attendance::staff_api::ratio_table,
        crate::attendance::staff_api::set_ratio_table,
        openapi_json,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SessionCookie, &CommonErrors),
    security(("session" = []))
)]
pub struct ApiDoc;

#[utoipa::path(operation_id = "openapi_json", get, path = "/api/v1/openapi.json", tag = "health", security(()), responses((status = 200, description = "this document", body = Object)))]
pub async fn openapi_json() -> Reply<utoipa::openapi::OpenApi> {
    Reply(document())
}

/// The document, with this build's version.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
