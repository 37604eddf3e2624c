//! Extractors: JSON and form bodies whose rejections use our error shape, the client
//! context, and the signed-in [`Actor`].

use std::sync::Arc;

use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use kinfold_core::Actor;
use kinfold_model::ClientInfo;
use serde::de::DeserializeOwned;

use crate::error::Refusal;
use crate::middleware::client::ClientContext;
use crate::{ApiError, AppState};

/// `axum::Json`, but a bad body answers in our error shape and names the problem.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Every body we take is an object; serde would otherwise also read a struct from an
        // array, which is not strict parsing.
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(json_rejection)?;
        if !value.is_object() {
            return Err(ApiError::refused(
                Refusal::InvalidInput,
                "the body must be a JSON object",
            ));
        }
        serde_json::from_value(value)
            .map(Json)
            .map_err(|e| ApiError::refused(Refusal::InvalidInput, format!("invalid body: {e}")))
    }
}

fn json_rejection(rej: JsonRejection) -> ApiError {
    let refusal = match &rej {
        JsonRejection::MissingJsonContentType(_) => Refusal::UnsupportedMediaType,
        JsonRejection::JsonSyntaxError(_) => Refusal::InvalidJson,
        JsonRejection::JsonDataError(_) => Refusal::InvalidInput,
        _ => Refusal::of_status(rej.status()).unwrap_or(Refusal::BadRequest),
    };
    // serde's message names the field ("unknown field `x`", "missing field `y`"); it carries
    // no internal detail.
    ApiError::refused(refusal, rej.body_text())
}

/// `axum::extract::Query`, with the same error shape: a malformed or unknown parameter is
/// `422 invalid_input` naming it.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e| ApiError::refused(Refusal::InvalidInput, e.body_text()))
    }
}

/// `axum::Form`, with the same error shape.
pub struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(Form(v)),
            Err(rej) => {
                let refusal = match &rej {
                    FormRejection::InvalidFormContentType(_) => Refusal::UnsupportedMediaType,
                    _ => Refusal::of_status(rej.status()).unwrap_or(Refusal::InvalidInput),
                };
                Err(ApiError::refused(refusal, rej.body_text()))
            }
        }
    }
}

/// Where the request came from, as the middleware resolved it.
pub struct Client(pub Arc<ClientContext>);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Client(
            parts
                .extensions
                .get::<Arc<ClientContext>>()
                .cloned()
                .unwrap_or_default(),
        ))
    }
}

impl Client {
    pub fn info(&self) -> &ClientInfo {
        &self.0.info
    }

    /// The same, shared: for what outlives the request (an audit entry).
    pub fn shared_info(&self) -> &Arc<ClientInfo> {
        &self.0.info
    }
}

/// The session cookie's name: `__Host-` prefixed over HTTPS (RFC 6265bis §4.1.3.2).
pub fn cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-kinfold_session"
    } else {
        "kinfold_session"
    }
}

/// The tenant, the user and the route template of an authenticated request.
pub type AccessFacts = (
    kinfold_model::TenantId,
    kinfold_model::UserId,
    std::sync::Arc<str>,
);

/// The signed-in user. Missing, expired or revoked sessions answer 401.
pub struct Auth(pub Actor);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = parts.extensions.get::<Arc<ClientContext>>();
        let token = session_token(&parts.headers, client.is_some_and(|c| c.https))
            .ok_or(kinfold_core::CoreError::Unauthenticated)?;
        let anonymous = ClientInfo::default();
        let info = client.map_or(&anonymous, |c| &c.info);
        let actor = state.core.sessions().authenticate(token, info).await?;
        // Filled here so the edge middleware can log the API request (L4) once the response
        // is known.
        if let (Some(client), Some(route)) =
            (client, parts.extensions.get::<axum::extract::MatchedPath>())
        {
            if let Ok(mut g) = client.access.lock() {
                *g = Some((
                    actor.scope.tenant_id(),
                    actor.user.id,
                    std::sync::Arc::from(route.as_str()),
                ));
            }
        }
        Ok(Auth(actor))
    }
}

/// The session token from the `Cookie` header, under the name this scheme uses. Borrowed:
/// the secret is not copied.
pub fn session_token(headers: &axum::http::HeaderMap, https: bool) -> Option<&str> {
    let name = cookie_name(https);
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}
