//! The PostgreSQL backend, for deployments that outgrow one machine.
//!
//! Every tenant table has row-level security, enabled and forced; each transaction states its
//! scope first ([`wall`]). The server connects as a role that owns no table and is neither a
//! superuser nor `BYPASSRLS` ([`setup`]), so a query that forgets `WHERE tenant_id` still sees
//! one tenant's rows at most.

pub mod backup;
mod dialect;
pub mod hosts;
mod setup;
// The statements written once for both stores (see `sql/mod.rs`), compiled for this one.
#[allow(clippy::duplicate_mod)]
#[path = "../sql/mod.rs"]
mod sql;
pub(crate) mod wall;

use std::path::Path;

use async_trait::async_trait;
use kinfold_crypto::keyring::MasterKey;
use sqlx::PgPool;

pub use setup::PgOptions;

use crate::*;

pub struct PgStore {
    pub(super) pool: PgPool,
    /// Writes outside every wall, each on its own: committed locally (`setup::local_commit`).
    pub(super) unwalled: PgPool,
    /// How long a commit may wait for the server (the statement timeout; none for none).
    pub(super) commit_bound: Option<std::time::Duration>,
    applied: std::sync::Mutex<Vec<(i64, String)>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgStore")
    }
}

impl PgStore {
    /// Connects, preparing roles and schema first when the URL allows it (see [`setup`]).
    /// `dir` holds the app role's sealed password.
    pub async fn open(opts: &PgOptions, dir: &Path, key: &MasterKey) -> Result<Self> {
        let (pool, unwalled, applied) = setup::open(opts, dir, key).await?;
        Ok(Self {
            pool,
            unwalled,
            commit_bound: Some(opts.statement_timeout).filter(|t| !t.is_zero()),
            applied: std::sync::Mutex::new(applied),
        })
    }

    /// The serving pool, for tests that probe the wall directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Store for PgStore {
    /// Migrations run when the store opens, as the owner; this reports what that run applied.
    async fn migrate(&self) -> Result<Vec<(i64, String)>> {
        Ok(self
            .applied
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default())
    }

    async fn ready(&self) -> Result<bool> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::connecting)?;
        let applied = sql::applied_versions(&mut conn).await?;
        Ok(crate::migrations::is_current(&applied))
    }

    async fn close(&self) {
        self.pool.close().await;
        self.unwalled.close().await;
    }

    async fn exclusive(&self, job: &str) -> Result<Option<JobLease>> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::connecting)?;
        // Closed, never pooled again, however this ends: were this future dropped between the
        // lock and the lease, a pooled connection would keep the lock.
        conn.close_on_drop();
        let got: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_lock(hashtextextended('kinfold job ' || $1, 0))",
        )
        .bind(job)
        .fetch_one(&mut *conn)
        .await?;
        if !got {
            return Ok(None);
        }
        Ok(Some(JobLease(Some(conn))))
    }
}
