//! TLS termination with rustls (ring provider): TLS 1.3 only by default, TLS 1.2 with AEAD
//! (ECDHE + AES-GCM / ChaCha20-Poly1305) suites only when opted in (D1). Plain HTTP only
//! redirects.

use std::path::Path;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rustls::crypto::ring as ring_provider;
use rustls::ServerConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Builds the server config from PEM files.
pub fn server_config(
    cert: &Path,
    key: &Path,
    allow_tls12: bool,
) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = rustls_pemfile::certs(&mut read_pem(cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::File {
            path: cert.display().to_string(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::File {
            path: cert.display().to_string(),
            message: "no certificate found".into(),
        });
    }
    let key = rustls_pemfile::private_key(&mut read_pem(key)?.as_slice())
        .map_err(|e| TlsError::File {
            path: key.display().to_string(),
            message: e.to_string(),
        })?
        .ok_or_else(|| TlsError::File {
            path: key.display().to_string(),
            message: "no private key found".into(),
        })?;

    let mut provider = ring_provider::default_provider();
    // Only AEAD suites; the ring provider's TLS 1.2 suites are all ECDHE with AES-GCM or
    // ChaCha20-Poly1305, and TLS 1.3 suites are AEAD by definition.
    provider.cipher_suites.retain(|s| match s {
        rustls::SupportedCipherSuite::Tls13(_) => true,
        rustls::SupportedCipherSuite::Tls12(_) => allow_tls12,
    });
    let versions: &[&rustls::SupportedProtocolVersion] = if allow_tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The plain-HTTP listener: every request gets a 301 to the same path over HTTPS, on a host we
/// serve (otherwise the canonical one), with the security headers.
pub fn redirect_app(hosts: Vec<String>, canonical: String, https_port: u16) -> Router {
    let hosts = Arc::new(hosts);
    Router::new().fallback(move |req: Request| {
        let hosts = hosts.clone();
        let canonical = canonical.clone();
        async move { redirect(&req, &hosts, &canonical, https_port) }
    })
}

fn redirect(req: &Request, hosts: &[String], canonical: &str, https_port: u16) -> Response {
    let requested = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(strip_port)
        .map(str::to_ascii_lowercase);
    let host = requested
        .filter(|h| hosts.iter().any(|s| s == h))
        .unwrap_or_else(|| canonical.to_owned());
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let location = format!("https://{host}{port}{path}");
    let mut resp = (
        StatusCode::MOVED_PERMANENTLY,
        [(header::LOCATION, location)],
    )
        .into_response();
    let nonce = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        kinfold_crypto::token::random_bytes::<16>(),
    );
    crate::middleware::headers::apply(&mut resp, &nonce, false);
    resp
}

/// `host:port`, `[v6]:port`, `[v6]` or `host` -> the host alone (brackets removed).
fn strip_port(h: &str) -> &str {
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match h.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.contains(':') => {
            host
        }
        _ => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("localhost:8080"), "localhost");
        assert_eq!(strip_port("[::1]:8080"), "::1");
        assert_eq!(strip_port("127.0.0.1"), "127.0.0.1");
        assert_eq!(strip_port("::1"), "::1");
    }
}
