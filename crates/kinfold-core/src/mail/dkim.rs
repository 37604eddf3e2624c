//! DKIM (E2): every message is signed twice, with RSA-2048 (RFC 6376) and Ed25519 (RFC 8463),
//! relaxed/relaxed, over the headers a receiver and RFC 8058 care about.
//!
//! Keys are generated per sending domain, under dated selectors, and stored sealed with a key
//! derived from the master key (AES-256-GCM, bound to the domain and the key's column). RSA keys
//! are generated with the `rsa` crate and used for signing only through `ring` (via mail-auth):
//! the `rsa` crate's signing path has an unfixed timing advisory (RUSTSEC-2023-0071), its key
//! generation does not handle secrets an attacker can time.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use kinfold_crypto::keyring::{Key, MasterKey};
use kinfold_crypto::seal::{self, Aad};
use kinfold_model::MailDomain;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{DkimSigner, Done};
use ring::signature::KeyPair;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::MailError;

/// The headers both signatures cover (`h=`). A header named here but absent from a message is
/// signed as absent, so it cannot be added later; one that is present is over-signed (see
/// `h_tag`), so a second copy cannot be added above it either.
pub const SIGNED_HEADERS: [&str; 17] = [
    "From",
    "Reply-To",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    // Not in Kinfold's messages, so signed as absent: a resent copy cannot add a `Sender:`
    // ("on behalf of"), a `Cc:`, list headers that steer filters, or thread headers that slip
    // it into a conversation, and still verify.
    "Cc",
    "Sender",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Post",
];

/// The signer's `h=` template: every signed header named twice. RFC 6376 §8.15: a verifier picks
/// instances from the bottom up, so a header signed only as often as it occurs lets a copy be
/// prepended above it (a second `Subject:` a mail client may show) without breaking the
/// signature. mail-auth's signer lists each instance a message carries under the first entry
/// of a name, then every entry whose name it did not find; the second entry never matches
/// first, so it always adds one more, empty, instance: the header is signed once more than it
/// occurs, and any prepended copy fails both signatures.
fn h_tag() -> Vec<&'static str> {
    SIGNED_HEADERS
        .iter()
        .chain(SIGNED_HEADERS.iter())
        .copied()
        .collect()
}

/// One DKIM key's DNS record: `SELECTOR._domainkey.DOMAIN IN TXT "VALUE"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimRecord {
    pub selector: String,
    pub value: String,
}

/// A new sending domain: what to store, and what to publish.
pub struct NewDomain {
    pub stored: MailDomain,
    pub rsa: DkimRecord,
    pub ed25519: DkimRecord,
}

fn sealing_key(master: &MasterKey) -> Key {
    master.derive(b"kinfold dkim keys v1")
}

fn aad<'a>(column: &'a str, domain: &'a str) -> Aad<'a> {
    Aad {
        tenant: "",
        table: "mail_domains",
        column,
        row: domain,
        key_version: 0,
    }
}

/// Generates an RSA-2048 and an Ed25519 key for `domain`, with selectors dated `now_ms`.
pub fn generate(domain: &str, master: &MasterKey, now_ms: i64) -> Result<NewDomain, MailError> {
    let date = jiff::Timestamp::from_millisecond(now_ms)
        .map_err(|_| MailError::KeyGeneration("the clock is out of range"))?
        .strftime("%Y%m%d")
        .to_string();
    let rsa_selector = format!("kf-rsa-{date}");
    let ed25519_selector = format!("kf-ed-{date}");

    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .map_err(|_| MailError::KeyGeneration("RSA-2048"))?;
    let rsa_der = private
        .to_pkcs8_der()
        .map_err(|_| MailError::KeyGeneration("RSA PKCS#8 encoding"))?;
    let spki = private
        .to_public_key()
        .to_public_key_der()
        .map_err(|_| MailError::KeyGeneration("RSA public key encoding"))?;

    let rng = ring::rand::SystemRandom::new();
    let ed_pk8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| MailError::KeyGeneration("Ed25519"))?;
    let ed_pair = ring::signature::Ed25519KeyPair::from_pkcs8(ed_pk8.as_ref())
        .map_err(|_| MailError::KeyGeneration("Ed25519"))?;

    let key = sealing_key(master);
    let rsa_key = seal::seal(&key, rsa_der.as_bytes(), &aad("rsa_key", domain))
        .map_err(|_| MailError::KeyGeneration("sealing"))?;
    let ed25519_key = seal::seal(&key, ed_pk8.as_ref(), &aad("ed25519_key", domain))
        .map_err(|_| MailError::KeyGeneration("sealing"))?;
    Ok(NewDomain {
        rsa: DkimRecord {
            selector: rsa_selector.clone(),
            value: format!("v=DKIM1; k=rsa; p={}", B64.encode(spki.as_bytes())),
        },
        ed25519: DkimRecord {
            selector: ed25519_selector.clone(),
            value: format!(
                "v=DKIM1; k=ed25519; p={}",
                B64.encode(ed_pair.public_key().as_ref())
            ),
        },
        stored: MailDomain {
            domain: domain.to_owned(),
            rsa_selector,
            rsa_key,
            ed25519_selector,
            ed25519_key,
            created_ms: now_ms,
        },
    })
}

