//! What SQLite does differently, under the names the shared bodies (`crate::sql`) use.
//! PostgreSQL's twin is `postgres/dialect.rs`.

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, Transaction};

use super::SqliteStore;
use crate::wall::Wall;
use crate::Result;

pub(crate) type Backend = SqliteStore;
pub(crate) type Db = Sqlite;
pub(crate) type Tx = Transaction<'static, Sqlite>;
/// A read runs on a connection of the read-only pool, outside any transaction.
pub(crate) type Read = PoolConnection<Sqlite>;

/// How the unified migrations (`crate::migrations`) are rendered for this store.
pub(crate) const DIALECT: crate::migrations::Dialect = crate::migrations::Dialect::Sqlite;
/// SQLite's migrations from before the unified set, kept byte for byte: databases created by
/// earlier releases recorded their checksums. They only bring such a database to the baseline.
pub(crate) static LEGACY: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/legacy/sqlite");

impl SqliteStore {
    /// A write transaction. There is one writer, so no other write runs until it ends; each
    /// statement's `WHERE tenant_id` is the wall.
    pub(crate) async fn tx(&self, _wall: Wall<'_>) -> Result<Tx> {
        Ok(self.writer.begin().await?)
    }

    pub(crate) async fn read(&self, _wall: Wall<'_>) -> Result<Read> {
        Ok(self.reader.acquire().await?)
    }
}

/// Ends a read: the connection goes back to the pool.
pub(crate) async fn done(_read: Read) -> Result<()> {
    Ok(())
}

/// The single writer already holds every chain: nothing to do before reading a head.
pub(crate) async fn enter_chain(_tx: &mut Tx, _chain: &str) -> Result<()> {
    Ok(())
}
