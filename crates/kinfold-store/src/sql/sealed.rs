//! Sealed values and data-key versions (D3): one body for both stores, each transaction behind
//! the tenant's wall. Two things differ and come from the dialect: how writers of sealed
//! columns are held off before a key version is destroyed (`hold_writers`), and how a token
//! hash is spelled as hex, which keys enrollment links for paging (`token_hex`).

use async_trait::async_trait;

use super::{append_in, hold_writers, token_hex, Backend};
use crate::sealed::SealedStore;
use crate::wall::Wall;
use crate::TenantTx;
use crate::{Result, SealedColumn, SealedValue, StoreError, TenantScope};

/// The values still sealed under one key version (`$2`: the version as 4 big-endian bytes)
/// in one tenant (`$1`), counted from the sealed layout `0x01 | version (u32 BE) | ...`: run by
/// [`SealedStore::destroy_data_key`] inside its transaction, so a value written under the
/// version after `kinfold keys status` counted it stops the destruction instead of becoming
/// unreadable. Every [`SealedColumn`] is here.
const SEALED_UNDER_VERSION: &str = "SELECT \
     (SELECT COUNT(*) FROM children WHERE tenant_id = $1 AND (substr(allergies, 2, 4) = $2 \
        OR substr(medical_notes, 2, 4) = $2 OR substr(emergency_contacts, 2, 4) = $2)) \
     + (SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND (substr(totp_sealed, 2, 4) = $2 \
        OR substr(pending_totp, 2, 4) = $2)) \
     + (SELECT COUNT(*) FROM enrollments WHERE tenant_id = $1 AND substr(pending_totp, 2, 4) = $2) \
     + (SELECT COUNT(*) FROM email_messages WHERE tenant_id = $1 AND substr(body, 2, 4) = $2)";

/// Where a sealed column lives: its table, the expression that keys its rows for paging (the
/// same text names the AAD row, except for enrollment links, whose AAD names the user), and
/// the column.
struct Place {
    table: &'static str,
    key: &'static str,
    aad_row: &'static str,
    column: &'static str,
}

fn place(c: SealedColumn) -> Place {
    let (table, key, aad_row, column) = match c {
        SealedColumn::ChildAllergies => ("children", "id", "id", "allergies"),
        SealedColumn::ChildMedicalNotes => ("children", "id", "id", "medical_notes"),
        SealedColumn::ChildEmergencyContacts => ("children", "id", "id", "emergency_contacts"),
        SealedColumn::UserTotp => ("users", "id", "id", "totp_sealed"),
        SealedColumn::UserPendingTotp => ("users", "id", "id", "pending_totp"),
        SealedColumn::EnrollmentTotp => ("enrollments", token_hex(), "user_id", "pending_totp"),
        SealedColumn::MessageBody => ("email_messages", "id", "id", "body"),
    };
    Place {
        table,
        key,
        aad_row,
        column,
    }
}

#[async_trait]
impl SealedStore for Backend {
    async fn sealed_values(
        &self,
        scope: &TenantScope,
        column: SealedColumn,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<SealedValue>> {
        // Column names cannot be bound; they come from `place` only.
        let p = place(column);
        let sql = format!(
            "SELECT {key} AS k, {row}, {col} FROM {table} WHERE tenant_id = $1 AND {key} > $2 \
             AND {col} IS NOT NULL ORDER BY k LIMIT $3",
            key = p.key,
            row = p.aad_row,
            col = p.column,
            table = p.table
        );
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let rows: Vec<(String, String, Vec<u8>)> = sqlx::query_as(&sql)
            .bind(scope.tenant_id().to_string())
            .bind(after.unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        self.commit(tx).await?;
        Ok(rows
            .into_iter()
            .map(|(key, aad_row, sealed)| SealedValue {
                key,
                aad_row,
                sealed,
            })
            .collect())
    }

    async fn replace_sealed(
        &self,
        scope: &TenantScope,
        column: SealedColumn,
        key: &str,
        old: &[u8],
        new: Vec<u8>,
    ) -> Result<bool> {
        let p = place(column);
        let sql = format!(
            "UPDATE {table} SET {col} = $1 WHERE tenant_id = $2 AND {key} = $3 AND {col} = $4",
            table = p.table,
            col = p.column,
            key = p.key
        );
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let r = sqlx::query(&sql)
            .bind(new)
            .bind(scope.tenant_id().to_string())
            .bind(key)
            .bind(old)
            .execute(&mut *tx)
            .await?;
        self.commit(tx).await?;
        Ok(r.rows_affected() == 1)
    }

    async fn data_key_versions(&self, scope: &TenantScope) -> Result<Vec<u32>> {
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let v: Vec<i64> = sqlx::query_scalar(
            "SELECT CAST(version AS BIGINT) FROM data_keys WHERE tenant_id = $1 ORDER BY version",
        )
        .bind(scope.tenant_id().to_string())
        .fetch_all(&mut *tx)
        .await?;
        self.commit(tx).await?;
        v.into_iter()
            .map(|v| u32::try_from(v).map_err(|_| StoreError::Corrupt("data key version")))
            .collect()
    }

    async fn destroy_data_key(&self, tx: TenantTx<'_>, version: u32) -> Result<bool> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        hold_writers(&mut tx, scope).await?;
        let sealed: i64 = sqlx::query_scalar(SEALED_UNDER_VERSION)
            .bind(scope.tenant_id().to_string())
            .bind(version.to_be_bytes().to_vec())
            .fetch_one(&mut *tx)
            .await?;
        if sealed > 0 {
            return Err(StoreError::Conflict(
                "values are still sealed under this data key version",
            ));
        }
        let r = sqlx::query("DELETE FROM data_keys WHERE tenant_id = $1 AND version = $2")
            .bind(scope.tenant_id().to_string())
            .bind(i64::from(version))
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(true)
    }
}
