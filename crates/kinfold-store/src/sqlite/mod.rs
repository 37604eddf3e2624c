//! The SQLite backend: one encrypted file (SQLCipher, AES-256), WAL mode.
//!
//! Writes go through a pool of one connection, so SQLite's single writer never sees
//! `SQLITE_BUSY` from our own process and every write transaction reads the latest chain head.
//! Reads use a separate pool.

mod audit;
mod children;
mod dialect;
mod guardians;
mod outbox;
mod sealed;
// The statements written once for both stores (see `sql/mod.rs`), compiled for this one.
#[allow(clippy::duplicate_mod)]
#[path = "../sql/mod.rs"]
mod sql;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use kinfold_audit::{Checkpoint, Draft, Entry};
use kinfold_crypto::keyring::MasterKey;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::*;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

// The throttles' counters: one body for both stores (`attempts.rs`).
crate::attempts::attempt_store_for!(SqliteStore, writer);
crate::replays::replay_store_for!(SqliteStore, begin);

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "kinfold.db";

impl SqliteStore {
    /// Opens (creating if needed) `DIR/kinfold.db`, keyed from the master key.
    pub async fn open(dir: &Path, key: &MasterKey, readers: u32) -> Result<Self> {
        // OpenSSL (SQLCipher's cipher) is initialized before the first connection, without its
        // exit-time cleanup (`OPENSSL_INIT_NO_ATEXIT`): at exit that cleanup frees OpenSSL's
        // global state while sqlx's connection threads may still be closing connections, a
        // double free that aborted a test binary once. The OS reclaims the memory instead.
        openssl_sys::init();
        let path = dir.join(DB_FILE);
        // `x'..'` is SQLCipher's raw-key form: the 256-bit key is used as is, without PBKDF2.
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(&path)
            .pragma("key", format!("\"x'{}'\"", key.sqlcipher_key_hex()))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Byte order, under PostgreSQL's name for it, so shared statements sort alike.
            .collation("C", |a: &str, b: &str| a.cmp(b))
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(readers.max(1))
            .connect_with(opts.read_only(true))
            .await?;
        Ok(Self { writer, reader })
    }

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin().await?)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<Vec<(i64, String)>> {
        let before = applied_versions(&self.writer).await?;
        MIGRATOR.run(&self.writer).await?;
        Ok(MIGRATOR
            .iter()
            .filter(|m| !before.contains(&m.version))
            .map(|m| (m.version, m.description.to_string()))
            .collect())
    }

    async fn ready(&self) -> Result<bool> {
        let applied = applied_versions(&self.reader).await?;
        Ok(MIGRATOR.iter().all(|m| applied.contains(&m.version)))
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    async fn append_audit(&self, drafts: Vec<Draft>) -> Result<Vec<Entry>> {
        let mut tx = self.begin().await?;
        let entries = audit::append_in(&mut tx, drafts).await?;
        tx.commit().await?;
        Ok(entries)
    }
    async fn audit_page(&self, chain: &str, query: &AuditQuery) -> Result<Vec<Entry>> {
        audit::page(&self.reader, chain, query).await
    }
    async fn audit_chain(&self, chain: &str) -> Result<Vec<Entry>> {
        audit::whole_chain(&self.reader, chain).await
    }
    async fn audit_head(&self, chain: &str) -> Result<Option<(i64, String)>> {
        audit::head(&self.reader, chain).await
    }
    async fn audit_chains(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT chain FROM audit_log ORDER BY chain")
                .fetch_all(&self.reader)
                .await?,
        )
    }
    async fn checkpoints(&self, chain: &str) -> Result<Vec<Checkpoint>> {
        audit::checkpoints(&self.reader, chain).await
    }
    async fn last_checkpoint_seq(&self, chain: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints WHERE chain = ?",
        )
        .bind(chain)
        .fetch_one(&self.reader)
        .await?)
    }
    async fn insert_checkpoint(&self, cp: Checkpoint) -> Result<()> {
        audit::insert_checkpoint(&self.writer, cp).await
    }

    async fn append_api_access(&self, entries: &[ApiAccess]) -> Result<()> {
        let mut by_tenant: std::collections::BTreeMap<TenantId, Vec<&ApiAccess>> =
            Default::default();
        for e in entries {
            by_tenant.entry(e.tenant_id).or_default().push(e);
        }
        let mut tx = self.begin().await?;
        for (tenant, list) in by_tenant {
            let first = list.iter().map(|e| e.at_ms).min().unwrap_or_default();
            let last = list.iter().map(|e| e.at_ms).max().unwrap_or_default();
            let json = crate::drafts::encode_access_segment(list.iter().copied())?;
            sqlx::query("INSERT INTO api_access_segments (tenant_id, first_ms, last_ms, entries) VALUES (?, ?, ?, ?)")
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
        loop {
            let segments: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, entries FROM api_access_segments WHERE tenant_id = ? AND id < ? ORDER BY id DESC LIMIT 20",
            )
            .bind(scope.tenant_id().to_string())
            .bind(cursor)
            .fetch_all(&self.reader)
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
                    return Ok((out, Some(cursor)));
                }
            }
            if fetched < 20 {
                return Ok((out, None));
            }
        }
    }

    async fn insert_csp_report(&self, at_ms: i64, report: String) -> Result<()> {
        sqlx::query("INSERT INTO csp_reports (at_ms, report) VALUES (?, ?)")
            .bind(at_ms)
            .bind(report)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
    async fn csp_report_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM csp_reports")
            .fetch_one(&self.reader)
            .await?)
    }
}

async fn applied_versions(pool: &SqlitePool) -> Result<Vec<i64>> {
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await?;
    if exists == 0 {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1")
            .fetch_all(pool)
            .await?,
    )
}
