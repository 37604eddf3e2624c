//! Security headers (W1-W7), set by [`crate::middleware::edge`] on every response, errors and
//! 404s included, with a fresh CSP nonce per response handed to pages through an extension.

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

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

const STATIC_HEADERS: [(&str, &str); 7] = [
    ("reporting-endpoints", "csp=\"/csp-reports\""),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

pub const HSTS: &str = "max-age=63072000; includeSubDomains; preload";

/// Sets the headers on a response. Also used by the HTTP-to-HTTPS redirect listener.
pub fn apply(resp: &mut Response, nonce: &str, https: bool) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp(nonce)) {
        h.insert(HeaderName::from_static("content-security-policy"), v);
    }
    for (name, value) in STATIC_HEADERS {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if https {
        h.insert(
            HeaderName::from_static("strict-transport-security"),
            HeaderValue::from_static(HSTS),
        );
    }
    if !h.contains_key("cache-control") {
        h.insert(
            HeaderName::from_static("cache-control"),
            HeaderValue::from_static("no-store"),
        );
    }
}
