//! CSRF defence for state-changing requests:
//! - a cross-site `Origin` is refused with 403;
//! - without `Origin`, `Sec-Fetch-Site: cross-site` is refused;
//! - with neither header the client is not a browser, and the request is allowed.
//!
//! Same-site means the `Origin`'s host and port equal the request's `Host`.

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, Method};

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Whether this request must be refused.
pub fn refused(req: &Request) -> bool {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // Browsers post CSP reports on their own; they change nothing but a counter. One-click
    // unsubscribe is posted by mail providers with no cookie and no token: the link's own
    // token is the authority (RFC 8058 section 3.2).
    let path = req.uri().path();
    let exempt = path == "/csp-reports" || path.starts_with("/u/");
    !safe && !exempt && is_cross_site(req.headers())
}

pub fn is_cross_site(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.to_ascii_lowercase());
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return true;
        };
        let origin_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .map(|h| h.trim_end_matches('/').to_ascii_lowercase());
        return match (origin_host, host) {
            (Some(o), Some(h)) => o != h,
            _ => true, // "null" or a scheme we do not serve
        };
    }
    headers
        .get(SEC_FETCH_SITE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
}
