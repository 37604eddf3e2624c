//! Sealed values and data-key versions in PostgreSQL, behind the tenant wall (A5).

use async_trait::async_trait;
use kinfold_audit::Draft;

use super::audit::append_in;
use super::wall::{self, Wall};
use super::PgStore;
use crate::sealed::{key_version, SealedStore};
use crate::*;

#[async_trait]
impl SealedStore for PgStore {
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
            SealedColumn::ChildAllergies => {
                "SELECT id, id, allergies FROM children \
                 WHERE tenant_id = $1 AND id > $2 AND allergies IS NOT NULL ORDER BY id LIMIT $3"
            }
            SealedColumn::ChildMedicalNotes => {
                "SELECT id, id, medical_notes FROM children \
                 WHERE tenant_id = $1 AND id > $2 AND medical_notes IS NOT NULL \
                 ORDER BY id LIMIT $3"
            }
            SealedColumn::ChildEmergencyContacts => {
                "SELECT id, id, emergency_contacts FROM children \
                 WHERE tenant_id = $1 AND id > $2 AND emergency_contacts IS NOT NULL \
                 ORDER BY id LIMIT $3"
            }
            SealedColumn::UserTotp => {
                "SELECT id, id, totp_sealed FROM users \
                 WHERE tenant_id = $1 AND id > $2 AND totp_sealed IS NOT NULL \
                 ORDER BY id LIMIT $3"
            }
            SealedColumn::UserPendingTotp => {
                "SELECT id, id, pending_totp FROM users \
                 WHERE tenant_id = $1 AND id > $2 AND pending_totp IS NOT NULL \
                 ORDER BY id LIMIT $3"
            }
            SealedColumn::EnrollmentTotp => {
                "SELECT encode(token_hash, 'hex') AS k, user_id, pending_totp FROM enrollments \
                 WHERE tenant_id = $1 AND encode(token_hash, 'hex') > $2 \
                 AND pending_totp IS NOT NULL ORDER BY k LIMIT $3"
            }
            SealedColumn::MessageBody => {
                "SELECT id, id, body FROM email_messages \
                 WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
            }
        };
        let mut tx = wall::begin(&self.pool, Wall::Tenant(scope)).await?;
        let rows: Vec<(String, String, Vec<u8>)> = sqlx::query_as(sql)
            .bind(scope.tenant_id().to_string())
            .bind(after.unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
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
            SealedColumn::ChildAllergies => {
                "UPDATE children SET allergies = $1 \
                 WHERE tenant_id = $2 AND id = $3 AND allergies = $4"
            }
            SealedColumn::ChildMedicalNotes => {
                "UPDATE children SET medical_notes = $1 \
                 WHERE tenant_id = $2 AND id = $3 AND medical_notes = $4"
            }
            SealedColumn::ChildEmergencyContacts => {
                "UPDATE children SET emergency_contacts = $1 \
                 WHERE tenant_id = $2 AND id = $3 AND emergency_contacts = $4"
            }
            SealedColumn::UserTotp => {
                "UPDATE users SET totp_sealed = $1 \
                 WHERE tenant_id = $2 AND id = $3 AND totp_sealed = $4"
            }
            SealedColumn::UserPendingTotp => {
                "UPDATE users SET pending_totp = $1 \
                 WHERE tenant_id = $2 AND id = $3 AND pending_totp = $4"
            }
            SealedColumn::EnrollmentTotp => {
                "UPDATE enrollments SET pending_totp = $1 \
                 WHERE tenant_id = $2 AND encode(token_hash, 'hex') = $3 AND pending_totp = $4"
            }
            SealedColumn::MessageBody => {
                "UPDATE email_messages SET body = $1 \
                 WHERE tenant_id = $2 AND id = $3 AND body = $4"
            }
        };
        let mut tx = wall::begin(&self.pool, Wall::Tenant(scope)).await?;
        let r = sqlx::query(sql)
            .bind(new)
            .bind(scope.tenant_id().to_string())
            .bind(key)
            .bind(old)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    async fn data_key_versions(&self, scope: &TenantScope) -> Result<Vec<u32>> {
        let mut tx = wall::begin(&self.pool, Wall::Tenant(scope)).await?;
        let v: Vec<i64> = sqlx::query_scalar(
            "SELECT version::BIGINT FROM data_keys WHERE tenant_id = $1 ORDER BY version",
        )
        .bind(scope.tenant_id().to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        v.into_iter().map(key_version).collect()
    }

    async fn destroy_data_key(
        &self,
        scope: &TenantScope,
        version: u32,
        audit: Vec<Draft>,
    ) -> Result<bool> {
        let mut tx = wall::begin(&self.pool, Wall::Tenant(scope)).await?;
        // Writers of sealed columns wait until this transaction ends, and those in flight
        // finish first, so the count below sees every value that could name the version.
        // Enrollment links are locked row by row (the server's role may only update two of
        // their columns, which a table lock needs whole): a link created in this very instant
        // and offered a secret under the old version fails to confirm until it is opened
        // again, which offers a new secret.
        sqlx::query("LOCK TABLE children, users, email_messages IN SHARE MODE")
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT 1 FROM enrollments WHERE tenant_id = $1 FOR SHARE")
            .bind(scope.tenant_id().to_string())
            .execute(&mut *tx)
            .await?;
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
        let r = sqlx::query("DELETE FROM data_keys WHERE tenant_id = $1 AND version = $2")
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
