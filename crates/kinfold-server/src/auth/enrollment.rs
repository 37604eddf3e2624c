//! Enrollment links: the only way a staff account without a second factor gets one.

use axum::extract::State;
use kinfold_core::auth::TotpOffer;
use kinfold_crypto::password::Password;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::reply::{Reply, WithCookie};
use crate::error::ErrorBody;
use crate::extract::{Client, Json};
use crate::sessions::api::cookie_for;
use crate::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BeginBody {
    token: String,
}

#[utoipa::path(operation_id = "enrollment_begin", post, path = "/api/v1/enrollment/begin", tag = "account", security(()), request_body = BeginBody, responses((status = 200, description = "`{secret, otpauth_uri, qr_svg, account}`", body = TotpOfferOut), (status = 400, description = "invalid_enrollment", body = ErrorBody)))]
pub async fn begin(
    State(st): State<AppState>,
    Json(b): Json<BeginBody>,
) -> Result<Reply<TotpOfferOut>, ApiError> {
    let (offer, _, _) = st.core.auth().enrollment_begin(&b.token).await?;
    Ok(Reply(offer_json(&offer)))
}

#[derive(Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    token: String,
    code: String,
    password: String,
}

#[utoipa::path(operation_id = "enrollment_confirm", post, path = "/api/v1/enrollment/confirm", tag = "account", security(()), request_body = ConfirmBody, responses((status = 200, description = "`{recovery_codes, signed_in}` and a session cookie", body = Enrolled), (status = 400, description = "invalid_enrollment", body = ErrorBody), (status = 401, description = "invalid_code or invalid_credentials", body = ErrorBody), (status = 429, description = "throttled: too many wrong passwords or codes for the account; see Retry-After", body = ErrorBody)))]
pub async fn confirm(
    State(st): State<AppState>,
    client: Client,
    Json(b): Json<ConfirmBody>,
) -> Result<WithCookie<Reply<Enrolled>>, ApiError> {
    let enrolled = st
        .core
        .auth()
        .enrollment_confirm(&b.token, &b.code, Password::new(b.password), client.info())
        .await?;
    let cookie = enrolled
        .session
        .as_ref()
        .map(|issued| cookie_for(issued, client.0.https));
    let body = Enrolled {
        recovery_codes: enrolled.recovery_codes,
        signed_in: cookie.is_some(),
    };
    Ok(WithCookie(cookie, Reply(body)))
}

/// The second factor is on.
#[derive(Serialize, ToSchema)]
pub struct Enrolled {
    /// Shown once.
    pub recovery_codes: Vec<String>,
    /// Whether the answer carries a session cookie.
    pub signed_in: bool,
}

/// A TOTP secret offered for enrollment, not yet confirmed.
#[derive(Serialize, ToSchema)]
pub struct TotpOfferOut {
    /// The account name the authenticator app shows.
    pub account: String,
    pub otpauth_uri: String,
    /// The URI as an inline SVG QR code.
    pub qr_svg: String,
    /// The secret in base32, to type in by hand.
    pub secret: String,
}

pub fn offer_json(offer: &TotpOffer) -> TotpOfferOut {
    TotpOfferOut {
        account: offer.account.clone(),
        otpauth_uri: offer.otpauth_uri.clone(),
        qr_svg: qr_svg(&offer.otpauth_uri),
        secret: offer.secret.to_base32(),
    }
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
