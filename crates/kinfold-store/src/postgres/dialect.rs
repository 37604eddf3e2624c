//! What PostgreSQL does differently, under the names the shared bodies (`crate::sql`) use.
//! SQLite's twin is `sqlite/dialect.rs`.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use kinfold_crypto::token::TokenHash;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::wall;
use super::PgStore;
use crate::wall::Wall;
use crate::{Result, StoreError, TenantId, TenantScope, UserId};

pub(crate) type Backend = PgStore;
pub(crate) type Db = Postgres;
pub(crate) type Tx = Transaction<'static, Postgres>;
/// A connection, in or out of a transaction (a `Tx` derefs to one).
pub(crate) type Conn = PgConnection;
/// A read is a transaction too: the wall is stated with `set_config(.., true)`, which lasts
/// only as long as the transaction, so a pooled connection never carries it further.
pub(crate) type Read = Transaction<'static, Postgres>;

/// How the unified migrations (`crate::migrations`) are rendered for this store.
pub(crate) const DIALECT: crate::migrations::Dialect = crate::migrations::Dialect::Postgres;
/// PostgreSQL's migrations from before the unified set, kept byte for byte: databases created
/// by earlier releases recorded their checksums. They only bring such a database to the
/// baseline.
pub(crate) static LEGACY: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/legacy/postgres");

impl PgStore {
    /// A transaction behind `wall` (row-level security, A5).
    pub(crate) async fn tx(&self, wall: Wall<'_>) -> Result<Tx> {
        wall::begin(&self.pool, wall).await
    }

    pub(crate) async fn read(&self, wall: Wall<'_>) -> Result<Read> {
        wall::begin(&self.pool, wall).await
    }

    /// Commits a write transaction within the node's statement timeout. PostgreSQL does not
    /// bound a COMMIT's wait for its synchronous standby (its `statement_timeout` ends before
    /// the commit), so with the standby out of reach a commit would wait without end; here it
    /// is given up on after the bound, its outcome unknown (`503 outcome_unknown`: it lands
    /// if the standby confirms it later), never answered as done. Its connection goes back to
    /// the pool once the server has answered it.
    pub(crate) async fn commit(&self, tx: Tx) -> Result<()> {
        bounded(self.commit_bound, tx.commit())
            .await
            .map_err(StoreError::CommitUnknown)
    }

    /// Where a statement on a table behind no wall (throttle counters, CSP reports) runs on
    /// its own, without a transaction: a pool of its own, with no wall to state, whose commits
    /// do not wait for a synchronous standby (`setup::local_commit`).
    pub(crate) fn unwalled(&self) -> &PgPool {
        &self.unwalled
    }
}

/// Ends a read by committing its transaction, in the same round trip as a rollback.
pub(crate) async fn done(read: Read) -> Result<()> {
    read.commit().await?;
    Ok(())
}

/// Runs `commit`, giving up after `bound` (none: no bound) with an error that says why.
pub(super) async fn bounded(
    bound: Option<Duration>,
    commit: impl Future<Output = std::result::Result<(), sqlx::Error>>,
) -> std::result::Result<(), sqlx::Error> {
    let Some(bound) = bound else {
        return commit.await;
    };
    tokio::time::timeout(bound, commit)
        .await
        .unwrap_or_else(|_| {
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the commit was not answered within {bound:?} (the statement timeout): \
                 is the synchronous standby out of reach?"
                ),
            )))
        })
}

/// Before a chain's head is read: the transaction moves behind the chain's wall and takes the
/// chain's advisory lock until it ends, so two nodes appending at once build one linear chain.
pub(crate) async fn enter_chain(tx: &mut Conn, chain: &str) -> Result<()> {
    wall::set(tx, Wall::of_chain(chain)).await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('kinfold audit ' || $1, 0))")
        .bind(chain)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Takes the user's row lock (`FOR NO KEY UPDATE`) until the transaction ends, so writers that
