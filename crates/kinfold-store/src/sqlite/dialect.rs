//! What SQLite does differently, under the names the shared bodies (`crate::sql`) use.
//! PostgreSQL's twin is `postgres/dialect.rs`.

use std::borrow::Cow;

use kinfold_crypto::token::TokenHash;
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::SqliteStore;
use crate::wall::Wall;
use crate::{Result, TenantScope, UserId};

pub(crate) type Backend = SqliteStore;
pub(crate) type Db = Sqlite;
pub(crate) type Tx = Transaction<'static, Sqlite>;
/// A connection, in or out of a transaction (a `Tx` derefs to one).
pub(crate) type Conn = SqliteConnection;
/// A read runs on a connection of the read-only pool, outside any transaction.
pub(crate) type Read = PoolConnection<Sqlite>;

/// How the unified migrations (`crate::migrations`) are rendered for this store.
pub(crate) const DIALECT: crate::migrations::Dialect = crate::migrations::Dialect::Sqlite;
/// SQLite's migrations from before the unified set, kept byte for byte: databases created by
/// earlier releases recorded their checksums. They only bring such a database to the baseline.
pub(crate) static LEGACY: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/legacy/sqlite");

impl SqliteStore {
    /// A write transaction. There is one writer, so no other write runs until it ends; each
    /// statement's `WHERE tenant_id` is the wall. `BEGIN IMMEDIATE`: the write lock is taken
    /// at the start, waiting (up to the busy timeout) for a command run beside the server, and
    /// never refused half-way when a transaction that read first would need it after another
    /// process wrote.
    pub(crate) async fn tx(&self, _wall: Wall<'_>) -> Result<Tx> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub(crate) async fn read(&self, _wall: Wall<'_>) -> Result<Read> {
        Ok(self.reader.acquire().await?)
    }

    /// Commits a write transaction; a failure leaves its outcome unknown.
    pub(crate) async fn commit(&self, tx: Tx) -> Result<()> {
        tx.commit().await.map_err(crate::StoreError::CommitUnknown)
    }

    /// Where a statement on a table behind no wall (throttle counters, CSP reports) runs on
    /// its own, without a transaction: the writer, whose reads see every committed write.
    pub(crate) fn unwalled(&self) -> &SqlitePool {
        &self.writer
    }
}

/// Ends a read: the connection goes back to the pool.
pub(crate) async fn done(_read: Read) -> Result<()> {
    Ok(())
}

/// The single writer already holds every chain: nothing to do before reading a head.
pub(crate) async fn enter_chain(_tx: &mut Conn, _chain: &str) -> Result<()> {
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

/// As [`for_update`]: the single writer already holds everything until commit.
pub(crate) fn for_share(select: &'static str) -> Cow<'static, str> {
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

/// A child's authorized pickups as one JSON array text, in name order, for the child row `c`.
/// SQLite's aggregate is `json_group_array`, which gives `'[]'` over no rows; it keeps the
/// order of the subquery it reads, whose `BINARY` order is byte order, as `COLLATE "C"`.
pub(crate) fn pickups_json() -> &'static str {
    "(SELECT json_group_array(json_object('id', p.id, 'name', p.name, 'relation', p.relation, \
     'photo_id', p.photo_id, 'version', p.version)) \
     FROM (SELECT id, name, relation, photo_id, version FROM authorized_pickups \
     WHERE tenant_id = c.tenant_id AND child_id = c.id ORDER BY name) p)"
}

/// Moves an open transaction behind another wall: the statements' `WHERE tenant_id` already
/// is the wall here, so nothing to do.
pub(crate) async fn enter_wall(_tx: &mut Conn, _wall: Wall<'_>) -> Result<()> {
    Ok(())
}

/// The column that orders a chain as its entries were stored: SQLite's `rowid`.
pub(crate) fn insertion_order() -> &'static str {
    "rowid"
}

/// Leases due deliveries (the outbox's claim): `$1` lease until, `$2` now, `$3` and `$4` the
/// tenant, `$5` due by, `$6` how many, `$7` the lease token. The single writer claims alone, so
/// a plain subquery picks the rows; PostgreSQL's twin must skip rows another node holds.
pub(crate) fn lease_due() -> &'static str {
    "UPDATE email_deliveries SET state = 'sending', lease_until_ms = $1, updated_ms = $2, \
     handed_ms = NULL, lease_token = $7 \
     WHERE tenant_id = $3 AND id IN (SELECT id FROM email_deliveries \
         WHERE tenant_id = $4 AND state IN ('queued', 'deferred') AND next_ms <= $5 \
         ORDER BY next_ms LIMIT $6) \
     RETURNING id, message_id, recipient_id, recipient_name, address, header_id, attempts"
}

/// Before a data-key version is destroyed: the single writer already keeps every other write
/// out until this transaction ends, so nothing to do.
pub(crate) async fn hold_writers(_tx: &mut Tx, _scope: &TenantScope) -> Result<()> {
    Ok(())
}

/// Whether the migrations table exists (a database no migration has run on has none), as
/// true or false.
pub(crate) fn migrations_recorded() -> &'static str {
    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')"
}

/// A token hash (`token_hash`, a blob) spelled as lower-case hex in SQL.
pub(crate) fn token_hex() -> &'static str {
    "lower(hex(token_hash))"
}

impl SqliteStore {
    /// The writer's connection, for an audit batch.
    pub(crate) async fn batch_conn(&self) -> Result<PoolConnection<Sqlite>> {
        Ok(self.writer.acquire().await?)
    }
}

/// Opens an audit batch's transaction with the writer switched to `synchronous = NORMAL`, in
/// one round trip: in WAL mode its commit then reaches the operating system, not the disk, so
/// a crash of Kinfold loses nothing and the request's answer does not wait for an fsync; a
/// power loss may lose the batches since the last synced commit or checkpoint. [`commit_batch`]
/// and [`abort_batch`] put it back to `FULL`, which every other write keeps. On a failure the
/// connection is closed rather than returned to the pool relaxed.
pub(crate) async fn begin_batch(conn: &mut PoolConnection<Sqlite>) -> Result<Option<String>> {
    super::sql::batch_step(conn, BEGIN_BATCH)
        .await
        .map(|()| None)
}

/// A SQLite commit's outcome is never unknown (its failure is its answer): nothing to ask.
pub(crate) async fn still_running(_conn: &mut Read, _xact: &str) -> Result<()> {
    Ok(())
}

impl SqliteStore {
    /// Commits an audit batch and puts the writer back to `synchronous = FULL`, in one round
    /// trip.
    pub(crate) async fn commit_batch(&self, conn: &mut PoolConnection<Sqlite>) -> Result<()> {
        super::sql::batch_step(conn, COMMIT_BATCH).await
    }
}

const BEGIN_BATCH: &str = "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE";
const COMMIT_BATCH: &str = "COMMIT; PRAGMA synchronous = FULL";

/// An audit batch goes as two scripts (several statements, one trip each to the connection's
/// thread): these begin and commit it. SQLite has no walls or chain locks to enter between
/// its statements.
pub(crate) const BATCH_SCRIPT: Option<(&str, &str)> = Some((BEGIN_BATCH, COMMIT_BATCH));

/// Rolls an audit batch back and puts the writer back to `synchronous = FULL`.
pub(crate) async fn abort_batch(conn: &mut PoolConnection<Sqlite>) -> Result<()> {
    super::sql::batch_step(conn, "ROLLBACK; PRAGMA synchronous = FULL").await
}
