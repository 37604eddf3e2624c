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
    #[error(
        "the SPF record must start with `v=spf1 ` and hold only printable ASCII, without quotes or backslashes"
    )]
    Spf,
    #[error("the DMARC report address (--dmarc-rua) must be a single mailto: address")]
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

/// Whether `value` can stand inside a zone file's quoted TXT string as it is: printable ASCII
/// only, with no quote (which would end the string) and no backslash (which would escape the
/// next character, the closing quote included).
fn zone_safe(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

/// The SPF record and the DMARC report address, as they go into the zone: an SPF record that
/// starts with `v=spf1 `, and one `mailto:` address (no list, no size suffix), each
/// [`zone_safe`].
fn check_records(spf: &str, rua: &str) -> Result<(), DomainError> {
    if !spf.starts_with("v=spf1 ") || !zone_safe(spf) {
        return Err(DomainError::Spf);
    }
    let address = rua.strip_prefix("mailto:").ok_or(DomainError::DmarcRua)?;
    let single = !address.contains([' ', ',', ';', '!']);
    if !single || !zone_safe(address) || crate::validate::email("dmarc_rua", address).is_err() {
        return Err(DomainError::DmarcRua);
    }
    Ok(())
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
    let rua = dmarc_rua
        .map(str::to_owned)
        .unwrap_or_else(|| format!("mailto:dmarc-reports@{domain}"));
    check_records(spf, &rua)?;
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

    /// Nothing that could end, escape or garble the zone's quoted strings gets in.
    #[test]
    fn spf_and_dmarc_values_stay_inside_their_quotes() {
        let rua = "mailto:dmarc@example.org";
        assert!(check_records("v=spf1 mx include:relay.example -all", rua).is_ok());
        for spf in [
            "mx -all",
            "v=spf1 mx -all\\",
            "v=spf1 mx\r -all",
            "v=spf1 mx\n -all",
            "v=spf1 mx\t-all",
            "v=spf1 \"mx\" -all",
            "v=spf1 mx é -all",
            "v=spf1 mx \u{200b}-all",
        ] {
            assert!(
                matches!(check_records(spf, rua), Err(DomainError::Spf)),
                "{spf:?}"
            );
        }
        for rua in [
            "dmarc@example.org",
            "mailto:a@b.example; p=none",
            "mailto:a@b.example,mailto:c@d.example",
            "mailto:a@b.example!10m",
            "mailto:a@b.example\n",
            "mailto:a\\@b.example",
            "mailto:é@b.example",
            "mailto:a@b.example\r",
            "mailto:not an address",
            "mailto:",
        ] {
            assert!(
                matches!(
                    check_records("v=spf1 mx -all", rua),
                    Err(DomainError::DmarcRua)
                ),
                "{rua:?}"
            );
        }
    }
}