/// count or replace a user's rows (sessions under the cap, the one live link of a kind) run
/// one at a time across nodes. NO KEY UPDATE leaves the foreign-key checks of other inserts
/// unblocked. An unknown user matches no row, and the caller's INSERT fails as on SQLite.
pub(crate) async fn lock_user(tx: &mut Tx, scope: &TenantScope, user: UserId) -> Result<()> {
    sqlx::query("SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE")
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// `select` with ` FOR UPDATE`: the rows it returns stay locked until commit, so no other
/// node ends or touches them between the read and the caller's UPDATE.
pub(crate) fn for_update(select: &'static str) -> Cow<'static, str> {
    Cow::Owned(format!("{select} FOR UPDATE"))
}

/// `select` with ` FOR SHARE`: the rows it returns cannot change until commit, while other
/// readers that share them go on (a center's session policy, read by each sign-in, is
/// changed only after they commit, and they wait for a change to commit).
pub(crate) fn for_share(select: &'static str) -> Cow<'static, str> {
    Cow::Owned(format!("{select} FOR SHARE"))
}

/// Behind the token wall only the row the token opens shows. This finds that row's tenant
/// (`find` selects its `tenant_id` by `token_hash = $1`) and moves the transaction behind the
/// tenant's wall, where the tenant's other rows show and writes are allowed. False when the
/// token opens nothing.
pub(crate) async fn enter_token_tenant(
    conn: &mut PgConnection,
    find: &'static str,
    token: &TokenHash,
) -> Result<bool> {
    let tenant: Option<String> = sqlx::query_scalar(find)
        .bind(token.as_bytes())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(tenant) = tenant else {
        return Ok(false);
    };
    let id = TenantId::parse(&tenant).ok_or(StoreError::Corrupt("tenant id"))?;
    wall::set(conn, Wall::TenantId(id)).await?;
    Ok(true)
}

/// A child's authorized pickups as one JSON array text, in name order, for the child row `c`.
/// PostgreSQL's aggregate is `json_agg`, which gives NULL over no rows, hence the `COALESCE`
/// to SQLite's `'[]'`.
pub(crate) fn pickups_json() -> &'static str {
    "(SELECT COALESCE(json_agg(json_build_object('id', p.id, 'name', p.name, \
     'relation', p.relation, 'photo_id', p.photo_id, 'version', p.version) \
     ORDER BY p.name COLLATE \"C\"), \
     '[]'::json)::text FROM authorized_pickups p WHERE p.tenant_id = c.tenant_id AND p.child_id = c.id)"
}

/// Moves an open transaction behind another wall, for work that writes several tenants' rows
/// in one transaction (the API access log).
pub(crate) async fn enter_wall(tx: &mut Conn, wall: Wall<'_>) -> Result<()> {
    wall::set(tx, wall).await
}

/// The column that orders a chain as its entries were stored: `pos`, an identity column,
/// since PostgreSQL has no `rowid`.
pub(crate) fn insertion_order() -> &'static str {
    "pos"
}

/// Leases due deliveries (the outbox's claim): `$1` lease until, `$2` now, `$3` and `$4` the
/// tenant, `$5` due by, `$6` how many, `$7` the lease token. Nodes claim at once, so the rows
/// are picked `FOR UPDATE SKIP LOCKED`: each node leases rows no other is leasing, without
/// waiting. The pick is a CTE, evaluated once: an `IN (SELECT ... LIMIT)` may be re-run by the
/// planner and lease more than `$6` rows.
pub(crate) fn lease_due() -> &'static str {
    "WITH picked AS (SELECT id FROM email_deliveries \
         WHERE tenant_id = $4 AND state IN ('queued', 'deferred') AND next_ms <= $5 \
         ORDER BY next_ms LIMIT $6 FOR UPDATE SKIP LOCKED) \
     UPDATE email_deliveries d SET state = 'sending', lease_until_ms = $1, updated_ms = $2, \
         handed_ms = NULL, lease_token = $7 \
     FROM picked WHERE d.tenant_id = $3 AND d.id = picked.id \
     RETURNING d.id, d.message_id, d.recipient_id, d.recipient_name, d.address, d.header_id, \
         d.attempts"
}

/// Before a data-key version is destroyed: writers of sealed columns wait until this
/// transaction ends, and those in flight finish first, so a count after this sees every value
/// that could name the version. Enrollment links are locked row by row (the server's role may
/// only update two of their columns, which a table lock needs whole): a link created in this
/// very instant and offered a secret under the old version fails to confirm until it is opened
/// again, which offers a new secret.
pub(crate) async fn hold_writers(tx: &mut Tx, scope: &TenantScope) -> Result<()> {
    sqlx::query("LOCK TABLE children, users, email_messages IN SHARE MODE")
        .execute(&mut **tx)
        .await?;
    sqlx::query("SELECT 1 FROM enrollments WHERE tenant_id = $1 FOR SHARE")
        .bind(scope.tenant_id().to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Whether the migrations table exists in Kinfold's schema (a database no migration has run
/// on has none).
pub(crate) fn migrations_recorded() -> &'static str {
    "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'kinfold' AND tablename = '_sqlx_migrations')"
}

/// A token hash (`token_hash`, a bytea) spelled as lower-case hex in SQL.
pub(crate) fn token_hex() -> &'static str {
    "encode(token_hash, 'hex')"
}

