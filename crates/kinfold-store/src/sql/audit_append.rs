//! Appending to the audit chains (L1, L2), inside the caller's transaction, so an entry
//! commits with the change it records.

use std::collections::BTreeMap;

use kinfold_audit::chain::GENESIS;
use kinfold_audit::{Draft, Entry};
use sqlx::QueryBuilder;

use super::{enter_chain, Conn, Db};
use crate::Result;

/// A chain's head (its name, and its last entry's seq and hash): the statement around the
/// chain's parameter.
pub(crate) const HEAD: (&str, &str) = (
    "SELECT chain, seq, hash FROM audit_log WHERE chain = ",
    " ORDER BY seq DESC LIMIT 1",
);

/// Pushes the statement that reads `chain`'s head.
pub(crate) fn push_head(b: &mut QueryBuilder<'_, Db>, chain: &str) {
    b.push(HEAD.0).push_bind(chain.to_owned()).push(HEAD.1);
}

/// Appends drafts chain by chain, in name order (so two appenders cannot deadlock), each
/// linked to its chain's head. On PostgreSQL the transaction is left behind the wall of the
/// last chain written, so callers append last, after their own writes.
pub(crate) async fn append_in(tx: &mut Conn, drafts: Vec<Draft>) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (chain, list) in by_chain(drafts) {
        enter_chain(tx, &chain).await?;
        let mut b = QueryBuilder::new("");
        push_head(&mut b, &chain);
        let head: Option<(String, i64, String)> =
            b.build_query_as().fetch_optional(&mut *tx).await?;
        let entries = link(list, head.map(|(_, seq, hash)| (seq, hash)));
        for chunk in entries.chunks(INSERT_ROWS) {
            let mut b = QueryBuilder::new("");
            push_entries(&mut b, chunk);
            b.build().execute(&mut *tx).await?;
        }
        out.extend(entries);
    }
    Ok(out)
}

/// Drafts by chain, in chain-name order.
pub(crate) fn by_chain(drafts: Vec<Draft>) -> BTreeMap<String, Vec<Draft>> {
    let mut by_chain: BTreeMap<String, Vec<Draft>> = BTreeMap::new();
    for d in drafts {
        by_chain.entry(d.chain.clone()).or_default().push(d);
    }
    by_chain
}

/// Links one chain's drafts, in order, after its head (none: the chain is empty).
pub(crate) fn link(list: Vec<Draft>, head: Option<(i64, String)>) -> Vec<Entry> {
    let (mut seq, mut hash) = head.unwrap_or((0, GENESIS.to_owned()));
    let mut entries = Vec::with_capacity(list.len());
    for d in list {
        let e = d.link(seq, &hash);
        seq = e.seq;
        hash.clone_from(&e.hash);
        entries.push(e);
    }
    entries
}

/// Rows per INSERT: 12 parameters each, under both databases' limits, so a group commit costs
/// a few statements, not one per entry.
pub(crate) const INSERT_ROWS: usize = 500;

/// Pushes one multi-row INSERT of `chunk` (at most [`INSERT_ROWS`] entries).
pub(crate) fn push_entries(b: &mut QueryBuilder<'_, Db>, chunk: &[Entry]) {
    b.push(
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
}
