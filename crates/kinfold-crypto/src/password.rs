//! Password hashing (argon2id, OWASP's m=19456 KiB, t=2, p=1) and the NIST SP 800-63B §3.1.1.2
//! checks applied when a password is set.
//!
//! Hashing is CPU-bound: callers run it on a blocking thread behind a semaphore (see
//! `kinfold-core`). An unknown account is verified against [`dummy_hash`] so it costs the
//! same work as a wrong password.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::CryptoError;

pub const MIN_LEN: usize = 8;
/// SP 800-63B asks verifiers to accept at least 64 characters; longer input is refused so a
/// huge body cannot buy a long hash.
pub const MAX_LEN: usize = 256;

/// A password in the clear. `Debug` never shows it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    pub fn new(text: String) -> Self {
        Self(text)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn argon2() -> Result<Argon2<'static>, CryptoError> {
    let params = Params::new(19_456, 2, 1, None).map_err(|_| CryptoError::Hash)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash(password: &Password) -> Result<String, CryptoError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()?
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| CryptoError::Hash)
}

/// Verifies in constant time (argon2's own comparison). A malformed stored hash is a mismatch.
pub fn verify(password: &Password, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(a) = argon2() else { return false };
    a.verify_password(password.expose().as_bytes(), &parsed)
        .is_ok()
}

/// A valid hash of a random password, computed once, used for unknown accounts.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = Password::new(crate::token::PlainToken::generate().expose().to_owned());
        hash(&random).unwrap_or_default()
    })
}

/// Whether a stored hash uses weaker parameters than today's and should be rehashed at the
/// next successful sign-in.
pub fn requires_upgrade(phc: &str) -> bool {
    !phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
}

/// Why a new password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    TooShort,
    TooLong,
    Common,
}

impl Weakness {
    pub fn message(self) -> &'static str {
        match self {
            Weakness::TooShort => "password must be at least 8 characters",
            Weakness::TooLong => "password must be at most 256 characters",
            Weakness::Common => {
                "password is too common or too easy to guess; choose a longer passphrase"
            }
        }
    }
}

/// SP 800-63B: length at least 8, and not on a list of common, expected or compromised
/// values. The list is zxcvbn's bundled frequency lists (30k common passwords plus words and
/// names), checked offline; a password zxcvbn can guess within 10^6 tries is refused.
pub fn check_new(password: &Password, context: &[&str]) -> Result<(), Weakness> {
    let n = password.expose().chars().count();
    if n < MIN_LEN {
        return Err(Weakness::TooShort);
    }
    if n > MAX_LEN {
        return Err(Weakness::TooLong);
    }
    let entropy = zxcvbn::zxcvbn(password.expose(), context);
    if (entropy.score() as u8) < 2 {
        return Err(Weakness::Common);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() -> Result<(), CryptoError> {
        let p = Password::new("correct horse battery staple".into());
        let h = hash(&p)?;
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!requires_upgrade(&h));
        assert!(verify(&p, &h));
        assert!(!verify(&Password::new("wrong".into()), &h));
        assert!(!verify(&p, "garbage"));
        assert!(!verify(&p, dummy_hash()));
        assert!(!format!("{p:?}").contains("horse"));
        Ok(())
    }

    #[test]
    fn nist_checks() {
        let check = |s: &str| check_new(&Password::new(s.into()), &["maple"]);
        assert_eq!(check("short"), Err(Weakness::TooShort));
        assert_eq!(check("password1"), Err(Weakness::Common));
        assert_eq!(check("12345678"), Err(Weakness::Common));
        assert_eq!(check("iloveyou"), Err(Weakness::Common));
        assert_eq!(check(&"x".repeat(300)), Err(Weakness::TooLong));
        assert!(check("violet-anchor-47-drizzle").is_ok());
    }
}
