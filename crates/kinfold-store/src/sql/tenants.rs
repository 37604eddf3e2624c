//! Tenants, their data keys, and the audit signing keys: one body for both stores.

use async_trait::async_trait;

use super::{append_in, done, Backend};
use crate::rows::{TenantRow, TENANT_COLUMNS};
use crate::tenants::TenantStore;
use crate::wall::Wall;
use crate::{NewTenant, Result, SigningKeyRecord, StoreError, Tenant, TenantId, TenantScope};
use crate::{NewTenantTx, PlatformTx, TenantTx};

#[async_trait]
impl TenantStore for Backend {
    async fn create_tenant(
        &self,
        new: NewTenant,
        tx_audit: NewTenantTx,
    ) -> Result<(Tenant, TenantScope)> {
        let tenant = Tenant {
            id: TenantId::new(),
            slug: new.slug,
            name: new.name,
            created_ms: new.created_ms,
            sessions: Default::default(),
        };
        let scope = TenantScope::new(tenant.id);
        let mut tx = self.tx(Wall::Tenant(&scope)).await?;
        sqlx::query("INSERT INTO tenants (id, slug, name, created_ms) VALUES ($1, $2, $3, $4)")
            .bind(tenant.id.to_string())
            .bind(&tenant.slug)
            .bind(&tenant.name)
            .bind(tenant.created_ms)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_insert(e, "tenant"))?;
        // The caller cannot name the new tenant's chain before it exists: its entries open it.
        append_in(&mut tx, tx_audit.into_audit(&scope)).await?;
        self.commit(tx).await?;
        Ok((tenant, scope))
    }

    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<(Tenant, TenantScope)>> {
        let mut read = self.read(Wall::Slug(slug)).await?;
        let row: Option<TenantRow> = sqlx::query_as(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE slug = $1"
        ))
        .bind(slug)
        .fetch_optional(&mut *read)
        .await?;
        done(read).await?;
        row.map(TenantRow::into_scoped).transpose()
    }

    async fn tenant_by_id(&self, id: TenantId) -> Result<Option<(Tenant, TenantScope)>> {
        let mut read = self.read(Wall::TenantId(id)).await?;
        let row: Option<TenantRow> = sqlx::query_as(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut *read)
        .await?;
        done(read).await?;
        row.map(TenantRow::into_scoped).transpose()
    }

    async fn tenants(&self) -> Result<Vec<(Tenant, TenantScope)>> {
        let mut read = self.read(Wall::Platform).await?;
        let rows: Vec<TenantRow> = sqlx::query_as(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants ORDER BY slug COLLATE \"C\""
        ))
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        rows.into_iter().map(TenantRow::into_scoped).collect()
    }

    async fn tenant(&self, scope: &TenantScope) -> Result<Tenant> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let row: TenantRow = sqlx::query_as(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"
        ))
        .bind(scope.tenant_id().to_string())
        .fetch_one(&mut *read)
        .await?;
        done(read).await?;
        row.into_tenant()
    }

    async fn data_key(&self, scope: &TenantScope, version: u32) -> Result<Option<Vec<u8>>> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let key = sqlx::query_scalar(
            "SELECT wrapped FROM data_keys WHERE tenant_id = $1 AND version = $2",
        )
        .bind(scope.tenant_id().to_string())
        .bind(i64::from(version))
        .fetch_optional(&mut *read)
        .await?;
        done(read).await?;
        Ok(key)
    }

    async fn current_data_key(&self, scope: &TenantScope) -> Result<Option<(u32, Vec<u8>)>> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT version, wrapped FROM data_keys WHERE tenant_id = $1 \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(scope.tenant_id().to_string())
        .fetch_optional(&mut *read)
        .await?;
        done(read).await?;
        row.map(|(v, w)| {
            Ok((
                u32::try_from(v).map_err(|_| StoreError::Corrupt("key version"))?,
                w,
            ))
        })
        .transpose()
    }

    async fn insert_data_key(
        &self,
        tx: TenantTx<'_>,
        version: u32,
        wrapped: Vec<u8>,
        at_ms: i64,
    ) -> Result<()> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        sqlx::query(
            "INSERT INTO data_keys (tenant_id, version, wrapped, created_ms) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(scope.tenant_id().to_string())
        .bind(i64::from(version))
        .bind(wrapped)
        .bind(at_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "data key"))?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        // Signing keys are no tenant's data; the platform wall is the one that fits.
        let mut read = self.read(Wall::Platform).await?;
        let rows: Vec<(String, Vec<u8>, String, i64, bool)> = sqlx::query_as(
            "SELECT id, wrapped, public_key, created_ms, active FROM signing_keys \
             ORDER BY created_ms",
        )
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, wrapped, public_key, created_ms, active)| SigningKeyRecord {
                    id,
                    wrapped,
                    public_key,
                    created_ms,
                    active,
                },
            )
            .collect())
    }

    async fn insert_signing_key(&self, key: SigningKeyRecord, tx: PlatformTx) -> Result<()> {
        let audit = tx.into_audit();
        let mut tx = self.tx(Wall::Platform).await?;
        sqlx::query(
            "INSERT INTO signing_keys (id, wrapped, public_key, created_ms, active) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.id)
        .bind(&key.wrapped)
        .bind(&key.public_key)
        .bind(key.created_ms)
        .bind(key.active)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "signing key"))?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }
}
