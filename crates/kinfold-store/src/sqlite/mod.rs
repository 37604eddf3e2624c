//! The SQLite backend: one encrypted file (SQLCipher, AES-256), WAL mode.
//!
//! Writes go through a pool of one connection, so SQLite's single writer never sees
//! `SQLITE_BUSY` from our own process and every write transaction reads the latest chain head.
//! Reads use a separate pool.

mod dialect;
mod snapshot;
// The statements written once for both stores (see `sql/mod.rs`), compiled for this one.
#[allow(clippy::duplicate_mod)]
#[path = "../sql/mod.rs"]
mod sql;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use kinfold_crypto::keyring::MasterKey;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::*;
pub use snapshot::{fold_log, log_of, Copied, HeldSnapshot, SplitCopy};

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// How a connection opens (path, key, pragmas), for a snapshot's own connection.
    opts: SqliteConnectOptions,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "kinfold.db";

impl SqliteStore {
    /// The writer's `PRAGMA synchronous` (2 is FULL), for the test that an audit batch puts
    /// it back: every write but an audit batch must wait for the disk.
    #[doc(hidden)]
    pub async fn writer_synchronous(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&self.writer)
            .await?)
    }

    /// Opens (creating if needed) `DIR/kinfold.db`, keyed from the master key.
    pub async fn open(dir: &Path, key: &MasterKey, readers: u32) -> Result<Self> {
        init_crypto();
        let path = dir.join(DB_FILE);
        // `x'..'` is SQLCipher's raw-key form: the 256-bit key is used as is, without PBKDF2.
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(&path)
            .pragma("key", format!("\"x'{}'\"", key.sqlcipher_key_hex()))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A log that grew (writes while a backup held a snapshot) is cut back to this
            // after the next checkpoint that resets it, so later backups do not copy it whole.
            .pragma("journal_size_limit", "67108864")
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Byte order, under PostgreSQL's name for it, so shared statements sort alike.
            .collation("C", |a: &str, b: &str| a.cmp(b))
            .busy_timeout(Duration::from_secs(10));
        let writer = pool_options(1).connect_with(opts.clone()).await?;
        let reader = pool_options(readers.max(1))
            .connect_with(opts.clone().read_only(true))
            .await?;
        Ok(Self {
            writer,
            reader,
            opts,
        })
    }
}

/// A pool of connections to the local file: no ping before each use, and no reaper (idle
/// timeout, lifetime) either: such a connection does not go stale, and sqlx's reaper is one
/// task fewer to run or stop (one was seen spinning in a test's runtime shutdown, which then
/// never ended).
fn pool_options(max: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .test_before_acquire(false)
        .idle_timeout(None)
        .max_lifetime(None)
        .max_connections(max)
}

/// OpenSSL (SQLCipher's cipher) is initialized before the first connection, without its
/// exit-time cleanup (`OPENSSL_INIT_NO_ATEXIT`): at exit that cleanup frees OpenSSL's global
/// state while sqlx's connection threads may still be closing connections, a double free that
/// aborted a test binary once. The OS reclaims the memory instead.
fn init_crypto() {
    openssl_sys::init();
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<Vec<(i64, String)>> {
        let mut conn = self.writer.acquire().await?;
        let applied = sql::migrate(&mut conn).await?;
        drop(conn);
        if !applied.is_empty() {
            // A read connection keeps the schema it loaded: a statement prepared on it after a
            // migration that added columns gets the old `SELECT *` column count (and sqlx's
            // row then panics on the new one). Idle ones are closed; the pool opens fresh ones.
            // Migrations run before the store serves, so none is busy.
            while let Some(idle) = self.reader.try_acquire() {
                idle.close().await?;
            }
        }
        Ok(applied)
    }

    async fn ready(&self) -> Result<bool> {
        let mut conn = self.reader.acquire().await?;
        let applied = sql::applied_versions(&mut conn).await?;
        Ok(crate::migrations::is_current(&applied))
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    async fn exclusive(&self, _job: &str) -> Result<Option<JobLease>> {
        Ok(Some(JobLease(None)))
    }
}