/// The DNS records a stored domain's keys need, derived from the private keys.
pub fn records(d: &MailDomain, master: &MasterKey) -> Result<(DkimRecord, DkimRecord), MailError> {
    use rsa::pkcs8::DecodePrivateKey;
    let key = sealing_key(master);
    let rsa_der =
        seal::open(&key, &d.rsa_key, &aad("rsa_key", &d.domain)).map_err(|_| MailError::KeyOpen)?;
    let ed_der = seal::open(&key, &d.ed25519_key, &aad("ed25519_key", &d.domain))
        .map_err(|_| MailError::KeyOpen)?;
    let spki = rsa::RsaPrivateKey::from_pkcs8_der(&rsa_der)
        .map_err(|_| MailError::KeyOpen)?
        .to_public_key()
        .to_public_key_der()
        .map_err(|_| MailError::KeyOpen)?;
    let ed =
        ring::signature::Ed25519KeyPair::from_pkcs8(&ed_der).map_err(|_| MailError::KeyOpen)?;
    Ok((
        DkimRecord {
            selector: d.rsa_selector.clone(),
            value: format!("v=DKIM1; k=rsa; p={}", B64.encode(spki.as_bytes())),
        },
        DkimRecord {
            selector: d.ed25519_selector.clone(),
            value: format!(
                "v=DKIM1; k=ed25519; p={}",
                B64.encode(ed.public_key().as_ref())
            ),
        },
    ))
}

/// The RSA key's PKCS#8 DER, for the signing baseline of `kinfold bench --mail`.
pub(crate) fn rsa_pkcs8(d: &MailDomain, master: &MasterKey) -> Result<Vec<u8>, MailError> {
    seal::open(&sealing_key(master), &d.rsa_key, &aad("rsa_key", &d.domain))
        .map_err(|_| MailError::KeyOpen)
}

/// Signs messages for one sending domain with both of its keys.
pub struct Signer {
    domain: String,
    rsa: DkimSigner<RsaKey<Sha256>, Done>,
    ed25519: DkimSigner<Ed25519Key, Done>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Opens a stored domain's keys with the master key.
    pub fn open(d: &MailDomain, master: &MasterKey) -> Result<Self, MailError> {
        let key = sealing_key(master);
        let rsa_der = seal::open(&key, &d.rsa_key, &aad("rsa_key", &d.domain))
            .map_err(|_| MailError::KeyOpen)?;
        let ed_der = seal::open(&key, &d.ed25519_key, &aad("ed25519_key", &d.domain))
            .map_err(|_| MailError::KeyOpen)?;
        let rsa = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            rsa_der.as_slice(),
        )))
        .map_err(|_| MailError::KeyOpen)?;
        let ed25519 = Ed25519Key::from_pkcs8_der(&ed_der).map_err(|_| MailError::KeyOpen)?;
        Ok(Self {
            domain: d.domain.clone(),
            rsa: DkimSigner::from_key(rsa)
                .domain(d.domain.clone())
                .selector(d.rsa_selector.clone())
                .headers(h_tag()),
            ed25519: DkimSigner::from_key(ed25519)
                .domain(d.domain.clone())
                .selector(d.ed25519_selector.clone())
                .headers(h_tag()),
        })
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The message with both `DKIM-Signature` headers in front (Ed25519 first, RSA outermost).
    pub fn sign(&self, raw: &[u8]) -> Result<Vec<u8>, MailError> {
        let ed = self
            .ed25519
            .sign(raw)
            .map_err(|e| MailError::Sign(e.to_string()))?;
        let rsa = self
            .rsa
            .sign(raw)
            .map_err(|e| MailError::Sign(e.to_string()))?;
        let mut out = rsa.to_header().into_bytes();
        out.extend_from_slice(ed.to_header().as_bytes());
        out.extend_from_slice(raw);
        Ok(out)
    }
}
