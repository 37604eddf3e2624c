//! The middleware stack every request passes through, outermost first:
//! security headers, CSP nonce and client resolution, panic catcher, JSON error bodies, client resolution,
//! CSRF, request timeout, body limit.

pub mod client;
pub mod csrf;
pub mod errors;
pub mod headers;

use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;

use crate::AppState;

/// Wraps the router. Listed outermost first, so the headers cover everything, errors included.
pub fn apply(router: Router, state: AppState) -> Router {
    let limit = state.web.body_limit;
    router.layer(
        ServiceBuilder::new()
            .layer(from_fn_with_state(state.clone(), headers::security_headers))
            .layer(CatchPanicLayer::custom(errors::panic_response))
            .layer(from_fn(errors::json_errors))
            .layer(from_fn(csrf::refuse_cross_site))
            .layer(from_fn_with_state(state, errors::timeout))
            .layer(DefaultBodyLimit::max(limit))
            .layer(tower_http::limit::RequestBodyLimitLayer::new(limit)),
    )
}
