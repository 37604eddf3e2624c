//! What SQLite does differently, under the names the shared bodies (`crate::sql`) use.
//! PostgreSQL's twin is `postgres/dialect.rs`.

use std::borrow::Cow;

use kinfold_crypto::token::TokenHash;
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, Transaction};

use super::SqliteStore;
use crate::wall::Wall;
use crate::{Result, TenantScope, UserId};

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

/// The single writer already runs one write transaction at a time: no row lock to take.
pub(crate) async fn lock_user(_tx: &mut Tx, _scope: &TenantScope, _user: UserId) -> Result<()> {
    Ok(())
}

/// SQLite has no row locks (`FOR UPDATE` is a syntax error); the single writer holds the whole
/// database until commit, so `select` runs as it is.
pub(crate) fn for_update(select: &'static str) -> Cow<'static, str> {
    Cow::Borrowed(select)
}

/// No wall to move: the caller's statement finds the token's row by `token_hash` in any
/// tenant, or nothing, with no statement spent here (a session lookup stays one query).
pub(crate) async fn enter_token_tenant(
    _conn: &mut SqliteConnection,
    _find: &'static str,
    _token: &TokenHash,
) -> Result<bool> {
    Ok(true)
}
