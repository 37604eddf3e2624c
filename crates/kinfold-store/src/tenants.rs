//! Tenants, their data keys, and the keys that sign audit checkpoints.

use async_trait::async_trait;

use crate::{NewTenant, Result, SigningKeyRecord, Tenant, TenantId, TenantScope};
use crate::{NewTenantTx, PlatformTx, TenantTx};

#[async_trait]
pub trait TenantStore {
    /// Creates a tenant; its audit drafts go to the new tenant's own chain. `Conflict` when
    /// the slug is taken.
    async fn create_tenant(&self, new: NewTenant, tx: NewTenantTx)
        -> Result<(Tenant, TenantScope)>;
    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<(Tenant, TenantScope)>>;
    /// A tenant by ID, for links that name it after checking a MAC (unsubscribe tokens).
    async fn tenant_by_id(&self, id: TenantId) -> Result<Option<(Tenant, TenantScope)>>;
    /// Every tenant, in slug order (bytes).
    async fn tenants(&self) -> Result<Vec<(Tenant, TenantScope)>>;
    async fn tenant(&self, scope: &TenantScope) -> Result<Tenant>;
    async fn data_key(&self, scope: &TenantScope, version: u32) -> Result<Option<Vec<u8>>>;
    async fn current_data_key(&self, scope: &TenantScope) -> Result<Option<(u32, Vec<u8>)>>;
    /// Stores a new data key version, with the entries that record its creation.
    async fn insert_data_key(
        &self,
        tx: TenantTx<'_>,
        version: u32,
        wrapped: Vec<u8>,
        at_ms: i64,
    ) -> Result<()>;
    /// Every signing key, oldest first: retired public halves stay so old checkpoints verify.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>>;
    async fn insert_signing_key(&self, key: SigningKeyRecord, tx: PlatformTx) -> Result<()>;
}
