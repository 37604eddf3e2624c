//! What PostgreSQL does differently, under the names the shared bodies (`crate::sql`) use.
//! SQLite's twin is `sqlite/dialect.rs`.

use std::borrow::Cow;

use kinfold_crypto::token::TokenHash;
use sqlx::{PgConnection, Postgres, Transaction};

use super::wall;
use super::PgStore;
use crate::wall::Wall;
use crate::{Result, StoreError, TenantId, TenantScope, UserId};

pub(crate) type Backend = PgStore;
pub(crate) type Db = Postgres;
pub(crate) type Tx = Transaction<'static, Postgres>;
/// A read is a transaction too: the wall is stated with `set_config(.., true)`, which lasts
/// only as long as the transaction, so a pooled connection never carries it further.
pub(crate) type Read = Transaction<'static, Postgres>;

impl PgStore {
    /// A transaction behind `wall` (row-level security, A5).
    pub(crate) async fn tx(&self, wall: Wall<'_>) -> Result<Tx> {
        wall::begin(&self.pool, wall).await
    }

    pub(crate) async fn read(&self, wall: Wall<'_>) -> Result<Read> {
        wall::begin(&self.pool, wall).await
    }
}

/// Ends a read by committing its transaction, in the same round trip as a rollback.
pub(crate) async fn done(read: Read) -> Result<()> {
    read.commit().await?;
    Ok(())
}

/// Before a chain's head is read: the transaction moves behind the chain's wall and takes the
/// chain's advisory lock until it ends, so two nodes appending at once build one linear chain.
pub(crate) async fn enter_chain(tx: &mut Tx, chain: &str) -> Result<()> {
    wall::set(tx, Wall::of_chain(chain)).await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('kinfold audit ' || $1, 0))")
        .bind(chain)
        .execute(&mut **tx)
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
