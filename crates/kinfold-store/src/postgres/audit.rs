//! The audit chain in PostgreSQL. Appends run inside the caller's transaction, so an admin
//! event commits with its change (L2). Each chain is locked for the rest of the transaction
//! (`pg_advisory_xact_lock`) before its head is read, so two nodes appending at once still
//! build one linear chain.

use std::collections::HashMap;

use kinfold_audit::chain::GENESIS;
use kinfold_audit::{Checkpoint, Draft, Entry};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Transaction};

use super::wall::{self, Wall};
use crate::rows::EntryRow;
use crate::*;

/// The wall a chain lives behind: a tenant chain is named by its tenant's ID; any other
/// chain (the system chain) is platform data.
pub(super) fn chain_wall(chain: &str) -> Wall<'static> {
    match TenantId::parse(chain) {
        Some(id) => Wall::TenantId(id),
        None => Wall::Platform,
    }
}

async fn lock_chain(conn: &mut PgConnection, chain: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('kinfold audit ' || $1, 0))")
        .bind(chain)
        .execute(conn)
        .await?;
    Ok(())
}

/// Appends drafts, chain by chain (in name order, so two appenders cannot deadlock), each
/// behind its chain's wall. Leaves the transaction behind the wall of the last chain written;
/// callers append last, after their own writes.
pub(super) async fn append_in(
    tx: &mut Transaction<'static, Postgres>,
    drafts: Vec<Draft>,
) -> Result<Vec<Entry>> {
    if drafts.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_chain: Vec<(String, Vec<Draft>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for d in drafts {
        let i = match index.get(&d.chain) {
            Some(i) => *i,
            None => {
                by_chain.push((d.chain.clone(), Vec::new()));
                let i = by_chain.len() - 1;
                index.insert(d.chain.clone(), i);
                i
            }
        };
        if let Some((_, list)) = by_chain.get_mut(i) {
            list.push(d);
        }
    }
    by_chain.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    for (chain, list) in by_chain {
        wall::set(tx, chain_wall(&chain)).await?;
        lock_chain(tx, &chain).await?;
        let head: Option<(i64, String)> = sqlx::query_as(
            "SELECT seq, hash FROM audit_log WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(&chain)
        .fetch_optional(&mut **tx)
        .await?;
        let (mut seq, mut hash) = head.unwrap_or((0, GENESIS.to_owned()));
        let mut entries = Vec::with_capacity(list.len());
        for d in list {
            let e = d.link(seq, &hash);
            seq = e.seq;
            hash.clone_from(&e.hash);
            entries.push(e);
        }
        // 12 parameters per row; PostgreSQL allows 65535 per statement.
        for chunk in entries.chunks(1000) {
            let mut b: QueryBuilder<Postgres> = QueryBuilder::new(
                "INSERT INTO audit_log (chain, seq, at_ms, category, kind, actor, ip, user_agent, device, event, prev_hash, hash) ",
            );
            b.push_values(chunk, |mut row, e| {
                row.push_bind(&e.chain)
                    .push_bind(e.seq)
                    .push_bind(e.at_ms)
                    .push_bind(&e.category)
                    .push_bind(&e.kind)
                    .push_bind(&e.actor)
                    .push_bind(&e.ip)
                    .push_bind(&e.user_agent)
                    .push_bind(&e.device)
                    .push_bind(&e.event)
                    .push_bind(&e.prev_hash)
                    .push_bind(&e.hash);
            });
            b.build().execute(&mut **tx).await?;
        }
        out.extend(entries);
    }
    Ok(out)
}

pub(super) async fn page(pool: &PgPool, chain: &str, q: &AuditQuery) -> Result<Vec<Entry>> {
    let mut tx = wall::begin(pool, chain_wall(chain)).await?;
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
    let mut tx = wall::begin(pool, chain_wall(chain)).await?;
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
    let mut tx = wall::begin(pool, chain_wall(chain)).await?;
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
    let mut tx = wall::begin(pool, chain_wall(chain)).await?;
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
    let mut tx = wall::begin(pool, chain_wall(chain)).await?;
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
    let mut tx = wall::begin(pool, chain_wall(&cp.chain)).await?;
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
