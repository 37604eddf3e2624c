//! Sending domains (E2): a domain's DKIM keys (RSA-2048 and Ed25519), made and sealed with a
//! key derived from the master key, stored with their `key_created` entry on the platform
//! chain in one transaction, and the DNS records to publish for them (`zone`).

use kinfold_audit::{Draft, Event, SYSTEM_CHAIN};
use kinfold_crypto::keyring::MasterKey;
use kinfold_store::{PlatformTx, Store, StoreError};

use super::dkim;
use super::zone::Zone;
use super::MailError;

/// A domain added: its name as stored (lowercase, no final dot) and its zone file's text.
#[derive(Debug)]
pub struct AddedDomain {
    pub domain: String,
    pub zone: String,
}

/// Why a domain was not added.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("`{0}` is not a domain name (lowercase labels of letters, digits and hyphens)")]
    NotADomain(String),
    #[error("the SPF record must start with `v=spf1 ` and hold no quotes or line breaks")]
    Spf,
    #[error("--dmarc-rua must be a single mailto: address")]
    DmarcRua,
    #[error("`{0}` is already a sending domain")]
    Exists(String),
    #[error(transparent)]
    Keys(#[from] MailError),
    #[error("storing the sending domain: {0}")]
    Store(#[from] StoreError),
}

/// The name a domain is stored under: trimmed, lowercase, without the final dot.
pub fn normalized(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// A host name as DNS writes it (RFC 1035's letters, digits and hyphens; RFC 1123 lets a
/// label start with a digit), of at least two labels: nothing that could end a TXT record's
/// quoted string or start another record.
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

/// Adds `domain` as a sending domain: checks the records to publish (`spf`; `dmarc_rua`,
/// by default `mailto:dmarc-reports@DOMAIN`), makes and stores its DKIM keys with their
/// audit entry, and answers the zone to publish.
pub async fn add(
    store: &dyn Store,
    master: &MasterKey,
    now_ms: i64,
    domain: &str,
    spf: &str,
    dmarc_rua: Option<&str>,
) -> Result<AddedDomain, DomainError> {
    let domain = normalized(domain);
    if !valid_domain(&domain) {
        return Err(DomainError::NotADomain(domain));
    }
    if !spf.starts_with("v=spf1 ") || spf.contains('"') || spf.contains('\n') {
        return Err(DomainError::Spf);
    }
    let rua = dmarc_rua
        .map(str::to_owned)
        .unwrap_or_else(|| format!("mailto:dmarc-reports@{domain}"));
    if !rua.starts_with("mailto:") || rua.contains(';') || rua.contains('"') || rua.contains(' ') {
        return Err(DomainError::DmarcRua);
    }
    let new = dkim::generate(&domain, master, now_ms)?;
    let event = Draft::new(
        SYSTEM_CHAIN,
        now_ms,
        Event::KeyCreated {
            purpose: format!("dkim:{domain}"),
            key_version: 1,
        },
    );
    match store
        .add_mail_domain(new.stored, PlatformTx::new().audit(event))
        .await
    {
        Err(StoreError::Conflict(_)) => return Err(DomainError::Exists(domain)),
        other => other?,
    }
    let zone = Zone {
        domain: &domain,
        rsa: &new.rsa,
        ed25519: &new.ed25519,
        spf,
        dmarc_rua: &rua,
    }
    .render();
    Ok(AddedDomain { domain, zone })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dns_host_names_are_domains() {
        for ok in ["mail.example.org", "a.b", "1st.example.org", "x-y.example"] {
            assert!(valid_domain(ok), "{ok}");
        }
        for bad in [
            "example",
            "Mail.example.org",
            "-a.example",
            "a-.example",
            "a..example",
            "a.example.",
            "mail.exämple.org",
            "evil.example\"; v=spf1 +all",
            "a b.example",
            "a_b.example",
        ] {
            assert!(!valid_domain(bad), "{bad}");
        }
        assert!(!valid_domain(&format!("{}.example", "a".repeat(64))));
        assert!(valid_domain(&format!("{}.example", "a".repeat(63))));
    }
}
