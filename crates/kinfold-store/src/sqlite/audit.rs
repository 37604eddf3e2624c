//! The audit chain in SQLite. Appends run inside the caller's write transaction, so an admin
//! event commits with its change (L2) and the chain head read here is the one written after.

use kinfold_audit::chain::GENESIS;
use kinfold_audit::{Checkpoint, Draft, Entry};
use sqlx::{QueryBuilder, Sqlite, SqlitePool, Transaction};

use crate::rows::EntryRow;
use crate::*;

pub(super) async fn append_in(
    tx: &mut Transaction<'static, Sqlite>,
    drafts: Vec<Draft>,
) -> Result<Vec<Entry>> {
    let mut heads: std::collections::HashMap<String, (i64, String)> = Default::default();
    let mut out = Vec::with_capacity(drafts.len());
    for d in drafts {
        let head = match heads.get(&d.chain) {
            Some(h) => h.clone(),
            None => {
                let h: Option<(i64, String)> = sqlx::query_as(
                    "SELECT seq, hash FROM audit_log WHERE chain = ? ORDER BY seq DESC LIMIT 1",
                )
                .bind(&d.chain)
                .fetch_optional(&mut **tx)
                .await?;
                h.unwrap_or((0, GENESIS.to_owned()))
            }
        };
        let e = d.link(head.0, &head.1);
        heads.insert(e.chain.clone(), (e.seq, e.hash.clone()));
        out.push(e);
    }
    // One multi-row INSERT per 500 entries (12 parameters each, well under SQLite's limit):
    // a group commit costs a few statements, not one per entry.
    for chunk in out.chunks(500) {
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO audit_log (chain, seq, at_ms, category, kind, actor, ip, user_agent, device, event, prev_hash, hash) ",
        );
        b.push_values(chunk, |mut row, e| {
            row.push_bind(e.chain.clone())
                .push_bind(e.seq)
                .push_bind(e.at_ms)
                .push_bind(e.category.clone())
                .push_bind(e.kind.clone())
                .push_bind(e.actor.clone())
                .push_bind(e.ip.clone())
                .push_bind(e.user_agent.clone())
                .push_bind(e.device.clone())
                .push_bind(e.event.clone())
                .push_bind(e.prev_hash.clone())
                .push_bind(e.hash.clone());
        });
        b.build().execute(&mut **tx).await?;
    }
    Ok(out)
}

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
