//! Sealed values and data-key versions in PostgreSQL: the shared body (`crate::sealed`) behind
//! the tenant wall (A5), with PostgreSQL's spelling of a token hash as hex.

use sqlx::{Postgres, Transaction};

use super::audit;
use super::wall::{self, Wall};
use super::PgStore;
use crate::*;

impl PgStore {
    async fn tenant_tx(&self, scope: &TenantScope) -> Result<Transaction<'static, Postgres>> {
        wall::begin(&self.pool, Wall::Tenant(scope)).await
    }

    /// Writers of sealed columns wait until this transaction ends, and those in flight finish
    /// first, so a count after this sees every value that could name a version. Enrollment
    /// links are locked row by row (the server's role may only update two of their columns,
    /// which a table lock needs whole): a link created in this very instant and offered a
    /// secret under the old version fails to confirm until it is opened again, which offers a
    /// new secret.
    async fn hold_writers(
        tx: &mut Transaction<'static, Postgres>,
        scope: &TenantScope,
    ) -> Result<()> {
        sqlx::query("LOCK TABLE children, users, email_messages IN SHARE MODE")
            .execute(&mut **tx)
            .await?;
        sqlx::query("SELECT 1 FROM enrollments WHERE tenant_id = $1 FOR SHARE")
            .bind(scope.tenant_id().to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

crate::sealed::sealed_store_for!(
    PgStore,
    tenant_tx,
    hold_writers,
    audit::append_in,
    "encode(token_hash, 'hex')"
);
