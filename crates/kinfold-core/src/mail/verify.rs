//! Checks a signed message's DKIM signatures with mail-auth's verifier (independent of the
//! signing code) against the TXT records of a zone file Kinfold wrote, without DNS. Tests use
//! it to prove what was delivered verifies against what an operator publishes.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::{AuthenticatedMessage, MessageAuthenticator, Parameters, ResolverCache, Txt};

pub use mail_auth::DkimResult;

use super::zone::parse_txt;
use super::MailError;

/// DNS answers from a zone file, in place of a resolver.
pub struct ZoneRecords(Mutex<HashMap<Box<str>, Txt>>);

impl ZoneRecords {
    /// The DKIM key records of a rendered zone file.
    pub fn from_zone(zone: &str) -> Self {
        let records = ZoneRecords(Mutex::new(HashMap::new()));
        for (name, value) in parse_txt(zone) {
            if name.contains("._domainkey.") {
                if let Ok(key) = DomainKey::parse(value.as_bytes()) {
                    records.insert(
                        name.as_str().into(),
                        Txt::from(key),
                        Instant::now() + Duration::from_secs(3600),
                    );
                }
            }
        }
        records
    }
}

impl ResolverCache<Box<str>, Txt> for ZoneRecords {
    fn get<Q>(&self, k: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().ok()?.get(k).cloned()
    }
    fn remove<Q>(&self, k: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().ok()?.remove(k)
    }
    fn insert(&self, k: Box<str>, v: Txt, _valid_until: Instant) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(k, v);
        }
    }
}

/// The result of each DKIM signature on `signed`, in order.
pub async fn dkim(signed: &[u8], records: &ZoneRecords) -> Result<Vec<DkimResult>, MailError> {
    let auth = MessageAuthenticator::new_cloudflare()
        .map_err(|e| MailError::Sign(format!("verifier: {e}")))?;
    let parsed = AuthenticatedMessage::parse(signed).ok_or(MailError::Invalid {
        field: "message",
        reason: "not a parseable message",
    })?;
    Ok(auth
        .verify_dkim(Parameters::new(&parsed).with_txt_cache(records))
        .await
        .into_iter()
        .map(|o| o.result().clone())
        .collect())
}
