//! The store's statements and bodies, written once and compiled for each backend.
//!
//! Each backend includes this module (`#[path = "../sql/mod.rs"] mod sql;`) beside its
//! `dialect` module, which gives the few things that differ, under the same names on both:
//!
//! - `Db`, `Tx` and `Read`: the sqlx database, a write transaction, and a read handle (a
//!   pooled connection on SQLite; a transaction on PostgreSQL, which needs one to state the
//!   wall);
//! - `Backend::tx(wall)` and `Backend::read(wall)`: how a transaction or a read begins behind
//!   its [`Wall`](crate::wall::Wall) (PostgreSQL's `set_config`; SQLite's single writer);
//! - `done(read)`: how a read ends;
//! - `Backend::commit(tx)`: how a write transaction ends. A failure leaves the outcome unknown
//!   (the COMMIT may have reached the server before the connection went), so it is never
//!   answered "unavailable, send it again" ([`crate::StoreError::CommitUnknown`]). On
//!   PostgreSQL it is bounded by the node's statement timeout, which the server does not
//!   apply to a commit's wait for a synchronous standby;
//! - `enter_chain(tx, chain)`: what an audit append does before it reads a chain's head
//!   (PostgreSQL's advisory lock and chain wall; nothing on SQLite, whose writer is alone);
//! - `lock_user(tx, scope, user)`: the user's row lock, so a user's sessions and links change
//!   one writer at a time across nodes (PostgreSQL's `FOR NO KEY UPDATE`; nothing on SQLite);
//! - `for_update(select)`: a SELECT whose rows stay locked until commit (PostgreSQL's
//!   `FOR UPDATE`, which SQLite does not parse);
//! - `for_share(select)`: a SELECT whose rows no one changes until commit, shared with other
//!   such readers (PostgreSQL's `FOR SHARE`; as `for_update` on SQLite);
//! - `enter_token_tenant(conn, find, token)`: behind a token's wall, moving to the wall of the
//!   tenant the token names (PostgreSQL's second `set_config`; nothing on SQLite, so a session
//!   lookup stays one query).
//! - `pickups_json()`: a child's pickups as one JSON array (the two databases name their JSON
//!   aggregates differently).
//! - `Backend::unwalled()`: where a statement on a table behind no wall runs on its own,
//!   outside any transaction (SQLite's writer; on PostgreSQL a small pool of its own whose
//!   commits are local, so a synchronous standby out of reach cannot hold them);
//! - `enter_wall(tx, wall)`: moves an open transaction behind another wall (PostgreSQL's
//!   `set_config`; nothing on SQLite);
//! - `insertion_order()`: the column that orders a table as its rows were stored (`rowid` on
//!   SQLite; an identity column `pos` on PostgreSQL);
//! - `lease_due()`: the outbox's claim of due deliveries (PostgreSQL's `FOR UPDATE SKIP
//!   LOCKED`, for nodes claiming at once; a plain subquery under SQLite's single writer);
//! - `hold_writers(tx, scope)`: keeps writers of sealed columns out before a data-key version
//!   is destroyed (PostgreSQL's share locks; nothing under SQLite's single writer);
//! - `token_hex()`: a token hash spelled as lower-case hex in SQL.
//! - `Backend::batch_conn()`, `begin_batch`, `Backend::commit_batch`, `abort_batch`: an
//!   audit group commit's connection and transaction (SQLite's writer at `synchronous = NORMAL` for that
//!   transaction, which survives a crash of the process; on PostgreSQL the cluster's
//!   `synchronous_commit`, which a failover to a synchronous standby survives), one round
//!   trip to begin and one to commit; `BATCH_SCRIPT`: on SQLite, the statements
//!   that begin and commit it, for a batch sent as two scripts (`audit_batch.rs`);
//!   `still_running`: whether a batch whose commit answer was lost may still land (PostgreSQL:
//!   its backend still holds its transaction; a SQLite commit's outcome is never unknown).
//! - `LEGACY` and `DIALECT`: the store's migration set from before the unified one, and how
//!   the unified one is rendered for it (`migrate.rs`).
//!
//! Statements use `$N` parameters, which sqlx binds by number on SQLite as on PostgreSQL, and
//! `COLLATE "C"` for byte order, which the SQLite store registers as a collation.
//! Everything here is plain Rust: the body is type-checked, formatted and linted for each
//! backend, and no macro stands between an error and its line.

mod attempts;
mod attendance;
mod audit;
mod audit_append;
mod audit_batch;
mod auth;
mod guardians;
mod mail;
mod migrate;
mod outbox;
mod people;
mod records;
mod replays;
mod sealed;
mod sessions;
mod staffing;
mod tenants;

pub(crate) use audit_append::append_in;

/// After a compare-and-write (`UPDATE … AND version = $expected`) that matched no row: the row
/// is still there (`there`, with `keys` bound in order, finds it), so it has moved on from the
/// version the change was made from (`WrongState`, [`crate::STALE_RECORD`]); or it is gone
/// (`NotFound(what)`).
pub(crate) async fn stale_or_gone(
    conn: &mut Conn,
    there: &str,
    keys: &[String],
    what: &'static str,
) -> crate::Result<crate::StoreError> {
    let mut q = sqlx::query(there);
    for k in keys {
        q = q.bind(k.clone());
    }
    Ok(match q.fetch_optional(&mut *conn).await? {
        Some(_) => crate::StoreError::WrongState(crate::STALE_RECORD),
        None => crate::StoreError::NotFound(what),
    })
}
/// Runs one step of an audit batch (its begin, commit or rollback script) on the batch's
/// connection; on a failure the connection is closed rather than returned to the pool in an
/// unknown state (a transaction left open, or SQLite's writer left at `synchronous = NORMAL`).
pub(crate) async fn batch_step(
    conn: &mut sqlx::pool::PoolConnection<Db>,
    sql: &'static str,
) -> crate::Result<()> {
    if let Err(e) = sqlx::Executor::execute(&mut **conn, sql).await {
        conn.close_on_drop();
        return Err(e.into());
    }
    Ok(())
}
pub(crate) use migrate::{applied_versions, migrate};

/// What a backup taken on `conn` holds ([`crate::BackupInfo`]): on SQLite in the read
/// transaction that copies the file, so both are the same point in time.
pub(crate) async fn backup_info(conn: &mut Conn) -> Result<crate::BackupInfo, sqlx::Error> {
    let tenants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
        .fetch_one(&mut *conn)
        .await?;
    let schema_version: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await?;
    Ok(crate::BackupInfo {
        tenants: u64::try_from(tenants).unwrap_or(0),
        schema_version: schema_version.unwrap_or(0),
    })
}
pub(crate) use outbox::insert_message;

#[allow(unused_imports)]
use super::dialect::{
    abort_batch, begin_batch, done, enter_chain, enter_token_tenant, enter_wall, for_share,
    for_update, hold_writers, insertion_order, lease_due, lock_user, migrations_recorded,
    pickups_json, still_running, token_hex, Backend, Conn, Db, Read, Tx, BATCH_SCRIPT, DIALECT,
    LEGACY,
};
