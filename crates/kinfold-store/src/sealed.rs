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

/// Where a sealed column lives: its table, the expression that keys its rows for paging (the
/// same text names the AAD row, except for enrollment links, whose AAD names the user), and
/// the column. `token_hex` is the one dialect difference: a token hash as lower-case hex.
struct Place {
    table: &'static str,
    key: &'static str,
    aad_row: &'static str,
    column: &'static str,
}

fn place(c: SealedColumn, token_hex: &'static str) -> Place {
    let (table, key, aad_row, column) = match c {
        SealedColumn::ChildAllergies => ("children", "id", "id", "allergies"),
        SealedColumn::ChildMedicalNotes => ("children", "id", "id", "medical_notes"),
        SealedColumn::ChildEmergencyContacts => ("children", "id", "id", "emergency_contacts"),
        SealedColumn::UserTotp => ("users", "id", "id", "totp_sealed"),
        SealedColumn::UserPendingTotp => ("users", "id", "id", "pending_totp"),
        SealedColumn::EnrollmentTotp => ("enrollments", token_hex, "user_id", "pending_totp"),
        SealedColumn::MessageBody => ("email_messages", "id", "id", "body"),
    };
    Place {
        table,
        key,
        aad_row,
        column,
    }
}

/// A page of a column's values: (key, AAD row, value), `$1` the tenant, after key `$2`, at most
/// `$3`. Column names cannot be bound; they come from [`place`] only.
pub(crate) fn page_sql(c: SealedColumn, token_hex: &'static str) -> String {
    let p = place(c, token_hex);
    format!(
        "SELECT {key} AS k, {row}, {col} FROM {table} WHERE tenant_id = $1 AND {key} > $2 \
         AND {col} IS NOT NULL ORDER BY k LIMIT $3",
        key = p.key,
        row = p.aad_row,
        col = p.column,
        table = p.table
    )
}

/// Sets a row's value (`$1`) only if it still equals `$4` (tenant `$2`, key `$3`).
pub(crate) fn replace_sql(c: SealedColumn, token_hex: &'static str) -> String {
    let p = place(c, token_hex);
    format!(
        "UPDATE {table} SET {col} = $1 WHERE tenant_id = $2 AND {key} = $3 AND {col} = $4",
        table = p.table,
        col = p.column,
        key = p.key
    )
}

pub(crate) const KEY_VERSIONS: &str =
    "SELECT CAST(version AS BIGINT) FROM data_keys WHERE tenant_id = $1 ORDER BY version";
pub(crate) const DESTROY_KEY: &str = "DELETE FROM data_keys WHERE tenant_id = $1 AND version = $2";

/// A stored key version as the backends read it.
pub(crate) fn key_version(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt("data key version"))
}

/// Implements [`SealedStore`] for `$store`: `$tenant_tx(scope)` begins a transaction in the
/// tenant's scope, `$hold_writers(tx, scope)` keeps writers of sealed columns out until it
/// ends (before a key is destroyed), `$append` appends audit entries inside a transaction, and
/// `$token_hex` is the store's spelling of a token hash as hex.
macro_rules! sealed_store_for {
    ($store:ty, $tenant_tx:ident, $hold_writers:ident, $append:path, $token_hex:expr) => {
        #[async_trait::async_trait]
        impl $crate::sealed::SealedStore for $store {
            async fn sealed_values(
                &self,
                scope: &$crate::TenantScope,
                column: $crate::SealedColumn,
                after: Option<String>,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::SealedValue>> {
                let sql = $crate::sealed::page_sql(column, $token_hex);
                let mut tx = self.$tenant_tx(scope).await?;
                let rows: Vec<(String, String, Vec<u8>)> = sqlx::query_as(&sql)
                    .bind(scope.tenant_id().to_string())
                    .bind(after.unwrap_or_default())
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(rows
                    .into_iter()
                    .map(|(key, aad_row, sealed)| $crate::SealedValue {
                        key,
                        aad_row,
                        sealed,
                    })
                    .collect())
            }

            async fn replace_sealed(
                &self,
                scope: &$crate::TenantScope,
                column: $crate::SealedColumn,
                key: &str,
                old: &[u8],
                new: Vec<u8>,
            ) -> $crate::Result<bool> {
                let sql = $crate::sealed::replace_sql(column, $token_hex);
                let mut tx = self.$tenant_tx(scope).await?;
                let r = sqlx::query(&sql)
                    .bind(new)
                    .bind(scope.tenant_id().to_string())
                    .bind(key)
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(r.rows_affected() == 1)
            }

            async fn data_key_versions(
                &self,
                scope: &$crate::TenantScope,
            ) -> $crate::Result<Vec<u32>> {
                let mut tx = self.$tenant_tx(scope).await?;
                let v: Vec<i64> = sqlx::query_scalar($crate::sealed::KEY_VERSIONS)
                    .bind(scope.tenant_id().to_string())
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                v.into_iter().map($crate::sealed::key_version).collect()
            }

            async fn destroy_data_key(
                &self,
                scope: &$crate::TenantScope,
                version: u32,
                audit: Vec<kinfold_audit::Draft>,
            ) -> $crate::Result<bool> {
                let mut tx = self.$tenant_tx(scope).await?;
                Self::$hold_writers(&mut tx, scope).await?;
                let sealed: i64 = sqlx::query_scalar($crate::sealed::SEALED_UNDER_VERSION)
                    .bind(scope.tenant_id().to_string())
                    .bind(version.to_be_bytes().to_vec())
                    .fetch_one(&mut *tx)
                    .await?;
                if sealed > 0 {
                    return Err($crate::StoreError::Conflict(
                        "values are still sealed under this data key version",
                    ));
                }
                let r = sqlx::query($crate::sealed::DESTROY_KEY)
                    .bind(scope.tenant_id().to_string())
                    .bind(i64::from(version))
                    .execute(&mut *tx)
                    .await?;
                if r.rows_affected() != 1 {
                    return Ok(false);
                }
                $append(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}
pub(crate) use sealed_store_for;
