//! Security headers on every response (W1-W7), errors and 404s included, and a fresh CSP
//! nonce per response (128 random bits), handed to pages through a request extension.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;

use crate::AppState;

/// The nonce for this response's inline scripts and styles.
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

pub fn csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic'; style-src 'self' 'nonce-{nonce}'; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'self'; form-action 'self'; \
         report-uri /csp-reports; report-to csp"
    )
}

pub const HSTS: &str = "max-age=63072000; includeSubDomains; preload";

pub async fn security_headers(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let nonce = base64::engine::general_purpose::STANDARD
        .encode(kinfold_crypto::token::random_bytes::<16>());
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    // Resolved once, here at the outermost layer, because HSTS depends on the scheme;
    // extractors read it from the request extension.
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let client = crate::middleware::client::resolve(
        peer,
        req.headers(),
        state.web.tls,
        &state.web.trusted_proxies,
    );
    let https = client.https;
    req.extensions_mut().insert(client);
    let mut resp = next.run(req).await;
    apply(&mut resp, &nonce, https);
    resp
}

/// Sets the headers on a response. Also used by the HTTP-to-HTTPS redirect listener.
pub fn apply(resp: &mut Response, nonce: &str, https: bool) {
    let h = resp.headers_mut();
    let cached = h.contains_key("cache-control");
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("content-security-policy", &csp(nonce));
    set("reporting-endpoints", "csp=\"/csp-reports\"");
    set("x-frame-options", "SAMEORIGIN");
    set("x-content-type-options", "nosniff");
    set("referrer-policy", "strict-origin-when-cross-origin");
    set(
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    );
    set("cross-origin-opener-policy", "same-origin");
    set("cross-origin-resource-policy", "same-origin");
    if https {
        set("strict-transport-security", HSTS);
    }
    if !cached {
        set("cache-control", "no-store");
    }
}
