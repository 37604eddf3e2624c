//! Security headers (W1-W7), set by [`crate::middleware::edge`] on every response, errors and
//! 404s included, with a fresh CSP nonce per response handed to pages in the request's
//! [`ClientContext`](crate::middleware::client::ClientContext).

use std::sync::LazyLock;

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;

const CSP_HEAD: &str = "default-src 'self'; script-src 'nonce-";
const CSP_MID: &str = "' 'strict-dynamic'; style-src 'self' 'nonce-";
const CSP_TAIL: &str = "'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'; \
     form-action 'self'; report-uri /csp-reports; report-to csp";

pub fn csp(nonce: &str) -> String {
    let mut s =
        String::with_capacity(CSP_HEAD.len() + CSP_MID.len() + CSP_TAIL.len() + 2 * nonce.len());
    s.push_str(CSP_HEAD);
    s.push_str(nonce);
    s.push_str(CSP_MID);
    s.push_str(nonce);
    s.push_str(CSP_TAIL);
    s
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

/// The fixed headers, parsed once: every response only clones them.
static FIXED: LazyLock<Vec<(HeaderName, HeaderValue)>> = LazyLock::new(|| {
    STATIC_HEADERS
        .iter()
        .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
        .collect()
});

pub const HSTS: &str = "max-age=63072000; includeSubDomains; preload";

/// Sets the headers on a response. Also used by the HTTP-to-HTTPS redirect listener.
pub fn apply(resp: &mut Response, nonce: &str, https: bool) {
    let h = resp.headers_mut();
    h.reserve(FIXED.len() + 3);
    // The policy's bytes become the header value as they are, without a second copy.
    if let Ok(v) = HeaderValue::from_maybe_shared(axum::body::Bytes::from(csp(nonce))) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    for (name, value) in FIXED.iter() {
        h.insert(name.clone(), value.clone());
    }
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
