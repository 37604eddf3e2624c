//! Values sealed with a tenant's data keys, and the keys' versions (D3): what key rotation
//! reseals, what `kinfold keys status` counts, and what a retired version must no longer seal.
//! The trait is declared here and implemented once for both stores in `sql/sealed.rs`.

use async_trait::async_trait;

use crate::TenantTx;
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
    async fn destroy_data_key(&self, tx: TenantTx<'_>, version: u32) -> Result<bool>;
}
