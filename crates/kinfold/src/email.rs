//! Wiring for email: sending domains (E2).

use std::path::PathBuf;

use anyhow::{bail, Context};
use kinfold_audit::{Draft, Event, SYSTEM_CHAIN};
use kinfold_core::mail::dkim;
use kinfold_core::mail::zone::Zone;
use kinfold_crypto::private_fs;
use kinfold_store::StoreError;

use crate::runtime::Runtime;

/// The demo's sending domain.
pub const DEMO_DOMAIN: &str = "mail.kinfold.test";

fn valid_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Generates the domain's DKIM keys, stores them sealed, and writes `DIR/dns/DOMAIN.zone`.
pub async fn add_domain(
    rt: &Runtime,
    domain: &str,
    spf: &str,
    dmarc_rua: Option<&str>,
) -> anyhow::Result<PathBuf> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if !valid_domain(&domain) {
        bail!("`{domain}` is not a domain name (lowercase labels of letters, digits and hyphens)");
    }
    if !spf.starts_with("v=spf1 ") || spf.contains('"') || spf.contains('\n') {
        bail!("the SPF record must start with `v=spf1 ` and hold no quotes or line breaks");
    }
    let rua = dmarc_rua
        .map(str::to_owned)
        .unwrap_or_else(|| format!("mailto:dmarc-reports@{domain}"));
    if !rua.starts_with("mailto:") || rua.contains(';') || rua.contains('"') || rua.contains(' ') {
        bail!("--dmarc-rua must be a single mailto: address");
    }
    let now = rt.core.now_ms();
    let new = dkim::generate(&domain, &rt.key, now)?;
    let event = Draft::new(
        SYSTEM_CHAIN,
        now,
        Event::KeyCreated {
            purpose: format!("dkim:{domain}"),
            key_version: 1,
        },
    );
    match rt
        .store
        .add_mail_domain(new.stored, kinfold_store::PlatformTx::new().audit(event))
        .await
    {
        Err(StoreError::Conflict(_)) => bail!("`{domain}` is already a sending domain"),
        other => other.context("storing the sending domain")?,
    }
    let zone = Zone {
        domain: &domain,
        rsa: &new.rsa,
        ed25519: &new.ed25519,
        spf,
        dmarc_rua: &rua,
    }
    .render();
    let dir = rt.config.data.join("dns");
    private_fs::private_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{domain}.zone"));
    private_fs::write_atomic(&path, zone.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
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
