//! Enrollment links: the only way a staff account without a second factor gets one.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use kinfold_core::auth::TotpOffer;
use kinfold_crypto::password::Password;
use serde::Deserialize;
use serde_json::json;

use super::sessions::cookie_for;
use super::with_cookie;
use crate::api::openapi::ErrorBody;
use crate::extract::{Client, Json};
use crate::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BeginBody {
    token: String,
}

#[utoipa::path(operation_id = "enrollment_begin", post, path = "/api/v1/enrollment/begin", tag = "account", request_body = BeginBody, responses((status = 200, description = "`{secret, otpauth_uri, qr_svg, account}`"), (status = 400, description = "invalid_enrollment", body = ErrorBody)))]
pub async fn begin(
    State(st): State<AppState>,
    Json(b): Json<BeginBody>,
) -> Result<Response, ApiError> {
    let (offer, _, _) = st.core.enrollment_begin(&b.token).await?;
    Ok(axum::Json(offer_json(&offer)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    token: String,
    code: String,
    password: String,
}

#[utoipa::path(operation_id = "enrollment_confirm", post, path = "/api/v1/enrollment/confirm", tag = "account", request_body = ConfirmBody, responses((status = 200, description = "`{recovery_codes, signed_in}` and a session cookie"), (status = 400, description = "invalid_enrollment", body = ErrorBody), (status = 401, description = "invalid_code or invalid_credentials", body = ErrorBody)))]
pub async fn confirm(
    State(st): State<AppState>,
    client: Client,
    Json(b): Json<ConfirmBody>,
) -> Result<Response, ApiError> {
    let enrolled = st
        .core
        .enrollment_confirm(&b.token, &b.code, Password::new(b.password), client.info())
        .await?;
    let body =
        json!({"recovery_codes": enrolled.recovery_codes, "signed_in": enrolled.session.is_some()});
    let resp = axum::Json(body).into_response();
    Ok(match enrolled.session {
        Some(issued) => with_cookie(resp, cookie_for(&issued, client.0.https)),
        None => resp,
    })
}

pub fn offer_json(offer: &TotpOffer) -> serde_json::Value {
    json!({
        "secret": offer.secret.to_base32(),
        "otpauth_uri": offer.otpauth_uri,
        "qr_svg": qr_svg(&offer.otpauth_uri),
        "account": offer.account,
    })
}

/// The otpauth URI as an inline SVG QR code (no script, no inline style: CSP-safe).
pub fn qr_svg(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color>()
                .min_dimensions(220, 220)
                .quiet_zone(true)
                .build();
            match svg.find("<svg") {
                Some(i) => svg.get(i..).unwrap_or_default().to_owned(),
                None => svg,
            }
        }
        Err(_) => String::new(),
    }
}
