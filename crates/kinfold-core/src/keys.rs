//! The keyring service: tenant data keys (wrapped by the master key, cached unwrapped in
//! memory), sealing and opening of stored secrets, the recovery-code pepper, and the audit
//! checkpoint signer.

use crate::HashMap;
use std::sync::{Arc, RwLock};

pub(crate) use hmac_sha256::hmac;
use kinfold_audit::{Draft, Event, SYSTEM_CHAIN};
use kinfold_crypto::keyring::{Key, MasterKey};
use kinfold_crypto::seal::{self, Aad, Sealer};
use kinfold_crypto::signing::CheckpointSigner;
use kinfold_crypto::token::TokenHash;
use kinfold_store::{
    PlatformTx, SealedColumn, SealedValue, SigningKeyRecord, Store, TenantId, TenantScope,
};

use crate::{Clock, CoreError};

#[derive(Clone)]
pub struct Keyring {
    inner: Arc<KeyringInner>,
}

struct KeyringInner {
    master: MasterKey,
    pepper: Key,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    data_keys: RwLock<HashMap<(TenantId, u32), Arc<Sealer>>>,
    signer: tokio::sync::Mutex<Option<Arc<CheckpointSigner>>>,
}

/// Where a sealed value lives; with the tenant and key version this forms the AAD.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row: &'a str,
}

