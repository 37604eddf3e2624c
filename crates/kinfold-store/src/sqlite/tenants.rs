//! Tenants, their data keys, and the audit signing keys in SQLite.

use kinfold_audit::Draft;

use super::{audit, SqliteStore};
use crate::rows;
use crate::*;

pub(super) async fn create_tenant(
    s: &SqliteStore,
    new: NewTenant,
    audit: Vec<Draft>,
) -> Result<(Tenant, TenantScope)> {
    let tenant = Tenant {
        id: TenantId::new(),
        slug: new.slug,
        name: new.name,
        created_ms: new.created_ms,
    };
    let mut tx = s.begin().await?;
    sqlx::query("INSERT INTO tenants (id, slug, name, created_ms) VALUES (?, ?, ?, ?)")
        .bind(tenant.id.to_string())
        .bind(&tenant.slug)
        .bind(&tenant.name)
        .bind(tenant.created_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "tenant"))?;
    let scope = TenantScope::new(tenant.id);
    let audit = audit.into_iter().map(|mut d| {
        d.chain = scope.chain();
        d
    });
    audit::append_in(&mut tx, audit.collect()).await?;
    tx.commit().await?;
    Ok((tenant, scope))
}

pub(super) async fn tenant_by_slug(
    s: &SqliteStore,
    slug: &str,
) -> Result<Option<(Tenant, TenantScope)>> {
    let row: Option<rows::TenantRow> = sqlx::query_as("SELECT * FROM tenants WHERE slug = ?")
        .bind(slug)
        .fetch_optional(&s.reader)
        .await?;
    row.map(rows::TenantRow::into_scoped).transpose()
}

pub(super) async fn tenant_by_id(
    s: &SqliteStore,
    id: TenantId,
) -> Result<Option<(Tenant, TenantScope)>> {
    let row: Option<rows::TenantRow> = sqlx::query_as("SELECT * FROM tenants WHERE id = ?")
        .bind(id.to_string())
        .fetch_optional(&s.reader)
        .await?;
    row.map(rows::TenantRow::into_scoped).transpose()
}

pub(super) async fn tenants(s: &SqliteStore) -> Result<Vec<(Tenant, TenantScope)>> {
    let rows: Vec<rows::TenantRow> = sqlx::query_as("SELECT * FROM tenants ORDER BY slug")
        .fetch_all(&s.reader)
        .await?;
    rows.into_iter().map(rows::TenantRow::into_scoped).collect()
}

pub(super) async fn tenant(s: &SqliteStore, scope: &TenantScope) -> Result<Tenant> {
    let row: rows::TenantRow = sqlx::query_as("SELECT * FROM tenants WHERE id = ?")
        .bind(scope.tenant_id().to_string())
        .fetch_one(&s.reader)
        .await?;
    row.into_tenant()
}

pub(super) async fn data_key(
    s: &SqliteStore,
    scope: &TenantScope,
    version: u32,
) -> Result<Option<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT wrapped FROM data_keys WHERE tenant_id = ? AND version = ?")
            .bind(scope.tenant_id().to_string())
            .bind(i64::from(version))
            .fetch_optional(&s.reader)
            .await?,
    )
}

pub(super) async fn current_data_key(
    s: &SqliteStore,
    scope: &TenantScope,
) -> Result<Option<(u32, Vec<u8>)>> {
    let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT version, wrapped FROM data_keys WHERE tenant_id = ? ORDER BY version DESC LIMIT 1",
    )
    .bind(scope.tenant_id().to_string())
    .fetch_optional(&s.reader)
    .await?;
    row.map(|(v, w)| {
        Ok((
            u32::try_from(v).map_err(|_| StoreError::Corrupt("key version"))?,
            w,
        ))
    })
    .transpose()
}

pub(super) async fn insert_data_key(
    s: &SqliteStore,
    scope: &TenantScope,
    version: u32,
    wrapped: Vec<u8>,
    at_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO data_keys (tenant_id, version, wrapped, created_ms) VALUES (?, ?, ?, ?)",
    )
    .bind(scope.tenant_id().to_string())
    .bind(i64::from(version))
    .bind(wrapped)
    .bind(at_ms)
    .execute(&s.writer)
    .await
    .map_err(|e| StoreError::from_insert(e, "data key"))?;
    Ok(())
}

pub(super) async fn signing_keys(s: &SqliteStore) -> Result<Vec<SigningKeyRecord>> {
    let rows: Vec<(String, Vec<u8>, String, i64, bool)> = sqlx::query_as(
        "SELECT id, wrapped, public_key, created_ms, active FROM signing_keys ORDER BY created_ms",
    )
    .fetch_all(&s.reader)
    .await?;
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

pub(super) async fn insert_signing_key(
    s: &SqliteStore,
    key: SigningKeyRecord,
    audit: Vec<Draft>,
) -> Result<()> {
    let mut tx = s.begin().await?;
    sqlx::query("INSERT INTO signing_keys (id, wrapped, public_key, created_ms, active) VALUES (?, ?, ?, ?, ?)")
        .bind(&key.id)
        .bind(&key.wrapped)
        .bind(&key.public_key)
        .bind(key.created_ms)
        .bind(key.active)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "signing key"))?;
    audit::append_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}
