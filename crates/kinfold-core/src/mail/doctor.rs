//! `kinfold email doctor --domain DOMAIN` (E2): looks up SPF, both DKIM keys, DMARC and MX, and
//! says what is missing or wrong. DNS is behind a trait, so tests answer from a map.

use std::collections::BTreeMap;
use std::future::Future;

use super::dkim::DkimRecord;

/// The DNS answers the doctor needs.
pub trait Dns {
    /// Every TXT record at `name`, each with its strings joined. Empty when there is none.
    fn txt(&self, name: &str) -> impl Future<Output = Result<Vec<String>, String>> + Send;
    /// The exchanges of the MX records at `name`.
    fn mx(&self, name: &str) -> impl Future<Output = Result<Vec<String>, String>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Ok(String),
    Warning(String),
    Error(String),
}

impl Finding {
    pub fn is_error(&self) -> bool {
        matches!(self, Finding::Error(_))
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Ok(m) => write!(f, "ok       {m}"),
            Finding::Warning(m) => write!(f, "warning  {m}"),
            Finding::Error(m) => write!(f, "error    {m}"),
        }
    }
}

fn tags(record: &str) -> BTreeMap<String, String> {
    record
        .split(';')
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_ascii_lowercase(),
                v.split_whitespace().collect(),
            )
        })
        .collect()
}

/// Checks `domain`'s published records against what Kinfold signs with.
pub async fn check(dns: &impl Dns, domain: &str, dkim: &[DkimRecord]) -> Vec<Finding> {
    let mut out = Vec::new();
    let fqdn = format!("{domain}.");

    match dns.txt(&fqdn).await {
        Err(e) => out.push(Finding::Error(format!("SPF: the lookup failed: {e}"))),
        Ok(records) => {
            let spf: Vec<&String> = records.iter().filter(|r| r.starts_with("v=spf1")).collect();
            match spf.as_slice() {
                [] => out.push(Finding::Error(format!(
                    "SPF: no `v=spf1` record at {domain}"
                ))),
                [one] => {
                    let all = one.split_whitespace().last().unwrap_or_default();
                    match all {
                        "-all" => out.push(Finding::Ok(format!("SPF: {one}"))),
                        "~all" => out.push(Finding::Warning(format!(
                            "SPF: ends in ~all (soft fail); -all lets receivers refuse forgeries: {one}"
                        ))),
                        _ => out.push(Finding::Error(format!(
                            "SPF: must end in -all (found `{all}`): {one}"
                        ))),
                    }
                }
                _ => out.push(Finding::Error(format!(
                    "SPF: {} `v=spf1` records at {domain}; receivers treat more than one as an error",
                    spf.len()
                ))),
            }
        }
    }

    for want in dkim {
        let name = format!("{}._domainkey.{domain}.", want.selector);
        let want_tags = tags(&want.value);
        match dns.txt(&name).await {
            Err(e) => out.push(Finding::Error(format!(
                "DKIM {}: the lookup failed: {e}",
                want.selector
            ))),
            Ok(records) => match records.iter().find(|r| r.contains("p=")) {
                None => out.push(Finding::Error(format!(
                    "DKIM {}: no key published at {name}",
                    want.selector
                ))),
                Some(found) => {
                    let got = tags(found);
                    if got.get("p") != want_tags.get("p") {
                        out.push(Finding::Error(format!(
                            "DKIM {}: {name} publishes another key than Kinfold signs with",
                            want.selector
                        )));
                    } else if got.get("k") != want_tags.get("k") {
                        out.push(Finding::Error(format!(
                            "DKIM {}: k= must be {}",
                            want.selector,
                            want_tags.get("k").map_or("", String::as_str)
                        )));
                    } else {
                        out.push(Finding::Ok(format!(
                            "DKIM {}: k={} key matches",
                            want.selector,
                            want_tags.get("k").map_or("", String::as_str)
                        )));
                    }
                }
            },
        }
    }

    let dmarc_name = format!("_dmarc.{domain}.");
    match dns.txt(&dmarc_name).await {
        Err(e) => out.push(Finding::Error(format!("DMARC: the lookup failed: {e}"))),
        Ok(records) => match records.iter().find(|r| r.starts_with("v=DMARC1")) {
            None => out.push(Finding::Error(format!(
                "DMARC: no `v=DMARC1` record at {dmarc_name}"
            ))),
            Some(r) => {
                let t = tags(r);
                match t.get("p").map(String::as_str) {
                    Some("reject") => out.push(Finding::Ok("DMARC: p=reject".into())),
                    other => out.push(Finding::Error(format!(
                        "DMARC: p must be reject (found {})",
                        other.unwrap_or("nothing")
                    ))),
                }
                if !t.contains_key("rua") {
                    out.push(Finding::Warning(
                        "DMARC: no rua=; you will not receive aggregate reports".into(),
                    ));
                }
            }
        },
    }

    match dns.mx(&fqdn).await {
        Ok(mx) if !mx.is_empty() => out.push(Finding::Ok(format!("MX: {}", mx.join(", ")))),
        Ok(_) => out.push(Finding::Warning(format!(
            "MX: none at {domain}; replies and bounces to this domain cannot be received"
        ))),
        Err(e) => out.push(Finding::Warning(format!("MX: the lookup failed: {e}"))),
    }
    out
}

/// The system's resolver (`/etc/resolv.conf`).
pub struct SystemDns(hickory_resolver::TokioResolver);

impl SystemDns {
    pub fn new() -> Result<Self, String> {
        hickory_resolver::TokioResolver::builder_tokio()
            .and_then(|b| b.build())
            .map(SystemDns)
            .map_err(|e| e.to_string())
    }
}

fn no_records(e: &hickory_resolver::net::NetError) -> bool {
    e.is_no_records_found() || e.is_nx_domain()
}

impl Dns for SystemDns {
    async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        use hickory_resolver::proto::rr::RData;
        match self.0.txt_lookup(name).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(t) => Some(
                        t.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(e) if no_records(&e) => Ok(Vec::new()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn mx(&self, name: &str) -> Result<Vec<String>, String> {
        use hickory_resolver::proto::rr::RData;
        match self.0.mx_lookup(name).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some(mx.exchange.to_ascii()),
                    _ => None,
                })
                .collect()),
            Err(e) if no_records(&e) => Ok(Vec::new()),
            Err(e) => Err(e.to_string()),
        }
    }
}
