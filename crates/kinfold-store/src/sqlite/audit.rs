//! The audit chain in SQLite. Appends run inside the caller's write transaction, so an admin
//! event commits with its change (L2) and the chain head read here is the one written after.

use kinfold_audit::{Checkpoint, Entry};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use crate::rows::EntryRow;
use crate::*;

pub(super) use super::sql::append_in;

pub(super) async fn page(pool: &SqlitePool, chain: &str, q: &AuditQuery) -> Result<Vec<Entry>> {
    let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM audit_log WHERE chain = ");
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
    let rows: Vec<EntryRow> = b.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(Entry::from).collect())
}

pub(super) async fn whole_chain(pool: &SqlitePool, chain: &str) -> Result<Vec<Entry>> {
    // Stored order (rowid), not seq order: a reordered table must show as reordered.
    let rows: Vec<EntryRow> =
        sqlx::query_as("SELECT * FROM audit_log WHERE chain = ? ORDER BY rowid")
            .bind(chain)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(Entry::from).collect())
}

pub(super) async fn head(pool: &SqlitePool, chain: &str) -> Result<Option<(i64, String)>> {
    Ok(
        sqlx::query_as("SELECT seq, hash FROM audit_log WHERE chain = ? ORDER BY seq DESC LIMIT 1")
            .bind(chain)
            .fetch_optional(pool)
            .await?,
    )
}

pub(super) async fn checkpoints(pool: &SqlitePool, chain: &str) -> Result<Vec<Checkpoint>> {
    let rows: Vec<(String, i64, String, i64, String, String)> = sqlx::query_as(
        "SELECT chain, seq, hash, at_ms, public_key, signature FROM audit_checkpoints WHERE chain = ? ORDER BY seq",
    )
    .bind(chain)
    .fetch_all(pool)
    .await?;
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

pub(super) async fn insert_checkpoint(pool: &SqlitePool, cp: Checkpoint) -> Result<()> {
    sqlx::query(
        "INSERT OR IGNORE INTO audit_checkpoints (chain, seq, hash, at_ms, public_key, signature) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&cp.chain)
    .bind(cp.seq)
    .bind(&cp.hash)
    .bind(cp.at_ms)
    .bind(&cp.public_key)
    .bind(&cp.signature)
    .execute(pool)
    .await?;
    Ok(())
}
