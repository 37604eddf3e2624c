//! The audit chain in PostgreSQL. Appends run inside the caller's transaction, so an admin
//! event commits with its change (L2). Each chain is locked for the rest of the transaction
//! (`pg_advisory_xact_lock`) before its head is read, so two nodes appending at once still
//! build one linear chain.

use kinfold_audit::{Checkpoint, Entry};
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::wall::{self, Wall};
use crate::rows::EntryRow;
use crate::*;

pub(super) use super::sql::append_in;

pub(super) async fn page(pool: &PgPool, chain: &str, q: &AuditQuery) -> Result<Vec<Entry>> {
    let mut tx = wall::begin(pool, Wall::of_chain(chain)).await?;
    let mut b: QueryBuilder<Postgres> = QueryBuilder::new("SELECT * FROM audit_log WHERE chain = ");
    b.push_bind(chain);
    if let Some(c) = &q.category {
        b.push(" AND category = ").push_bind(c);
    }
    if let Some(a) = &q.actor {
        b.push(" AND actor = ").push_bind(a);
    }
    if let Some(s) = q.since_ms {
        b.push(" AND at_ms >= ").push_bind(s);
    }
    if let Some(u) = q.until_ms {
        b.push(" AND at_ms < ").push_bind(u);
    }
    if let Some(seq) = q.before_seq {
        b.push(" AND seq < ").push_bind(seq);
    }
    b.push(" ORDER BY seq DESC LIMIT ")
        .push_bind(i64::from(q.limit));
    let rows: Vec<EntryRow> = b.build_query_as().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(rows.into_iter().map(Entry::from).collect())
}

pub(super) async fn whole_chain(pool: &PgPool, chain: &str) -> Result<Vec<Entry>> {
    let mut tx = wall::begin(pool, Wall::of_chain(chain)).await?;
    // Insertion order, not seq order: a reordered table must show as reordered.
    let rows: Vec<EntryRow> =
        sqlx::query_as("SELECT * FROM audit_log WHERE chain = $1 ORDER BY pos")
            .bind(chain)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(rows.into_iter().map(Entry::from).collect())
}

pub(super) async fn head(pool: &PgPool, chain: &str) -> Result<Option<(i64, String)>> {
    let mut tx = wall::begin(pool, Wall::of_chain(chain)).await?;
    let head = sqlx::query_as(
        "SELECT seq, hash FROM audit_log WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(chain)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(head)
}

pub(super) async fn chains(pool: &PgPool) -> Result<Vec<String>> {
    let mut tx = wall::begin(pool, Wall::Platform).await?;
    let chains = sqlx::query_scalar("SELECT DISTINCT chain FROM audit_log ORDER BY chain")
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(chains)
}

pub(super) async fn checkpoints(pool: &PgPool, chain: &str) -> Result<Vec<Checkpoint>> {
    let mut tx = wall::begin(pool, Wall::of_chain(chain)).await?;
    let rows: Vec<(String, i64, String, i64, String, String)> = sqlx::query_as(
        "SELECT chain, seq, hash, at_ms, public_key, signature FROM audit_checkpoints WHERE chain = $1 ORDER BY seq",
    )
    .bind(chain)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(
            |(chain, seq, hash, at_ms, public_key, signature)| Checkpoint {
                chain,
                seq,
                hash,
                at_ms,
                public_key,
                signature,
            },
        )
        .collect())
}

pub(super) async fn last_checkpoint_seq(pool: &PgPool, chain: &str) -> Result<i64> {
    let mut tx = wall::begin(pool, Wall::of_chain(chain)).await?;
    let seq = sqlx::query_scalar(
        "SELECT COALESCE(MAX(seq), 0)::BIGINT FROM audit_checkpoints WHERE chain = $1",
    )
    .bind(chain)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(seq)
}

pub(super) async fn insert_checkpoint(pool: &PgPool, cp: Checkpoint) -> Result<()> {
    let mut tx = wall::begin(pool, Wall::of_chain(&cp.chain)).await?;
    sqlx::query(
        "INSERT INTO audit_checkpoints (chain, seq, hash, at_ms, public_key, signature) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(&cp.chain)
    .bind(cp.seq)
    .bind(&cp.hash)
    .bind(cp.at_ms)
    .bind(&cp.public_key)
    .bind(&cp.signature)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
