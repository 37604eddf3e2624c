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

/// A child's authorized pickups as one JSON array text, in name order, for the child row `c`.
/// SQLite's aggregate is `json_group_array`, which gives `'[]'` over no rows; it keeps the
/// order of the subquery it reads, whose `BINARY` order is byte order, as `COLLATE "C"`.
pub(crate) fn pickups_json() -> &'static str {
    "(SELECT json_group_array(json_object('id', p.id, 'name', p.name, 'relation', p.relation)) \
     FROM (SELECT id, name, relation FROM authorized_pickups \
     WHERE tenant_id = c.tenant_id AND child_id = c.id ORDER BY name) p)"
}
