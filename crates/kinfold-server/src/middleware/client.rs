//! Who is on the other end: the client IP and scheme, believing `X-Forwarded-For` and
//! `X-Forwarded-Proto` only from the configured trusted proxies; the user agent; and a device
//! fingerprint (a hash of stable client hints).

use std::net::IpAddr;

use axum::http::{header, HeaderMap, HeaderName};

// Names made at compile time: a lookup by `&str` would parse the name on every request.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// The stable client hints behind the device fingerprint, in this order.
const HINTS: [HeaderName; 5] = [
    header::USER_AGENT,
    HeaderName::from_static("sec-ch-ua"),
    HeaderName::from_static("sec-ch-ua-platform"),
    HeaderName::from_static("sec-ch-ua-mobile"),
    header::ACCEPT_LANGUAGE,
];
use ipnet::IpNet;
use kinfold_model::ClientInfo;

/// A request's ID: 64 random bits, written as 16 hex digits. It ties a failure in the log to
/// the response the client got (`X-Request-Id` on an internal error, and the console's error
/// page), without saying anything about the request itself.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(pub u64);

impl RequestId {
    pub fn random() -> Self {
        use rand::RngCore;
        RequestId(rand::thread_rng().next_u64())
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What the edge middleware resolved for one request, handed to the extractors as one shared
/// extension: its ID, where it came from, this response's CSP nonce, and the slot [`Auth`]
/// fills so the API access entry (L4) can be written once the status is known.
///
/// [`Auth`]: crate::extract::Auth
#[derive(Debug, Default)]
pub struct ClientContext {
    /// Made here, once per request, so every log line about the request can name it.
    pub request_id: RequestId,
    /// Shared, so an audit entry can keep it without copying its strings.
    pub info: std::sync::Arc<ClientInfo>,
    pub https: bool,
    /// The nonce for this response's inline scripts and styles.
    pub nonce: String,
    pub(crate) access: std::sync::Mutex<Option<crate::extract::AccessFacts>>,
}

pub fn resolve(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    tls: bool,
    trusted: &[IpNet],
) -> ClientContext {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut ip = peer;
    let mut https = tls;
    if let Some(p) = peer.filter(|p| is_trusted(p)) {
        // Walk X-Forwarded-For from the right, past our own proxies, to the first address we
        // did not put there ourselves.
        let chain: Vec<IpAddr> = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        ip = Some(
            chain
                .iter()
                .rev()
                .find(|a| !is_trusted(a))
                .or(chain.first())
                .copied()
                .unwrap_or(p),
        );
        if let Some(proto) = headers.get(X_FORWARDED_PROTO).and_then(|v| v.to_str().ok()) {
            https = proto.trim().eq_ignore_ascii_case("https");
        }
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| first_chars(ua, 512).to_owned());
    // The hint values joined by newlines (an absent or non-text one as empty), hashed as they
    // are read.
    let device = kinfold_crypto::token::fingerprint(HINTS.iter().map(|name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map_or(&b""[..], str::as_bytes)
    }));
    ClientContext {
        request_id: RequestId::random(),
        info: std::sync::Arc::new(ClientInfo {
            ip: ip.map(ip_text),
            user_agent,
            device: Some(device),
        }),
        https,
        nonce: String::new(),
        access: Default::default(),
    }
}

/// At most `n` characters of `s`, cut on a character boundary.
fn first_chars(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let end = s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
    s.get(..end).unwrap_or(s)
}

/// An address as text, as `Display` writes it; IPv4 without the formatting machinery, since
/// every request needs it.
fn ip_text(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut s = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        if octet >= 100 {
            s.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            s.push(char::from(b'0' + octet / 10 % 10));
        }
        s.push(char::from(b'0' + octet % 10));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_user_agents_are_written_as_display_and_chars_would() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "192.168.100.9",
            "1.2.3.4",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.1",
        ] {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(parsed), parsed.to_string());
        }
        for ua in [
            "",
            "curl/8",
            &"é".repeat(600),
            &"a".repeat(700),
            "Mozilla/5.0 ✓",
        ] {
            let want: String = ua.chars().take(512).collect();
            assert_eq!(first_chars(ua, 512), want);
        }
    }

    fn headers(xff: &str, proto: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            xff.parse()
                .unwrap_or_else(|_| axum::http::HeaderValue::from_static("")),
        );
        h.insert(
            "x-forwarded-proto",
            proto
                .parse()
                .unwrap_or_else(|_| axum::http::HeaderValue::from_static("")),
        );
        h
    }

    #[test]
    fn forwarded_headers_only_from_trusted_proxies() {
        let proxy: IpAddr = [10, 0, 0, 5].into();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/24".parse().unwrap_or_default()];
        let h = headers("203.0.113.9, 10.0.0.7", "https");
        let c = resolve(Some(proxy), &h, false, &trusted);
        assert_eq!(c.info.ip.as_deref(), Some("203.0.113.9"));
        assert!(c.https);
        let stranger: IpAddr = [198, 51, 100, 1].into();
        let c = resolve(Some(stranger), &h, false, &trusted);
        assert_eq!(
            c.info.ip.as_deref(),
            Some("198.51.100.1"),
            "spoofed XFF is ignored"
        );
        assert!(!c.https, "spoofed proto is ignored");
    }

    #[test]
    fn the_device_is_the_hints_joined_by_newlines_hashed_and_cut_to_16_digits() {
        let mut h = HeaderMap::new();
        h.insert(header::USER_AGENT, "Mozilla/5.0 (X11)".parse().unwrap());
        h.insert("sec-ch-ua-platform", "\"Linux\"".parse().unwrap());
        h.insert(header::ACCEPT_LANGUAGE, "en-US".parse().unwrap());
        let c = resolve(None, &h, false, &[]);
        // The value sessions were stamped with before: unchanged, so no session looks new.
        let joined = "Mozilla/5.0 (X11)\n\n\"Linux\"\n\nen-US";
        let want = kinfold_crypto::token::sha256_hex(joined.as_bytes());
        assert_eq!(c.info.device.as_deref(), want.get(..16));
        assert_eq!(c.info.user_agent.as_deref(), Some("Mozilla/5.0 (X11)"));
        h.insert(header::ACCEPT_LANGUAGE, "de-DE".parse().unwrap());
        assert_ne!(resolve(None, &h, false, &[]).info.device, c.info.device);
    }
}
