//! Sealed values and data-key versions in SQLite: the shared body (`crate::sealed`), with
//! SQLite's transaction and its spelling of a token hash as hex.

use sqlx::{Sqlite, Transaction};

use super::{audit, SqliteStore};
use crate::*;

impl SqliteStore {
    async fn tenant_tx(&self, _scope: &TenantScope) -> Result<Transaction<'static, Sqlite>> {
        self.begin().await
    }

    /// The single writer: no other write runs while this transaction holds it.
    async fn hold_writers(
        _tx: &mut Transaction<'static, Sqlite>,
        _scope: &TenantScope,
    ) -> Result<()> {
        Ok(())
    }
}

crate::sealed::sealed_store_for!(
    SqliteStore,
    tenant_tx,
    hold_writers,
    audit::append_in,
    "lower(hex(token_hash))"
);
