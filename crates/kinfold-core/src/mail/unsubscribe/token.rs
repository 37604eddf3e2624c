//! One-click unsubscribe tokens (E3): `https://HOST/u/TOKEN` names one recipient of one tenant
//! and one category. The token is the three, authenticated with HMAC-SHA256 under a key derived
//! from the master key: it cannot be guessed, and changing any part (to unsubscribe someone
//! else, or from another category) breaks the MAC. Checked in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use hmac::{Hmac, Mac};
use kinfold_crypto::keyring::{Key, MasterKey};
use sha2::Sha256;
use uuid::Uuid;

const VERSION: u8 = 1;
const MAC_LEN: usize = 32;

/// What a token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub tenant: Uuid,
    pub recipient: Uuid,
    /// A category slug: 1-32 of `a-z`, `0-9`, `_`, `-`.
    pub category: String,
}

pub struct TokenKey(Key);

impl TokenKey {
    pub fn new(master: &MasterKey) -> Self {
        TokenKey(master.derive(b"kinfold unsubscribe tokens v1"))
    }

    fn mac(&self) -> Option<Hmac<Sha256>> {
        Hmac::<Sha256>::new_from_slice(self.0.expose()).ok()
    }

    /// The token for `s`, URL-safe. None for a malformed category.
    pub fn issue(&self, s: &Subject) -> Option<String> {
        if !valid_category(&s.category) {
            return None;
        }
        let mut body = Vec::with_capacity(1 + 32 + 1 + s.category.len() + MAC_LEN);
        body.push(VERSION);
        body.extend_from_slice(s.tenant.as_bytes());
        body.extend_from_slice(s.recipient.as_bytes());
        body.push(u8::try_from(s.category.len()).ok()?);
        body.extend_from_slice(s.category.as_bytes());
        let mut mac = self.mac()?;
        mac.update(&body);
        body.extend_from_slice(&mac.finalize().into_bytes());
        Some(B64URL.encode(body))
    }

    /// What a genuine token names; None for anything else.
    pub fn verify(&self, token: &str) -> Option<Subject> {
        if token.len() > 200 {
            return None;
        }
        let raw = B64URL.decode(token).ok()?;
        let split = raw.len().checked_sub(MAC_LEN)?;
        let (body, tag) = raw.split_at(split);
        let mut mac = self.mac()?;
        mac.update(body);
        mac.verify_slice(tag).ok()?;
        let (&version, rest) = body.split_first()?;
        if version != VERSION {
            return None;
        }
        let tenant = Uuid::from_slice(rest.get(..16)?).ok()?;
        let recipient = Uuid::from_slice(rest.get(16..32)?).ok()?;
        let len = usize::from(*rest.get(32)?);
        let category = std::str::from_utf8(rest.get(33..33 + len)?).ok()?;
        if rest.len() != 33 + len || !valid_category(category) {
            return None;
        }
        Some(Subject {
            tenant,
            recipient,
            category: category.to_owned(),
        })
    }
}

fn valid_category(c: &str) -> bool {
    (1..=32).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        Subject {
            tenant: Uuid::now_v7(),
            recipient: Uuid::now_v7(),
            category: "announcement".into(),
        }
    }

    #[test]
    fn a_token_names_its_recipient_and_category_only() {
        let key = TokenKey::new(&MasterKey::from_key(Key::generate()));
        let s = subject();
        let t = key.issue(&s).unwrap_or_default();
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(key.verify(&t), Some(s.clone()));

        // Another recipient's or category's token cannot be made from this one.
        let mut raw = B64URL.decode(&t).unwrap_or_default();
        for i in 0..raw.len() {
            raw[i] ^= 1;
            assert_eq!(key.verify(&B64URL.encode(&raw)), None, "flipped byte {i}");
            raw[i] ^= 1;
        }
        let other = Subject {
            category: "daily_report".into(),
            ..s.clone()
        };
        assert_ne!(key.issue(&other), Some(t.clone()));
        // Another deployment's key, junk and oversized input are refused.
        let stranger = TokenKey::new(&MasterKey::from_key(Key::generate()));
        assert_eq!(stranger.verify(&t), None);
        for junk in ["", "abc", "!!!", &"A".repeat(500), &t[..t.len() - 2]] {
            assert_eq!(key.verify(junk), None, "{junk}");
        }
        let bad = Subject {
            category: "Bad Category".into(),
            ..s
        };
        assert_eq!(key.issue(&bad), None);
    }
}
