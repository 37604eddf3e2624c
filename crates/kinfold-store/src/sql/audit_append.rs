//! Appending to the audit chains (L1, L2), inside the caller's transaction, so an entry
//! commits with the change it records.

use std::collections::BTreeMap;

use kinfold_audit::chain::GENESIS;
use kinfold_audit::{Draft, Entry};
use sqlx::QueryBuilder;

use super::{enter_chain, Conn, Db};
use crate::Result;

/// Appends drafts chain by chain, in name order (so two appenders cannot deadlock), each
/// linked to its chain's head. On PostgreSQL the transaction is left behind the wall of the
/// last chain written, so callers append last, after their own writes.
pub(crate) async fn append_in(tx: &mut Conn, drafts: Vec<Draft>) -> Result<Vec<Entry>> {
    let mut by_chain: BTreeMap<String, Vec<Draft>> = BTreeMap::new();
    for d in drafts {
        by_chain.entry(d.chain.clone()).or_default().push(d);
    }
    let mut out = Vec::new();
    for (chain, list) in by_chain {
        enter_chain(tx, &chain).await?;
        let head: Option<(i64, String)> = sqlx::query_as(
            "SELECT seq, hash FROM audit_log WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(&chain)
        .fetch_optional(&mut *tx)
        .await?;
        let (mut seq, mut hash) = head.unwrap_or((0, GENESIS.to_owned()));
        let mut entries = Vec::with_capacity(list.len());
        for d in list {
            let e = d.link(seq, &hash);
            seq = e.seq;
            hash.clone_from(&e.hash);
            entries.push(e);
        }
        // One multi-row INSERT per 500 entries: 12 parameters each, under both databases'
        // limits, so a group commit costs a few statements, not one per entry.
        for chunk in entries.chunks(500) {
            let mut b: QueryBuilder<Db> = QueryBuilder::new(
                "INSERT INTO audit_log (chain, seq, at_ms, category, kind, actor, ip, user_agent, \
                 device, event, prev_hash, hash) ",
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
            b.build().execute(&mut *tx).await?;
        }
        out.extend(entries);
    }
    Ok(out)
}
