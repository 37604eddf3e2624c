//! AES-256-GCM sealing.
//!
//! Layout of a sealed value: `0x01 | key_version (u32 BE) | nonce (12 bytes) | ciphertext+tag`.
//! Nonces are 96 random bits from the OS; at well under 2^32 seals per key the collision risk
//! stays below NIST SP 800-38D §8.3's bound. The AAD is the canonical encoding of [`Aad`], so a
//! value copied to another tenant, table, column or row, or relabelled with another key
//! version, fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

use crate::keyring::Key;
use crate::CryptoError;

const FORMAT: u8 = 1;
const HEADER: usize = 1 + 4 + 12;

/// What a sealed value is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aad<'a> {
    pub tenant: &'a str,
    pub table: &'a str,
    pub column: &'a str,
    pub row: &'a str,
    pub key_version: u32,
}

impl Aad<'_> {
    /// Length-prefixed fields, so no two different bindings encode to the same bytes.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            18 + 16 + self.tenant.len() + self.table.len() + self.column.len() + self.row.len(),
        );
        out.extend_from_slice(b"kinfold-aad-v1");
        for part in [self.tenant, self.table, self.column, self.row] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out.extend_from_slice(&self.key_version.to_be_bytes());
        out
    }
}

/// A key prepared for sealing and opening: the AES key schedule is computed once, so a
/// long-lived key (a cached tenant data key) does not redo it for every value.
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

impl Sealer {
    pub fn new(key: &Key) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.expose().into()),
        }
    }

    pub fn seal(&self, plaintext: &[u8], aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad.encode(),
                },
            )
            .map_err(|_| CryptoError::Seal)?;
        let mut out = Vec::with_capacity(HEADER + ct.len());
        out.push(FORMAT);
        out.extend_from_slice(&aad.key_version.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
        let version = key_version(sealed)?;
        if version != aad.key_version {
            return Err(CryptoError::Open);
        }
        let nonce = sealed.get(5..HEADER).ok_or(CryptoError::Malformed)?;
        let ct = sealed.get(HEADER..).ok_or(CryptoError::Malformed)?;
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: &aad.encode(),
                },
            )
            .map_err(|_| CryptoError::Open)
    }
}

pub fn seal(key: &Key, plaintext: &[u8], aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
    Sealer::new(key).seal(plaintext, aad)
}

/// The key version a sealed value records, so the caller can fetch the right key.
pub fn key_version(sealed: &[u8]) -> Result<u32, CryptoError> {
    match sealed {
        [FORMAT, a, b, c, d, ..] if sealed.len() >= HEADER + 16 => {
            Ok(u32::from_be_bytes([*a, *b, *c, *d]))
        }
        _ => Err(CryptoError::Malformed),
    }
}

pub fn open(key: &Key, sealed: &[u8], aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
    Sealer::new(key).open(sealed, aad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aad(row: &str) -> Aad<'_> {
        Aad {
            tenant: "t1",
            table: "users",
            column: "totp_secret",
            row,
            key_version: 3,
        }
    }

    #[test]
    fn roundtrip_and_bindings() -> Result<(), CryptoError> {
        let k = Key::generate();
        let s = seal(&k, b"peanut allergy", &aad("u1"))?;
        assert_eq!(key_version(&s)?, 3);
        assert_eq!(open(&k, &s, &aad("u1"))?, b"peanut allergy");
        assert!(open(&k, &s, &aad("u2")).is_err(), "moved to another row");
        let mut other_tenant = aad("u1");
        other_tenant.tenant = "t2";
        assert!(
            open(&k, &s, &other_tenant).is_err(),
            "moved to another tenant"
        );
        let mut other_version = aad("u1");
        other_version.key_version = 4;
        assert!(open(&k, &s, &other_version).is_err());
        assert!(
            !s.windows(6).any(|w| w == b"peanut"),
            "no plaintext in the sealed bytes"
        );
        Ok(())
    }

    #[test]
    fn tampering_and_garbage_fail_cleanly() -> Result<(), CryptoError> {
        let k = Key::generate();
        let mut s = seal(&k, b"x", &aad("u1"))?;
        if let Some(last) = s.last_mut() {
            *last ^= 1;
        }
        assert!(open(&k, &s, &aad("u1")).is_err());
        for junk in [&b""[..], &[1u8][..], &[9u8; 40][..], &[1u8; 20][..]] {
            assert!(open(&k, junk, &aad("u1")).is_err());
        }
        Ok(())
    }
}
