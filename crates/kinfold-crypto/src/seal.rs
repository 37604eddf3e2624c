//! AES-256-GCM sealing.
//!
//! Layout of a sealed value: `0x01 | key_version (u32 BE) | nonce (12 bytes) | ciphertext+tag`.
//! Nonces are 96 random bits from the OS; at well under 2^32 seals per key the collision risk
//! stays below NIST SP 800-38D §8.3's bound. The AAD is the canonical encoding of [`Aad`], so a
//! value copied to another tenant, table, column or row, or relabelled with another key
//! version, fails to open.

use rand::RngCore;
use ring::aead::{self, LessSafeKey, UnboundKey, AES_256_GCM};

use crate::keyring::Key;
use crate::CryptoError;

const FORMAT: u8 = 1;
const NONCE: usize = 12;
const HEADER: usize = 1 + 4 + NONCE;
const TAG: usize = 16;

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

    /// Calls `f` with the encoding, built on the stack when it fits (it does for every
    /// binding Kinfold makes), so opening a field allocates nothing for its AAD.
    fn with_encoded<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        use std::io::Write;
        let mut buf = [0u8; 256];
        let mut rest = &mut buf[..];
        let mut fits = rest.write_all(b"kinfold-aad-v1").is_ok();
        for part in [self.tenant, self.table, self.column, self.row] {
            fits = fits
                && rest.write_all(&(part.len() as u32).to_be_bytes()).is_ok()
                && rest.write_all(part.as_bytes()).is_ok();
        }
        fits = fits && rest.write_all(&self.key_version.to_be_bytes()).is_ok();
        let used = 256 - rest.len();
        match buf.get(..used) {
            Some(encoded) if fits => f(encoded),
            _ => f(&self.encode()),
        }
    }
}

/// A key prepared for sealing and opening: the AES key schedule is computed once, so a
/// long-lived key (a cached tenant data key) does not redo it for every value. AES-256-GCM from
/// `ring` (AES-NI and carry-less multiplication where the CPU has them).
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

impl Sealer {
    pub fn new(key: &Key) -> Result<Self, CryptoError> {
        // A `Key` is always the 32 bytes AES-256 takes, so this does not fail in practice.
        let unbound = UnboundKey::new(&AES_256_GCM, key.expose()).map_err(|_| CryptoError::Seal)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    pub fn seal(&self, plaintext: &[u8], aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(HEADER + plaintext.len() + TAG);
        out.push(FORMAT);
        out.extend_from_slice(&aad.key_version.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let mut body = out.split_off(HEADER);
        aad.with_encoded(|a| {
            self.key.seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(a),
                &mut body,
            )
        })
        .map_err(|_| CryptoError::Seal)?;
        out.append(&mut body);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
        let version = key_version(sealed)?;
        if version != aad.key_version {
            return Err(CryptoError::Open);
        }
        let nonce = sealed
            .get(5..HEADER)
            .and_then(|n| aead::Nonce::try_assume_unique_for_key(n).ok())
            .ok_or(CryptoError::Malformed)?;
        // The ciphertext is copied into a buffer of exactly the plaintext's size and opened
        // there, with the tag read in place: the caller can keep the buffer without a resize.
        let body = sealed.get(HEADER..).ok_or(CryptoError::Malformed)?;
        let split = body.len().checked_sub(TAG).ok_or(CryptoError::Malformed)?;
        let (ciphertext, tag) = body.split_at(split);
        let tag = aead::Tag::try_from(tag).map_err(|_| CryptoError::Malformed)?;
        let mut plain = ciphertext.to_vec();
        aad.with_encoded(|a| {
            self.key
                .open_in_place_separate_tag(nonce, aead::Aad::from(a), tag, &mut plain, 0..)
                .map(|_| ())
        })
        .map_err(|_| CryptoError::Open)?;
        Ok(plain)
    }
}

pub fn seal(key: &Key, plaintext: &[u8], aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
    Sealer::new(key)?.seal(plaintext, aad)
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
    Sealer::new(key)?.open(sealed, aad)
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
    fn a_binding_too_long_for_the_stack_still_binds() -> Result<(), CryptoError> {
        let k = Key::generate();
        let long = "r".repeat(300);
        let mut a = aad(&long);
        let s = seal(&k, b"x", &a)?;
        assert_eq!(open(&k, &s, &a)?, b"x");
        assert!(a.with_encoded(|e| e.len()) > 256);
        assert_eq!(a.with_encoded(|e| e.to_vec()), a.encode());
        let short = aad("u1");
        assert_eq!(
            short.with_encoded(|e| e.to_vec()),
            short.encode(),
            "the stack encoding is the same bytes"
        );
        let other = "r".repeat(299) + "s";
        a.row = &other;
        assert!(open(&k, &s, &a).is_err(), "the whole long row is bound");
        Ok(())
    }

    /// A value sealed by an independent AES-256-GCM (Python's `cryptography`, key 0..32,
    /// nonce 100..112) opens: the layout is standard GCM, so values sealed before the move
    /// from the `aes-gcm` crate to `ring` stay readable.
    #[test]
    fn opens_a_value_sealed_by_another_implementation() -> Result<(), CryptoError> {
        let key = Key::from_bytes(&(0u8..32).collect::<Vec<_>>())?;
        let sealed = hex::decode(
            "01000000036465666768696a6b6c6d6e6f0d6bb7081c993eec570c3ac8b30b4a892aa72665ed0a9a11\
             c2ff1a0d76f7dbda8df62a0bc066a7fad8a6",
        )
        .map_err(|_| CryptoError::Malformed)?;
        let aad = Aad {
            tenant: "t1",
            table: "children",
            column: "medical_notes",
            row: "c1",
            key_version: 3,
        };
        assert_eq!(open(&key, &sealed, &aad)?, b"Epinephrine in the office.");
        let mut tampered = sealed.clone();
        if let Some(b) = tampered.last_mut() {
            *b ^= 1;
        }
        assert!(open(&key, &tampered, &aad).is_err(), "a changed tag fails");
        assert!(
            open(&key, &sealed[..sealed.len() - 1], &aad).is_err(),
            "a cut tag fails"
        );
        Ok(())
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
        let s = seal(&k, b"allergies: peanuts", &aad("u1"))?;
        assert_eq!(open(&k, &s, &aad("u1"))?, b"allergies: peanuts");
        // A flipped bit anywhere (version, nonce, ciphertext or tag) fails to open.
        for i in 0..s.len() {
            let mut t = s.clone();
            if let Some(b) = t.get_mut(i) {
                *b ^= 1;
            }
            assert!(open(&k, &t, &aad("u1")).is_err(), "byte {i} flipped");
        }
        // Cut short, down to a header and a tag with no room for either.
        for len in [s.len() - 1, HEADER + TAG, HEADER + TAG - 1, HEADER] {
            assert!(open(&k, s.get(..len).unwrap_or_default(), &aad("u1")).is_err());
        }
        for junk in [&b""[..], &[1u8][..], &[9u8; 40][..], &[1u8; 20][..]] {
            assert!(open(&k, junk, &aad("u1")).is_err());
        }
        Ok(())
    }
}
