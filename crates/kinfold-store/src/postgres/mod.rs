//! The PostgreSQL backend, for deployments that outgrow one machine.
//!
//! Every tenant table has row-level security, enabled and forced; each transaction states its
//! scope first ([`wall`]). The server connects as a role that owns no table and is neither a
//! superuser nor `BYPASSRLS` ([`setup`]), so a query that forgets `WHERE tenant_id` still sees
//! one tenant's rows at most.

mod audit;
mod dialect;
mod guardians;
mod outbox;
mod records;
mod sealed;
mod setup;
// The statements written once for both stores (see `sql/mod.rs`), compiled for this one.
#[allow(clippy::duplicate_mod)]
#[path = "../sql/mod.rs"]
mod sql;
pub(crate) mod wall;

use std::path::Path;

use async_trait::async_trait;
use kinfold_audit::{Checkpoint, Draft, Entry};
use kinfold_crypto::keyring::MasterKey;
use sqlx::PgPool;

pub use setup::PgOptions;
use wall::Wall;

use crate::*;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pub(super) pool: PgPool,
    applied: std::sync::Mutex<Vec<(i64, String)>>,
}

// The throttles' counters: one body for both stores (`attempts.rs`).
crate::attempts::attempt_store_for!(PgStore, pool);
crate::replays::replay_store_for!(PgStore, platform_tx);

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgStore")
    }
}

impl PgStore {
    /// A transaction behind the platform wall: the tenant list, audit chains, webhook replay keys.
    async fn platform_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        wall::begin(&self.pool, Wall::Platform).await
    }

    /// Connects, preparing roles and schema first when the URL allows it (see [`setup`]).
    /// `dir` holds the app role's sealed password.
    pub async fn open(opts: &PgOptions, dir: &Path, key: &MasterKey) -> Result<Self> {
        let (pool, applied) = setup::open(opts, dir, key, &MIGRATOR).await?;
        Ok(Self {
            pool,
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
        let mut conn = self.pool.acquire().await?;
        let applied = setup::applied_versions(&mut conn).await?;
        Ok(MIGRATOR.iter().all(|m| applied.contains(&m.version)))
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn append_audit(&self, drafts: Vec<Draft>) -> Result<Vec<Entry>> {
        let mut tx = self.platform_tx().await?;
        let entries = audit::append_in(&mut tx, drafts).await?;
        tx.commit().await?;
        Ok(entries)
    }
    async fn audit_page(&self, chain: &str, query: &AuditQuery) -> Result<Vec<Entry>> {
        audit::page(&self.pool, chain, query).await
    }
    async fn audit_chain(&self, chain: &str) -> Result<Vec<Entry>> {
        audit::whole_chain(&self.pool, chain).await
    }
    async fn audit_head(&self, chain: &str) -> Result<Option<(i64, String)>> {
        audit::head(&self.pool, chain).await
    }
    async fn audit_chains(&self) -> Result<Vec<String>> {
        audit::chains(&self.pool).await
    }
    async fn checkpoints(&self, chain: &str) -> Result<Vec<Checkpoint>> {
        audit::checkpoints(&self.pool, chain).await
    }
    async fn last_checkpoint_seq(&self, chain: &str) -> Result<i64> {
        audit::last_checkpoint_seq(&self.pool, chain).await
    }
    async fn insert_checkpoint(&self, cp: Checkpoint) -> Result<()> {
        audit::insert_checkpoint(&self.pool, cp).await
    }

    async fn append_api_access(&self, entries: &[ApiAccess]) -> Result<()> {
        let mut by_tenant: std::collections::BTreeMap<TenantId, Vec<&ApiAccess>> =
            Default::default();
        for e in entries {
            by_tenant.entry(e.tenant_id).or_default().push(e);
        }
        let mut tx = self.pool.begin().await?;
        for (tenant, list) in by_tenant {
            // One transaction, each segment written behind its own tenant's wall.
            wall::set(&mut tx, Wall::TenantId(tenant)).await?;
            let first = list.iter().map(|e| e.at_ms).min().unwrap_or_default();
            let last = list.iter().map(|e| e.at_ms).max().unwrap_or_default();
            let json = crate::drafts::encode_access_segment(list.iter().copied())?;
            sqlx::query(
                "INSERT INTO api_access_segments (tenant_id, first_ms, last_ms, entries) VALUES ($1, $2, $3, $4)",
            )
            .bind(tenant.to_string())
            .bind(first)
            .bind(last)
            .bind(json)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn api_access_page(
        &self,
        scope: &TenantScope,
        category: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<StoredApiAccess>, Option<i64>)> {
        let mut out = Vec::new();
        let mut cursor = before.unwrap_or(i64::MAX);
        let mut tx = wall::begin(&self.pool, Wall::Tenant(scope)).await?;
        loop {
            let segments: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, entries FROM api_access_segments WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT 20",
            )
            .bind(scope.tenant_id().to_string())
            .bind(cursor)
            .fetch_all(&mut *tx)
            .await?;
            let fetched = segments.len();
            for (id, json) in segments {
                cursor = id;
                let mut list = crate::drafts::decode_access_segment(&json)?;
                list.reverse();
                out.extend(
                    list.into_iter()
                        .filter(|e| category.is_none_or(|c| e.category == c)),
                );
                if out.len() >= limit as usize {
                    tx.commit().await?;
                    return Ok((out, Some(cursor)));
                }
            }
            if fetched < 20 {
                tx.commit().await?;
                return Ok((out, None));
            }
        }
    }

    async fn insert_csp_report(&self, at_ms: i64, report: String) -> Result<()> {
        sqlx::query("INSERT INTO csp_reports (at_ms, report) VALUES ($1, $2)")
            .bind(at_ms)
            .bind(report)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn csp_report_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM csp_reports")
            .fetch_one(&self.pool)
            .await?)
    }
}
