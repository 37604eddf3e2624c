//! Kinfold's HTTP layer: routes, extractors (cookie -> [`Actor`](kinfold_core::Actor)), the
//! security-header and CSP-nonce middleware, errors to responses, the web console, and TLS.
//!
//! Handlers stay thin: they call one `Core` method and map the result. No SQL, policy or crypto
//! lives here.

pub mod api;
pub mod console;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod tls;

// The features, as in kinfold-core: each holds its API handlers, its console pages and its
// routes.
pub mod attendance;
pub mod audit;
pub mod auth;
pub mod children;
pub mod classrooms;
pub mod mail;
pub mod platform;
pub mod sessions;
pub mod tenants;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ipnet::IpNet;
use kinfold_core::Core;

pub use error::ApiError;

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// This listener terminates TLS: requests on it are HTTPS.
    pub tls: bool,
    /// Proxies whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Vec<IpNet>,
    pub body_limit: usize,
    pub request_timeout: Duration,
    /// Base URL for links (enrollment links).
    pub public_url: String,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            tls: false,
            trusted_proxies: Vec::new(),
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    pub web: Arc<WebSettings>,
}

impl AppState {
    pub fn new(core: Core, web: WebSettings) -> Self {
        Self {
            core,
            web: Arc::new(web),
        }
    }
}

/// The whole application, ready to serve or to drive with `oneshot` in tests.
pub fn app(state: AppState) -> Router {
    let router = Router::new()
        .merge(platform::routes())
        .merge(sessions::routes())
        .merge(auth::routes())
        .merge(tenants::routes())
        .merge(children::routes())
        .merge(classrooms::routes())
        .merge(attendance::routes())
        .merge(mail::routes())
        .merge(audit::routes())
        .merge(console::routes())
        .fallback(api::not_found)
        .with_state(state.clone());
    middleware::apply(router, state)
}
