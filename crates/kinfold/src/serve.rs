//! Listening: plain HTTP (loopback or behind trusted proxies only), or HTTPS with rustls plus a
//! redirect-only HTTP listener. Stops gracefully on SIGINT/SIGTERM: in-flight requests finish,
//! then buffered audit entries are flushed.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::Router;
use tokio::sync::watch;

use crate::cli::say;
use crate::config::EmailTransport;
use crate::runtime::Runtime;

/// Registers for SIGINT and SIGTERM now, and resolves when one arrives. Registered before the
/// listeners are bound and the banner printed: a signal sent as soon as the server says it
/// serves stops it gracefully (audit entries flushed), instead of killing it by the signal's
/// default action, which a handler installed later by a spawned task left open.
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        Ok(async move {
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn plain_allowed(addr: SocketAddr, proxies: usize) -> bool {
    addr.ip().is_loopback() || proxies > 0
}

/// Serves until a signal. `banner` lines are printed once the listeners are bound, after the
/// URL line.
pub async fn serve(rt: Runtime, banner: Option<Vec<String>>) -> anyhow::Result<()> {
    let config = rt.config.clone();
    let addr = config.socket_addr()?;
    let web = config.web_settings()?;
    if !config.tls() && !plain_allowed(addr, web.trusted_proxies.len()) {
        bail!(
            "refusing to serve plain HTTP on {addr}: give --tls-cert/--tls-key, listen on a loopback address, \
             or name the TLS-terminating proxy with --trusted-proxies"
        );
    }
    let transport = config.mail_transport()?;
    match config.email_transport()? {
        EmailTransport::Smtp => tracing::info!("email goes to the SMTP relay in smtp_url"),
        EmailTransport::File => {
            let dir = config.outbox_dir();
            kinfold_crypto::private_fs::private_dir(&dir)
                .with_context(|| format!("making {} private (mode 0700)", dir.display()))?;
            tracing::warn!(
                dir = %dir.display(),
                "email_transport = \"file\": email is not sent but stored UNENCRYPTED as .eml \
                 files, password-reset and enrollment links included (owner-only: directory \
                 0700, files 0600); set smtp_url to send it"
            );
        }
    }
    let mailer = kinfold_core::mail::worker::spawn(rt.core.clone(), transport);
    let app = kinfold_server::app(kinfold_server::AppState::new(rt.core.clone(), web));
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_all = stop_tx.clone();
    let backups = crate::backup::schedule::spawn(rt.core.clone(), config.clone(), stop_rx.clone());
    let stopping = stop_signal()?;
    tokio::spawn(async move {
        stopping.await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop_tx.send(true);
    });

    let served = if config.tls() {
        serve_tls(&config, app, addr, stop_rx, banner).await
    } else {
        serve_plain(app, addr, stop_rx, banner).await
    };
    // However serving ended (a signal, or a listener that could not start), the backup
    // schedule stops now.
    let _ = stop_all.send(true);
    // Deliveries in flight get a few seconds to finish; one cut short after that ends as
    // interrupted at the next start (the outbox is at-most-once, see kinfold_core::mail::worker).
    mailer.stop(std::time::Duration::from_secs(10)).await;
    // A backup under way puts away what it began (it saw the stop with everyone else): an
    // S3 upload aborts and removes its objects. One that does not end in time is cut off,
    // which still leaves nothing under a backup's name (see backup::dest).
    if let Some(mut b) = backups {
        if tokio::time::timeout(BACKUP_STOP_WAIT, &mut b)
            .await
            .is_err()
        {
            tracing::warn!("a backup did not stop within {BACKUP_STOP_WAIT:?}; cutting it off");
            b.abort();
        }
    }
    rt.close().await;
    tracing::info!("stopped; audit entries flushed");
    served
}

/// How long a stopping server waits for a backup under way to put away what it began.
const BACKUP_STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

fn print_banner(url: &str, banner: Option<Vec<String>>) {
    say(format!("Kinfold is serving at {url}"));
    for line in banner.unwrap_or_default() {
        say(line);
    }
}

async fn serve_plain(
    app: Router,
    addr: SocketAddr,
    stop: watch::Receiver<bool>,
    banner: Option<Vec<String>>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let bound = listener.local_addr()?;
    print_banner(&format!("http://{bound}"), banner);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopped(stop))
    .await
    .context("serving")
}

async fn serve_tls(
    config: &crate::config::Config,
    app: Router,
    addr: SocketAddr,
    stop: watch::Receiver<bool>,
    banner: Option<Vec<String>>,
) -> anyhow::Result<()> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        bail!("TLS needs both a certificate and a key");
    };
    let tls = kinfold_server::tls::server_config(cert, key, config.tls12)?;
    let handle = axum_server::Handle::new();
    let server = axum_server::bind_rustls(
        addr,
        axum_server::tls_rustls::RustlsConfig::from_config(tls),
    )
    .handle(handle.clone())
    .serve(app.into_make_service_with_connect_info::<SocketAddr>());
    let server = tokio::spawn(server);
    let bound = handle
        .listening()
        .await
        .context("binding the HTTPS listener")?;

    let redirect = match &config.redirect_addr {
        Some(r) => {
            let raddr: SocketAddr = r.parse().with_context(|| format!("redirect_addr `{r}`"))?;
            let listener = tokio::net::TcpListener::bind(raddr)
                .await
                .with_context(|| format!("binding {raddr}"))?;
            let canonical = url_host(&config.public_url()).unwrap_or_else(|| "localhost".into());
            let mut hosts = vec![
                "localhost".to_string(),
                "127.0.0.1".into(),
                "::1".into(),
                canonical.clone(),
            ];
            hosts.push(bound.ip().to_string());
            let app = kinfold_server::tls::redirect_app(hosts, canonical, bound.port());
            say(format!(
                "HTTP on http://{} redirects to HTTPS",
                listener.local_addr()?
            ));
            let stop = stop.clone();
            Some(tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped(stop))
                    .await
            }))
        }
        None => None,
    };
    let host = if bound.ip().is_loopback() {
        "localhost".to_string()
    } else {
        bound.ip().to_string()
    };
    print_banner(&format!("https://{host}:{}", bound.port()), banner);

    stopped(stop).await;
    handle.graceful_shutdown(Some(Duration::from_secs(30)));
    server
        .await
        .context("HTTPS task")?
        .context("serving HTTPS")?;
    if let Some(r) = redirect {
        r.await
            .context("redirect task")?
            .context("serving redirects")?;
    }
    Ok(())
}

/// The host part of a URL like `https://host:port/path`.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?.to_owned()
    } else {
        authority
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(authority)
            .to_owned()
    };
    Some(host.to_ascii_lowercase())
}
