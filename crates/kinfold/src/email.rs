//! Wiring for email: sending domains (E2), as the command line and the demo add them.

use std::path::PathBuf;

use anyhow::Context;
use kinfold_core::mail::domains;
use kinfold_crypto::private_fs;

use crate::runtime::Runtime;

/// The demo's sending domain.
pub const DEMO_DOMAIN: &str = "mail.kinfold.test";

/// Adds a sending domain (`kinfold_core::mail::domains::add`) and writes the records to
/// publish to `DIR/dns/DOMAIN.zone`; answers the domain as stored and the file.
pub async fn add_domain(
    rt: &Runtime,
    domain: &str,
    spf: &str,
    dmarc_rua: Option<&str>,
) -> anyhow::Result<(String, PathBuf)> {
    let added = domains::add(
        &*rt.store,
        &rt.key,
        rt.core.now_ms(),
        domain,
        spf,
        dmarc_rua,
    )
    .await?;
    let dir = rt.config.data.join("dns");
    private_fs::private_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{}.zone", added.domain));
    private_fs::write_atomic(&path, added.zone.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((added.domain, path))
}

/// The demo's sending domain, once.
pub async fn ensure_demo_domain(rt: &Runtime) -> anyhow::Result<()> {
    let exists = rt
        .store
        .mail_domains()
        .await?
        .iter()
        .any(|d| d.domain == DEMO_DOMAIN);
    if !exists {
        add_domain(rt, DEMO_DOMAIN, "v=spf1 mx -all", None).await?;
    }
    Ok(())
}
