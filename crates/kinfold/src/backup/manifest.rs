//! A backup's manifest: what the backup holds, signed with a key only this deployment has.
//!
//! The manifest is written as JSON bytes (`manifest.json`) with an Ed25519 signature over those
//! exact bytes (`manifest.sig`). The signing key and the archive key are both derived from the
//! master key, so a backup is checked and opened with the master key alone, and a manifest
//! from another deployment (or changed by anyone) fails its signature before anything in it is
//! believed.

use kinfold_crypto::keyring::{Key, MasterKey};
use kinfold_crypto::signing::{self, CheckpointSigner};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest format this build writes and reads.
pub const FORMAT: u32 = 1;

/// The data part's file name.
pub const DATA_PART: &str = "db.kfb";

/// Keys of one deployment's backups, all derived from its master key.
pub struct BackupKeys {
    pub archive: Key,
    signer: CheckpointSigner,
    /// A public name for the deployment: part of a hash of a derived key, which says whose
    /// backup a manifest is without saying anything about the key.
    pub deployment: String,
}

impl BackupKeys {
    pub fn of(master: &MasterKey) -> Self {
        let id = master.derive(b"kinfold backup: deployment id v1");
        let digest = Sha256::digest(id.expose());
        Self {
            archive: master.derive(b"kinfold backup: archive v1"),
            signer: CheckpointSigner::from_key(&master.derive(b"kinfold backup: manifest v1")),
            deployment: hex::encode(digest.get(..16).unwrap_or_default()),
        }
    }

    pub fn sign(&self, manifest: &[u8]) -> String {
        self.signer.sign(manifest)
    }

    pub fn verifies(&self, manifest: &[u8], signature: &str) -> bool {
        signing::verify(&self.signer.public_base64(), manifest, signature.trim())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub kinfold_version: String,
    /// `sqlite` (the data part is a SQLCipher database) or `postgres` (a `pg_dump` archive).
    pub backend: String,
    /// The newest migration applied to the database when it was copied.
    pub schema_version: i64,
    pub tenant_count: u64,
    pub deployment: String,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    pub name: String,
    /// Bytes of the part as stored.
    pub bytes: u64,
    /// SHA-256 of the part as stored, hex.
    pub sha256: String,
    /// Bytes of what the part holds once opened (the database snapshot).
    pub content_bytes: u64,
    /// SQLite: how many of the last `content_bytes` are the database's write-ahead log, copied
    /// after the file and replayed into it on restore (absent: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub log_bytes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Manifest {
    pub fn data_part(&self) -> Option<&Part> {
        self.parts.iter().find(|p| p.name == DATA_PART)
    }
}