/// The connection an audit batch is written on: any of the pool's.
impl PgStore {
    pub(crate) async fn batch_conn(&self) -> Result<sqlx::pool::PoolConnection<Postgres>> {
        self.pool.acquire().await.map_err(StoreError::connecting)
    }
}

/// Opens an audit batch's transaction in one round trip. It commits as every other write
/// does, under the cluster's `synchronous_commit`: flushed, and with a synchronous standby on
/// the standby too, before the requests waiting for it are answered, so a read answered `200`
/// is in the chain after a crash of the database server or a failover to the standby
/// (`cli::failover`; an unflushed commit, `synchronous_commit = off`, lost the last batches
/// there). The group commit is what keeps it cheap: one flush serves every request in the
/// batch. On a failure the connection is closed, not reused. Returns what names the
/// transaction while it runs (`ID:PID@START`: its ID, its backend's process, the start of the
/// server), by which [`still_running`] tells later whether a commit whose answer was lost may
/// still land.
pub(crate) async fn begin_batch(
    conn: &mut sqlx::pool::PoolConnection<Postgres>,
) -> Result<Option<String>> {
    use sqlx::Row;
    const BEGIN: &str = "BEGIN; SELECT pg_current_xact_id()::text || ':' || pg_backend_pid() \
                         || '@' || (extract(epoch FROM pg_postmaster_start_time()) \
                         * 1000000)::bigint::text";
    let begun = sqlx::Executor::fetch_all(&mut **conn, BEGIN).await;
    match begun {
        // Without its transaction ID a lost commit could not be settled, and the batch might
        // be written twice: no batch begins without one.
        Ok(rows) => match rows.last().and_then(|r| r.try_get::<String, _>(0).ok()) {
            Some(xact) => Ok(Some(xact)),
            None => {
                conn.close_on_drop();
                Err(StoreError::Corrupt("an audit batch's transaction ID"))
            }
        },
        Err(e) => {
            conn.close_on_drop();
            Err(e.into())
        }
    }
}

/// Whether transaction `xact` (`ID:PID@START`, from [`begin_batch`]) may still commit: an
/// error while its backend still holds it on the server that gave it (ask again once it
/// ends). Its ID alone says nothing once it has ended: a promoted standby, or the server
/// recovering from a crash, may give the same ID to another transaction. A backend left idle
/// in the transaction (its `COMMIT` lost on the way) is ended by the server after
/// `idle_in_transaction_session_timeout` (see `setup.rs`).
pub(crate) async fn still_running(conn: &mut Read, xact: &str) -> Result<()> {
    let Some((id, pid, started)) = xact
        .split_once('@')
        .and_then(|(ran, started)| ran.split_once(':').map(|(id, pid)| (id, pid, started)))
    else {
        return Ok(());
    };
    let Ok(pid) = pid.parse::<i32>() else {
        return Ok(());
    };
    let running: bool = sqlx::query_scalar(
        "SELECT (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint::text = $3 \
         AND EXISTS (SELECT 1 FROM pg_stat_activity \
                     WHERE pid = $2 AND backend_xid = xid($1::xid8))",
    )
    .bind(id)
    .bind(pid)
    .bind(started)
    .fetch_one(&mut **conn)
    .await?;
    if running {
        return Err(StoreError::WrongState(
            "the audit batch's transaction is still in progress",
        ));
    }
    Ok(())
}

/// No scripts: each of an audit batch's statements needs its wall, and each chain its lock
/// before its head is read, so a batch goes step by step.
pub(crate) const BATCH_SCRIPT: Option<(&str, &str)> = None;

impl PgStore {
    /// Commits an audit batch within the node's statement timeout, as [`PgStore::commit`]
    /// does. A batch given up on has its connection closed, and its outcome is settled by its
    /// mark (`audit_batch::landed`).
    pub(crate) async fn commit_batch(
        &self,
        conn: &mut sqlx::pool::PoolConnection<Postgres>,
    ) -> Result<()> {
        let sent = bounded(self.commit_bound, async {
            sqlx::Executor::execute(&mut **conn, "COMMIT")
                .await
                .map(drop)
        })
        .await;
        if let Err(e) = sent {
            conn.close_on_drop();
            return Err(e.into());
        }
        Ok(())
    }
}

pub(crate) async fn abort_batch(conn: &mut sqlx::pool::PoolConnection<Postgres>) -> Result<()> {
    super::sql::batch_step(conn, "ROLLBACK").await
}
