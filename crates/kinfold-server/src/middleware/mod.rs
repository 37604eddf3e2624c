//! The middleware every request passes through. One function, [`edge`], does the cross-cutting
//! work in order, so the order is visible in one place:
//!
//! 1. a fresh CSP nonce, and the client (IP, scheme, user agent, device) resolved once;
//! 2. CSRF: a cross-site state-changing request stops here with 403;
//! 3. the request runs under the timeout (panics become a 500 inside);
//! 4. an internal failure is logged with the request's ID, and an error response without our
//!    JSON body gets one (405, 413, ...);
//! 5. the security headers go on whatever comes back.
//!
//! Inside it: the panic catcher and the body limit.

pub mod client;
pub mod csrf;
pub mod errors;
pub mod headers;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use rand::RngCore;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::Refusal;
use crate::{ApiError, AppState};

/// Wraps the router: `edge` outermost, so the headers cover everything, errors included.
pub fn apply(router: Router, state: AppState) -> Router {
    let limit = state.web.body_limit;
    router.layer(
        ServiceBuilder::new()
            .layer(from_fn_with_state(state, edge))
            .layer(CatchPanicLayer::custom(errors::panic_response))
            .layer(DefaultBodyLimit::max(limit))
            .layer(tower_http::limit::RequestBodyLimitLayer::new(limit)),
    )
}

pub async fn edge(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // 128 bits from the thread-local CSPRNG (ChaCha, seeded and reseeded from the OS).
    let mut raw = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut raw);
    let nonce = base64::engine::general_purpose::STANDARD.encode(raw);
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let mut client = client::resolve(
        peer,
        req.headers(),
        state.web.tls,
        &state.web.trusted_proxies,
    );
    client.nonce = nonce;
    let client = std::sync::Arc::new(client);
    let https = client.https;

    let resp = if csrf::refused(&req) {
        ApiError::refused(Refusal::CrossSiteRequest, "cross-site requests are refused")
            .into_response()
    } else {
        let method = method_name(req.method());
        req.extensions_mut().insert(client.clone());
        // Audit entries the request writes are committed before it answers (L1); under
        // `deferring` it waits once, at the end, for its last entry: its API access entry,
        // queued last, so its commit covers the request's earlier entries.
        // Boxed: the request's future is large, and each layer that holds it would copy it.
        let ((resp, durable), deferred) = kinfold_core::audit::deferring(Box::pin(async {
            let outcome = tokio::time::timeout(state.web.request_timeout, next.run(req)).await;
            let resp = match outcome {
                Ok(resp) => errors::finish(resp, &client),
                Err(_) => {
                    tracing::warn!("request timed out");
                    ApiError::refused(Refusal::Timeout, "the request took too long").into_response()
                }
            };
            let durable = log_access(&state, &client, method, resp.status()).await;
            (resp, durable)
        }))
        .await;
        // A response whose entries are not committed is not sent: `busy` goes instead. An
        // error made here goes through `finish` too, so an internal one is logged.
        match durable {
            Ok(()) => match deferred.committed().await {
                Ok(()) => resp,
                Err(e) => errors::finish(ApiError::from(e).into_response(), &client),
            },
            Err(e) => errors::finish(ApiError::from(e).into_response(), &client),
        }
    };
    with_headers(resp, &client.nonce, https)
}

/// L4: an authenticated API request is logged once its status is known. A successful answer's
/// entry joins the request's deferred commit; an error reports no record, so its entry is
/// queued and the answer does not wait for it.
async fn log_access(
    state: &AppState,
    client: &client::ClientContext,
    method: &'static str,
    status: StatusCode,
) -> Result<(), kinfold_core::CoreError> {
    let facts = client.access.lock().ok().and_then(|mut g| g.take());
    let Some((tenant_id, actor, route)) = facts else {
        return Ok(());
    };
    let entry = kinfold_model::ApiAccess {
        tenant_id,
        at_ms: state.core.now_ms(),
        category: api_category(&route),
        method,
        route,
        status: status.as_u16(),
        actor,
        ip: client.info.ip.clone(),
    };
    if status.is_success() {
        state.core.audit().record_api_access(entry).await
    } else {
        state.core.audit().queue_api_access(entry).await;
        Ok(())
    }
}

fn with_headers(mut resp: Response, nonce: &str, https: bool) -> Response {
    headers::apply(&mut resp, nonce, https);
    resp
}

/// L4: routes that touch records are data-API access (kept 12 months); the rest is other API
/// access (kept 30 days).
pub fn api_category(route: &str) -> &'static str {
    const DATA: [&str; 6] = [
        "/api/v1/children",
        "/api/v1/classrooms",
        "/api/v1/guardians",
        "/api/v1/staff",
        "/api/v1/attendance",
        "/api/v1/access-grants",
    ];
    let [data, other] = kinfold_model::ApiAccess::CATEGORIES;
    if DATA.iter().any(|p| route.starts_with(p)) {
        data
    } else {
        other
    }
}

fn method_name(m: &axum::http::Method) -> &'static str {
    kinfold_model::ApiAccess::interned(m.as_str(), &kinfold_model::ApiAccess::METHODS)
        .unwrap_or("OTHER")
}
