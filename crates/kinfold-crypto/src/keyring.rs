//! The master key (key-encryption key) and what is derived from or wrapped by it.
//!
//! The master key is 32 random bytes. It never encrypts data directly:
//! - the SQLCipher key is derived from it with HKDF-SHA256 (info `kinfold sqlcipher v1`);
//! - tenant data keys and other stored secrets are wrapped by it with AES-256-GCM.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::seal::{self, Aad};
use crate::CryptoError;

/// 32 bytes of key material. `Debug` prints only the type name.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key([u8; 32]);

impl Key {
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self(k)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::KeyMaterial)?;
        Ok(Self(arr))
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// The master key. Loaded from a file (`DIR/master.key`, mode 0600) or from the environment.
#[derive(Clone)]
pub struct MasterKey(Key);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl MasterKey {
    pub fn from_key(key: Key) -> Self {
        Self(key)
    }

    /// Parses the base64 text form used in the key file and in `KINFOLD_MASTER_KEY`.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let mut raw = B64
            .decode(text.trim())
            .map_err(|_| CryptoError::MasterKey("not valid base64".into()))?;
        let key =
            Key::from_bytes(&raw).map_err(|_| CryptoError::MasterKey("must be 32 bytes".into()));
        raw.zeroize();
        Ok(Self(key?))
    }

    /// Reads the key file. Refuses a file that others can read.
    pub fn load(path: &Path) -> Result<Self, CryptoError> {
        check_private(path)?;
        let mut text = std::fs::read_to_string(path)
            .map_err(|e| CryptoError::MasterKey(format!("{}: {e}", path.display())))?;
        let key = Self::from_base64(&text);
        text.zeroize();
        key
    }

    /// Creates a new key file with mode 0600. Fails if the file exists.
    pub fn create(path: &Path) -> Result<Self, CryptoError> {
        let key = Key::generate();
        let mut text = B64.encode(key.expose());
        text.push('\n');
        write_private(path, text.as_bytes())
            .map_err(|e| CryptoError::MasterKey(format!("{}: {e}", path.display())))?;
        text.zeroize();
        Ok(Self(key))
    }

    /// The SQLCipher raw key, as the 64 hex digits that `PRAGMA key = "x'...'"` takes.
    pub fn sqlcipher_key_hex(&self) -> String {
        hex::encode(self.derive(b"kinfold sqlcipher v1").expose())
    }

    /// A sub-key for a named purpose (HKDF-SHA256, RFC 5869).
    pub fn derive(&self, info: &[u8]) -> Key {
        let hk = Hkdf::<Sha256>::new(Some(b"kinfold"), self.0.expose());
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
        let _ = hk.expand(info, &mut out);
        Key(out)
    }

    /// Wraps a key (a tenant data key, the audit signing key) under the master key.
    pub fn wrap(&self, key: &Key, purpose: &str, id: &str) -> Result<Vec<u8>, CryptoError> {
        seal::seal(&self.0, key.expose(), &wrap_aad(purpose, id))
    }

    pub fn unwrap_key(&self, wrapped: &[u8], purpose: &str, id: &str) -> Result<Key, CryptoError> {
        let mut raw = seal::open(&self.0, wrapped, &wrap_aad(purpose, id))?;
        let key = Key::from_bytes(&raw);
        raw.zeroize();
        key
    }
}

fn wrap_aad<'a>(purpose: &'a str, id: &'a str) -> Aad<'a> {
    Aad {
        tenant: "",
        table: "keyring",
        column: purpose,
        row: id,
        key_version: 0,
    }
}

/// Writes a new file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn check_private(path: &Path) -> Result<(), CryptoError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .map_err(|e| CryptoError::MasterKey(format!("{}: {e}", path.display())))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(CryptoError::MasterKey(format!(
                "{} is readable by group or others; run chmod 600 on it",
                path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_roundtrip_and_mode() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("master.key");
        let k = MasterKey::create(&path)?;
        let again = MasterKey::load(&path)?;
        assert_eq!(k.sqlcipher_key_hex(), again.sqlcipher_key_hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path)?.permissions().mode() & 0o777,
                0o600
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
            assert!(
                MasterKey::load(&path).is_err(),
                "a world-readable key file is refused"
            );
        }
        assert!(
            MasterKey::create(&path).is_err(),
            "an existing key is never overwritten"
        );
        Ok(())
    }

    #[test]
    fn debug_hides_key() {
        let k = MasterKey::from_key(Key::generate());
        assert_eq!(format!("{k:?}"), "MasterKey(..)");
        assert_eq!(format!("{:?}", Key::generate()), "Key(..)");
    }

    #[test]
    fn wrap_is_bound_to_purpose_and_id() -> Result<(), CryptoError> {
        let m = MasterKey::from_key(Key::generate());
        let dk = Key::generate();
        let w = m.wrap(&dk, "data-key", "t1:1")?;
        assert_eq!(m.unwrap_key(&w, "data-key", "t1:1")?.expose(), dk.expose());
        assert!(m.unwrap_key(&w, "data-key", "t2:1").is_err());
        assert!(m.unwrap_key(&w, "audit-signing", "t1:1").is_err());
        let other = MasterKey::from_key(Key::generate());
        assert!(other.unwrap_key(&w, "data-key", "t1:1").is_err());
        Ok(())
    }

    #[test]
    fn bad_base64_is_refused() {
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert!(MasterKey::from_base64("AAAA").is_err());
    }
}
