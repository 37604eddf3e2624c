//! What PostgreSQL does differently, under the names the shared bodies (`crate::sql`) use.
//! SQLite's twin is `sqlite/dialect.rs`.

use sqlx::{Postgres, Transaction};

use super::wall;
use super::PgStore;
use crate::wall::Wall;
use crate::Result;

pub(crate) type Backend = PgStore;
pub(crate) type Db = Postgres;
pub(crate) type Tx = Transaction<'static, Postgres>;
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
