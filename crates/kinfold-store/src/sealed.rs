//! Values sealed with a tenant's data keys, and the keys' versions (D3): what key rotation
//! reseals, what `kinfold keys status` counts, and what a retired version must no longer seal.

use async_trait::async_trait;
use kinfold_audit::Draft;

use crate::*;

#[async_trait]
pub trait SealedStore: Send + Sync {
    /// A page of sealed values in a column, ordered by their key, after the key `after`.
    async fn sealed_values(
        &self,
        scope: &TenantScope,
        column: SealedColumn,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<SealedValue>>;

    /// Replaces the sealed value of the row with key `key` only if it still equals `old` (a
    /// concurrent update wins).
    async fn replace_sealed(
        &self,
        scope: &TenantScope,
        column: SealedColumn,
        key: &str,
        old: &[u8],
        new: Vec<u8>,
    ) -> Result<bool>;

    /// The tenant's data-key versions, ascending.
    async fn data_key_versions(&self, scope: &TenantScope) -> Result<Vec<u32>>;

    /// Destroys a data-key version (its wrapped key is deleted) with the audit entry, in one
    /// transaction. False, and nothing written, when there is no such version; `Conflict` when
    /// a value is still sealed under it (counted inside the same transaction).
    async fn destroy_data_key(
        &self,
        scope: &TenantScope,
        version: u32,
        audit: Vec<Draft>,
    ) -> Result<bool>;
}

/// The values still sealed under one key version (`$2`: the version as 4 big-endian bytes)
/// in one tenant (`$1`), counted from the sealed layout `0x01 | version (u32 BE) | ...`: run by
/// [`SealedStore::destroy_data_key`] inside its transaction, so a value written under the
/// version after `kinfold keys status` counted it stops the destruction instead of becoming
/// unreadable. Every [`SealedColumn`] is here; the same text runs on both stores.
pub(crate) const SEALED_UNDER_VERSION: &str = "SELECT \
     (SELECT COUNT(*) FROM children WHERE tenant_id = $1 AND (substr(allergies, 2, 4) = $2 \
        OR substr(medical_notes, 2, 4) = $2 OR substr(emergency_contacts, 2, 4) = $2)) \
     + (SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND (substr(totp_sealed, 2, 4) = $2 \
        OR substr(pending_totp, 2, 4) = $2)) \
     + (SELECT COUNT(*) FROM enrollments WHERE tenant_id = $1 AND substr(pending_totp, 2, 4) = $2) \
     + (SELECT COUNT(*) FROM email_messages WHERE tenant_id = $1 AND substr(body, 2, 4) = $2)";

/// A stored key version as the backends read it.
pub(crate) fn key_version(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt("data key version"))
}
