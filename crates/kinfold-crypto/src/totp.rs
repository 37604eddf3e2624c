//! TOTP (RFC 6238): SHA-1, 6 digits, 30-second steps, one step of skew either way.
//!
//! [`verify`] returns the time step it accepted. The caller stores the last accepted step per
//! account and refuses any step at or below it, so a code cannot be replayed (RFC 6238 §5.2).

use totp_rs::{Algorithm, TOTP};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::CryptoError;

pub const STEP: u64 = 30;

/// A TOTP shared secret (160 bits). `Debug` never shows it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        Self(crate::token::random_bytes::<20>().to_vec())
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn from_base32(text: &str) -> Result<Self, CryptoError> {
        data_encoding::BASE32_NOPAD
            .decode(text.trim_end_matches('=').as_bytes())
            .map(Self)
            .map_err(|_| CryptoError::KeyMaterial)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn to_base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }

    fn totp(&self, issuer: &str, account: &str) -> Result<TOTP, CryptoError> {
        TOTP::new(
            Algorithm::SHA1,
            6,
            1,
            STEP,
            self.0.clone(),
            Some(issuer.replace(':', " ")),
            account.replace(':', " "),
        )
        .map_err(|_| CryptoError::KeyMaterial)
    }

    /// The `otpauth://totp/...` URI an authenticator app scans.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Result<String, CryptoError> {
        Ok(self.totp(issuer, account)?.get_url())
    }

    /// The code for a given Unix time. Used by tests and by the demo's own checks.
    pub fn code_at(&self, unix: u64) -> Result<String, CryptoError> {
        Ok(self.totp("kinfold", "code")?.generate(unix))
    }

    /// Checks `code` at `unix` ± one step, comparing in constant time. Returns the accepted
    /// step, which must be greater than the last step accepted for this account.
    pub fn verify(&self, code: &str, unix: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp("kinfold", "code").ok()?;
        let now_step = unix / STEP;
        let mut accepted = None;
        for step in [now_step.saturating_sub(1), now_step, now_step + 1] {
            let expected = totp.generate(step * STEP);
            if crate::token::ct_eq(expected.as_bytes(), code.as_bytes()) {
                accepted = Some(step);
            }
        }
        accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vector() -> Result<(), CryptoError> {
        // RFC 6238 Appendix B, SHA-1 seed, T = 59 -> 94287082 (8 digits); the 6-digit code is
        // the last six digits.
        let s = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(s.code_at(59)?, "287082");
        assert_eq!(s.verify("287082", 59), Some(1));
        Ok(())
    }

    #[test]
    fn skew_and_garbage() -> Result<(), CryptoError> {
        let s = TotpSecret::generate();
        let t = 1_700_000_000;
        let code = s.code_at(t)?;
        assert_eq!(s.verify(&code, t + 30), Some(t / 30));
        assert_eq!(s.verify(&code, t + 90), None);
        for junk in ["", "12345", "1234567", "abcdef", "12 456", "１２３４５６"] {
            assert_eq!(s.verify(junk, t), None);
        }
        let round = TotpSecret::from_base32(&s.to_base32())?;
        assert_eq!(round.expose(), s.expose());
        assert!(s
            .otpauth_uri("Maple Grove", "a@b.example")?
            .starts_with("otpauth://totp/"));
        assert!(!format!("{s:?}").contains(&s.to_base32()));
        Ok(())
    }
}
