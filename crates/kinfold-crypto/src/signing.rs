//! Ed25519 keys that sign audit checkpoints. The key is its own (never derived from the
//! master key); it is stored wrapped by the master key, and its public half is published.

use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::keyring::Key;
use crate::CryptoError;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub struct CheckpointSigner(SigningKey);

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CheckpointSigner")
            .field(&self.public_base64())
            .finish()
    }
}

impl CheckpointSigner {
    pub fn generate() -> Self {
        Self(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    pub fn from_key(key: &Key) -> Self {
        Self(SigningKey::from_bytes(key.expose()))
    }

    pub fn to_key(&self) -> Result<Key, CryptoError> {
        Key::from_bytes(&self.0.to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> String {
        B64.encode(self.0.sign(message).to_bytes())
    }

    pub fn public_base64(&self) -> String {
        B64.encode(self.0.verifying_key().to_bytes())
    }
}

/// Verifies a base64 signature against a base64 public key.
pub fn verify(public_b64: &str, message: &[u8], signature_b64: &str) -> bool {
    let Ok(pk) = B64.decode(public_b64) else {
        return false;
    };
    let Ok(pk): Result<[u8; 32], _> = pk.try_into() else {
        return false;
    };
    let Ok(vk) = VerifyingKey::from_bytes(&pk) else {
        return false;
    };
    let Ok(sig) = B64.decode(signature_b64) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(&sig) else {
        return false;
    };
    vk.verify(message, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_roundtrip() -> Result<(), CryptoError> {
        let s = CheckpointSigner::generate();
        let sig = s.sign(b"chain head");
        assert!(verify(&s.public_base64(), b"chain head", &sig));
        assert!(!verify(&s.public_base64(), b"chain head!", &sig));
        assert!(!verify(&s.public_base64(), b"chain head", "AAAA"));
        let again = CheckpointSigner::from_key(&s.to_key()?);
        assert_eq!(again.public_base64(), s.public_base64());
        Ok(())
    }
}
