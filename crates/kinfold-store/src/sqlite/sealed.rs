//! Sealed values and data-key versions in SQLite.

use async_trait::async_trait;
use kinfold_audit::Draft;

use super::audit::append_in;
use super::SqliteStore;
use crate::sealed::{key_version, SealedStore};
use crate::*;

#[async_trait]
impl SealedStore for SqliteStore {
    async fn sealed_values(
        &self,
        scope: &TenantScope,
        column: SealedColumn,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<SealedValue>> {
        // Column names cannot be bound, so each column has its own fixed statement: (key, row
        // in the AAD, value).
        let sql = match column {
            SealedColumn::ChildAllergies => "SELECT id, id, allergies FROM children WHERE tenant_id = ? AND id > ? AND allergies IS NOT NULL ORDER BY id LIMIT ?",
            SealedColumn::ChildMedicalNotes => "SELECT id, id, medical_notes FROM children WHERE tenant_id = ? AND id > ? AND medical_notes IS NOT NULL ORDER BY id LIMIT ?",
            SealedColumn::ChildEmergencyContacts => "SELECT id, id, emergency_contacts FROM children WHERE tenant_id = ? AND id > ? AND emergency_contacts IS NOT NULL ORDER BY id LIMIT ?",
            SealedColumn::UserTotp => "SELECT id, id, totp_sealed FROM users WHERE tenant_id = ? AND id > ? AND totp_sealed IS NOT NULL ORDER BY id LIMIT ?",
            SealedColumn::UserPendingTotp => "SELECT id, id, pending_totp FROM users WHERE tenant_id = ? AND id > ? AND pending_totp IS NOT NULL ORDER BY id LIMIT ?",
            SealedColumn::EnrollmentTotp => "SELECT lower(hex(token_hash)) AS k, user_id, pending_totp FROM enrollments WHERE tenant_id = ? AND lower(hex(token_hash)) > ? AND pending_totp IS NOT NULL ORDER BY k LIMIT ?",
            SealedColumn::MessageBody => "SELECT id, id, body FROM email_messages WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?",
        };
        let rows: Vec<(String, String, Vec<u8>)> = sqlx::query_as(sql)
            .bind(scope.tenant_id().to_string())
            .bind(after.unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
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
        let sql = match column {
            SealedColumn::ChildAllergies => "UPDATE children SET allergies = ? WHERE tenant_id = ? AND id = ? AND allergies = ?",
            SealedColumn::ChildMedicalNotes => "UPDATE children SET medical_notes = ? WHERE tenant_id = ? AND id = ? AND medical_notes = ?",
            SealedColumn::ChildEmergencyContacts => "UPDATE children SET emergency_contacts = ? WHERE tenant_id = ? AND id = ? AND emergency_contacts = ?",
            SealedColumn::UserTotp => "UPDATE users SET totp_sealed = ? WHERE tenant_id = ? AND id = ? AND totp_sealed = ?",
            SealedColumn::UserPendingTotp => "UPDATE users SET pending_totp = ? WHERE tenant_id = ? AND id = ? AND pending_totp = ?",
            SealedColumn::EnrollmentTotp => "UPDATE enrollments SET pending_totp = ? WHERE tenant_id = ? AND lower(hex(token_hash)) = ? AND pending_totp = ?",
            SealedColumn::MessageBody => "UPDATE email_messages SET body = ? WHERE tenant_id = ? AND id = ? AND body = ?",
        };
        let r = sqlx::query(sql)
            .bind(new)
            .bind(scope.tenant_id().to_string())
            .bind(key)
            .bind(old)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn data_key_versions(&self, scope: &TenantScope) -> Result<Vec<u32>> {
        let v: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM data_keys WHERE tenant_id = ? ORDER BY version",
        )
        .bind(scope.tenant_id().to_string())
        .fetch_all(&self.reader)
        .await?;
        v.into_iter().map(key_version).collect()
    }

    async fn destroy_data_key(
        &self,
        scope: &TenantScope,
        version: u32,
        audit: Vec<Draft>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let sealed: i64 = sqlx::query_scalar(crate::sealed::SEALED_UNDER_VERSION)
            .bind(scope.tenant_id().to_string())
            .bind(version.to_be_bytes().to_vec())
            .fetch_one(&mut *tx)
            .await?;
        if sealed > 0 {
            return Err(StoreError::Conflict(
                "values are still sealed under this data key version",
            ));
        }
        let r = sqlx::query("DELETE FROM data_keys WHERE tenant_id = ? AND version = ?")
            .bind(scope.tenant_id().to_string())
            .bind(i64::from(version))
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        append_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}
