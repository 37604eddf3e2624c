//! Opaque bearer tokens (sessions, MFA challenges, enrollment links).
//!
//! A token is 256 random bits, shown once as base64url. Only its SHA-256 digest is stored, so
//! a copy of the database does not yield a usable token. Lookups are by digest; where a
//! digest is compared in memory, the comparison is constant-time.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A token in the clear. `Debug` never shows it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PlainToken(String);

impl std::fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainToken(..)")
    }
}

impl PlainToken {
    pub fn generate() -> Self {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let t = Self(B64URL.encode(raw));
        raw.zeroize();
        t
    }

    /// Wraps a token received from a client. Anything is accepted; an unknown token simply
    /// matches no stored digest.
    pub fn from_client(text: &str) -> Self {
        Self(text.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

/// The stored form of a token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

impl TokenHash {
    /// The hash of a token as a client presented it, without copying the token.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// Constant-time equality for secrets of any length (length itself is not hidden).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// SHA-256 as lowercase hex, for fingerprints and digests that are not secrets.
pub fn sha256_hex(data: &[u8]) -> String {
    hex_string(&Sha256::digest(data))
}

/// The first 16 hex digits of SHA-256 over `parts` joined by newlines, hashed as they come
/// (no joined copy): a short, stable fingerprint of values that are not secrets, such as a
/// device's client hints.
pub fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut h = Sha256::new();
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            h.update(b"\n");
        }
        h.update(part);
    }
    let digest = h.finalize();
    hex_string(digest.get(..8).unwrap_or(&digest))
}

/// Lowercase hex, written into a stack buffer and copied once (`hex::encode` collects it char
/// by char, and the request path makes one of these per request). Digests fit; anything
/// longer than 64 bytes takes the slow way.
fn hex_string(bytes: &[u8]) -> String {
    let mut buf = [0u8; 128];
    if let Some(out) = buf.get_mut(..bytes.len().saturating_mul(2)) {
        if hex::encode_to_slice(bytes, out).is_ok() {
            return String::from_utf8_lossy(out).into_owned();
        }
    }
    hex::encode(bytes)
}

/// Random bytes from the OS.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_is_the_lowercase_digest() {
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_hex(b"\n\n"), hex::encode(Sha256::digest(b"\n\n")));
    }

    #[test]
    fn hex_is_lowercase_whatever_the_length() {
        for n in [0, 1, 32, 64, 65, 200] {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
            assert_eq!(hex_string(&bytes), hex::encode(&bytes), "{n} bytes");
        }
    }

    #[test]
    fn a_fingerprint_is_the_joined_digest_cut_to_16_digits() {
        let parts: [&[u8]; 3] = [b"Mozilla/5.0", b"", b"en-US"];
        assert_eq!(
            fingerprint(parts),
            sha256_hex(b"Mozilla/5.0\n\nen-US")[..16].to_owned()
        );
        assert_eq!(fingerprint([]), sha256_hex(b"")[..16].to_owned());
        assert_ne!(fingerprint([&b"a"[..], b"b"]), fingerprint([&b"ab"[..]]));
    }

    #[test]
    fn tokens_are_unique_and_hidden() {
        let a = PlainToken::generate();
        let b = PlainToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        assert!(!format!("{a:?}").contains(a.expose()));
        assert!(a.hash().ct_eq(&PlainToken::from_client(a.expose()).hash()));
        assert!(!a.hash().ct_eq(&b.hash()));
    }
}