impl Keyring {
    pub fn new(master: MasterKey, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        let pepper = master.derive(b"kinfold recovery-code pepper v1");
        Self {
            inner: Arc::new(KeyringInner {
                master,
                pepper,
                store,
                clock,
                data_keys: RwLock::new(HashMap::default()),
                signer: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// Creates the tenant's first data key (version 1). Idempotent.
    pub async fn ensure_data_key(&self, scope: &TenantScope) -> Result<u32, CoreError> {
        if let Some((v, _)) = self.inner.store.current_data_key(scope).await? {
            return Ok(v);
        }
        self.create_data_key(scope, 1).await?;
        Ok(1)
    }

    /// Stores data-key `version` for the tenant: a fresh key, wrapped by the master key, with
    /// its `key_created` entry in the same transaction.
    async fn create_data_key(&self, scope: &TenantScope, version: u32) -> Result<(), CoreError> {
        let wrapped = self.inner.master.wrap(
            &Key::generate(),
            "data-key",
            &wrap_id(scope.tenant_id(), version),
        )?;
        let now = self.inner.clock.now_ms();
        let created = Event::KeyCreated {
            purpose: "data-key".into(),
            key_version: version,
        };
        self.inner
            .store
            .insert_data_key(
                scope.tx().audit(Draft::new(scope.chain(), now, created)),
                version,
                wrapped,
                now,
            )
            .await?;
        Ok(())
    }

    async fn data_key(&self, scope: &TenantScope, version: u32) -> Result<Arc<Sealer>, CoreError> {
        let id = (scope.tenant_id(), version);
        if let Some(k) = self
            .inner
            .data_keys
            .read()
            .ok()
            .and_then(|m| m.get(&id).cloned())
        {
            return Ok(k);
        }
        let wrapped = self
            .inner
            .store
            .data_key(scope, version)
            .await?
            .ok_or_else(|| CoreError::Internal(format!("data key version {version} missing")))?;
        let key = self.inner.master.unwrap_key(
            &wrapped,
            "data-key",
            &wrap_id(scope.tenant_id(), version),
        )?;
        let sealer = Arc::new(Sealer::new(&key)?);
        if let Ok(mut m) = self.inner.data_keys.write() {
            m.insert(id, sealer.clone());
        }
        Ok(sealer)
    }

    /// Drops a destroyed version from the cache of unwrapped keys.
    fn forget(&self, scope: &TenantScope, version: u32) {
        if let Ok(mut m) = self.inner.data_keys.write() {
            m.remove(&(scope.tenant_id(), version));
        }
    }

    fn aad<'a>(tenant: &'a str, slot: Slot<'a>, key_version: u32) -> Aad<'a> {
        Aad {
            tenant,
            table: slot.table,
            column: slot.column,
            row: slot.row,
            key_version,
        }
    }

    /// The master key, for keys derived or sealed outside the tenant keyring (DKIM).
    pub(crate) fn master(&self) -> &MasterKey {
        &self.inner.master
    }

    /// Seals with the tenant's current data key.
    pub async fn seal(
        &self,
        scope: &TenantScope,
        slot: Slot<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CoreError> {
        let version = match self.inner.store.current_data_key(scope).await? {
            Some((v, _)) => v,
            None => self.ensure_data_key(scope).await?,
        };
        let tenant = scope.tenant_id().to_string();
        let sealer = self.data_key(scope, version).await?;
        Ok(sealer.seal(plaintext, &Self::aad(&tenant, slot, version))?)
    }

    /// Opens with the key version the value records.
    pub async fn open(
        &self,
        scope: &TenantScope,
        slot: Slot<'_>,
        sealed: &[u8],
    ) -> Result<Vec<u8>, CoreError> {
        let version = seal::key_version(sealed)?;
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let tenant = scope.tenant_id().0.hyphenated().encode_lower(&mut text);
        let sealer = self.data_key(scope, version).await?;
        Ok(sealer.open(sealed, &Self::aad(tenant, slot, version))?)
    }

    /// HMAC-SHA256 of a normalized recovery code under a pepper derived from the master key,
    /// so a stolen database alone cannot be brute-forced offline.
    pub fn recovery_code_hash(&self, code: &str) -> TokenHash {
        let normalized: String = code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        TokenHash(hmac(self.inner.pepper.expose(), normalized.as_bytes()))
    }

    /// The audit checkpoint signer; created (and audited) on first use.
    pub async fn signer(&self) -> Result<Arc<CheckpointSigner>, CoreError> {
        let mut guard = self.inner.signer.lock().await;
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let records = self.inner.store.signing_keys().await?;
        let signer = match records.iter().rev().find(|r| r.active) {
            Some(r) => {
                let key = self
                    .inner
                    .master
                    .unwrap_key(&r.wrapped, "audit-signing", &r.id)?;
                CheckpointSigner::from_key(&key)
            }
            None => {
                let signer = CheckpointSigner::generate();
                let id = uuid::Uuid::now_v7().to_string();
                let wrapped = self
                    .inner
                    .master
                    .wrap(&signer.to_key()?, "audit-signing", &id)?;
                let now = self.inner.clock.now_ms();
                let record = SigningKeyRecord {
                    id,
                    wrapped,
                    public_key: signer.public_base64(),
                    created_ms: now,
                    active: true,
                };
                let event = Draft::new(
                    SYSTEM_CHAIN,
                    now,
                    Event::KeyCreated {
                        purpose: "audit-signing".into(),
                        key_version: 1,
                    },
                );
                self.inner
                    .store
                    .insert_signing_key(record, PlatformTx::new().audit(event))
                    .await?;
                signer
            }
        };
        let signer = Arc::new(signer);
        *guard = Some(signer.clone());
        Ok(signer)
    }

    /// Every public key that ever signed checkpoints (old ones still verify old checkpoints).
    /// Each is derived from its private key, unwrapped with the master key, never taken from
    /// the stored public half: a key added to the database by someone without the master key
    /// is not trusted.
    pub async fn public_keys(&self) -> Result<Vec<String>, CoreError> {
        let mut out = Vec::new();
        for r in self.inner.store.signing_keys().await? {
            match self
                .inner
                .master
                .unwrap_key(&r.wrapped, "audit-signing", &r.id)
            {
                Ok(key) => out.push(CheckpointSigner::from_key(&key).public_base64()),
                Err(_) => tracing::warn!(
                    key_id = %r.id,
                    "an audit signing key does not open with the master key; it is not trusted"
                ),
            }
        }
        Ok(out)
    }
}

fn wrap_id(tenant: TenantId, version: u32) -> String {
    format!("{tenant}:{version}")
}

/// HMAC-SHA256 (RFC 2104) through the `hmac` crate.
mod hmac_sha256 {
    use ::hmac::{Hmac, Mac};
    use sha2::Sha256;

    pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
        // HMAC takes keys of any length (RFC 2104 §2), so this branch is unreachable.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
            return [0u8; 32];
        };
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

/// Progress of a rotation, per tenant.
#[derive(Debug, Clone, Default)]
pub struct RotationReport {
    pub new_version: u32,
    pub resealed: u64,
    pub skipped_changed: u64,
}

impl crate::Core {
    /// Makes a new data-key version for the tenant (wrapped by the master key, audited), then
    /// re-encrypts every sealed value under it, page by page. Values under older versions stay
    /// readable throughout, because every version is kept and each value names its own.
    /// `progress` is called after each page with the running count.
    pub async fn rotate_data_key(
        &self,
        scope: &TenantScope,
        mut progress: impl FnMut(u64) + Send,
    ) -> Result<RotationReport, CoreError> {
        let keys = self.keys();
        let current = self
            .store()
            .current_data_key(scope)
            .await?
            .map(|(v, _)| v)
            .unwrap_or(0);
        let version = current + 1;
        keys.create_data_key(scope, version).await?;
        let mut report = RotationReport {
            new_version: version,
            ..Default::default()
        };
        for column in SealedColumn::ALL {
            let (table, col) = column.aad_names();
            let mut after = None;
            loop {
                let page = self.sealed_page(scope, column, after.take()).await?;
                for v in &page {
                    if seal::key_version(&v.sealed)? >= version {
                        continue;
                    }
                    let slot = Slot {
                        table,
                        column: col,
                        row: &v.aad_row,
                    };
                    let plain = keys.open(scope, slot, &v.sealed).await?;
                    let new = keys.seal(scope, slot, &plain).await?;
                    if self
                        .store()
                        .replace_sealed(scope, column, &v.key, &v.sealed, new)
                        .await?
                    {
                        report.resealed += 1;
                    } else {
                        report.skipped_changed += 1;
                    }
                }
                progress(report.resealed);
                match page.last() {
                    Some(last) if page.len() >= PAGE as usize => after = Some(last.key.clone()),
                    _ => break,
                }
            }
        }
        self.records_changed(scope);
        Ok(report)
    }
}

const PAGE: u32 = 200;

/// One data-key version of a tenant, as `kinfold keys status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersionStatus {
    pub version: u32,
    /// How many stored values are sealed under it.
    pub sealed: u64,
    /// New values are sealed under this version.
    pub current: bool,
    /// False for a version some value names but whose key is gone: those values cannot open.
    pub stored: bool,
}

impl crate::Core {
    async fn sealed_page(
        &self,
        scope: &TenantScope,
        column: SealedColumn,
        after: Option<String>,
    ) -> Result<Vec<SealedValue>, CoreError> {
        Ok(self
            .store()
            .sealed_values(scope, column, after, PAGE)
            .await?)
    }

    /// Every data-key version of the tenant with the number of stored values it seals, read
    /// from each value's own version (nothing is opened), ascending.
    pub async fn data_key_status(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<KeyVersionStatus>, CoreError> {
        let mut counts = std::collections::BTreeMap::<u32, u64>::new();
        let stored = self.store().data_key_versions(scope).await?;
        for v in &stored {
            counts.insert(*v, 0);
        }
        for column in SealedColumn::ALL {
            let mut after = None;
            loop {
                let page = self.sealed_page(scope, column, after.take()).await?;
                for v in &page {
                    *counts.entry(seal::key_version(&v.sealed)?).or_default() += 1;
                }
                match page.last() {
                    Some(last) if page.len() >= PAGE as usize => after = Some(last.key.clone()),
                    _ => break,
                }
            }
        }
        let current = stored.last().copied();
        Ok(counts
            .into_iter()
            .map(|(version, sealed)| KeyVersionStatus {
                version,
                sealed,
                current: Some(version) == current,
                stored: stored.contains(&version),
            })
            .collect())
    }

    /// Destroys a data-key version that seals nothing any more (after `rotate_data_key`), with
    /// a `key_retired` audit entry in the same transaction. The current version is never
    /// retired: new values are sealed under it. Once destroyed, nothing in the store opens
    /// with that version, and a copy of the database with the old wrapped key in it is the
    /// only place it survives (see docs/operations.md about backups).
    pub async fn retire_data_key(
        &self,
        scope: &TenantScope,
        version: u32,
    ) -> Result<(), CoreError> {
        let status = self.data_key_status(scope).await?;
        let Some(s) = status.iter().find(|s| s.version == version && s.stored) else {
            return Err(CoreError::NotFound("data key version"));
        };
        if s.current {
            return Err(CoreError::WrongState(
                "the current data key version cannot be retired; rotate first",
            ));
        }
        if s.sealed > 0 {
            return Err(CoreError::WrongState(
                "this data key version still seals values; rotate first",
            ));
        }
        let event = Draft::new(
            scope.chain(),
            self.now_ms(),
            Event::KeyRetired {
                purpose: "data-key".into(),
                key_version: version,
            },
        );
        let destroyed = self
            .store()
            .destroy_data_key(scope.tx().audit(event), version)
            .await?;
        self.keys().forget(scope, version);
        if !destroyed {
            // Another caller retired it first.
            return Err(CoreError::NotFound("data key version"));
        }
        Ok(())
    }
}
