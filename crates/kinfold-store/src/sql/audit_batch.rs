//! An audit group commit (L1): the API access segments and access events that requests wait
//! for, in one transaction that does not wait for the disk.
//!
//! Where the dialect runs scripts ([`BATCH_SCRIPT`]: SQLite, where every statement is a trip
//! to the connection's thread and back, and where walls and chain locks are nothing), a batch
//! costs two trips: one that begins it and reads the heads of the chains it appends to, and
//! one that writes it and commits. Elsewhere (PostgreSQL, whose statements each need their
//! wall, and whose chains need their lock before their head is read) it runs step by step.

use std::collections::{BTreeMap, HashMap};

use kinfold_audit::Draft;
use sqlx::pool::PoolConnection;
use sqlx::QueryBuilder;

use super::audit_append::{by_chain, link, push_entries, push_head, INSERT_ROWS};
use super::{abort_batch, append_in, begin_batch, enter_wall, Backend, Conn, Db, BATCH_SCRIPT};
use crate::drafts::encode_access_segment;
use crate::wall::Wall;
use crate::{ApiAccess, LostCommit, Result, StoreError, TenantId, Written};

/// Writes and commits a batch; on a failure rolls it back (or closes the connection).
pub(crate) async fn append_batch(
    store: &Backend,
    conn: &mut PoolConnection<Db>,
    drafts: Vec<Draft>,
    accesses: &[ApiAccess],
    journal: Option<&str>,
) -> Result<Written> {
    let written = match BATCH_SCRIPT {
        Some((begin, commit)) => scripted(conn, begin, commit, drafts, accesses, journal).await,
        None => stepwise(store, conn, drafts, accesses, journal).await,
    };
    // A batch whose COMMIT went out is not rolled back: it has ended, or its outcome is
    // unknown and its connection closed (a ROLLBACK there would wait for the lost COMMIT).
    if written
        .as_ref()
        .is_err_and(|e| !matches!(e, StoreError::BatchUnknown { .. }))
    {
        if let Err(undo) = abort_batch(conn).await {
            tracing::error!(error = %undo, "rolling back an audit batch failed; its connection is closed");
        }
    }
    written
}

async fn stepwise(
    store: &Backend,
    conn: &mut PoolConnection<Db>,
    drafts: Vec<Draft>,
    accesses: &[ApiAccess],
    journal: Option<&str>,
) -> Result<Written> {
    let xact = begin_batch(conn).await?;
    enter_wall(conn, Wall::Platform).await?;
    let mark = put_mark(conn, &drafts, accesses).await?;
    if let Some(journal) = journal {
        for step in JOURNAL_MARK_STEPS {
            let mut b = QueryBuilder::new("");
            step(&mut b, journal, latest(&drafts, accesses));
            b.build().execute(&mut **conn).await?;
        }
    }
    for (tenant, list) in by_tenant(accesses) {
        enter_wall(conn, Wall::TenantId(tenant)).await?;
        let mut b = QueryBuilder::new("");
        push_segment(&mut b, tenant, &list)?;
        b.build().execute(&mut **conn).await?;
    }
    let entries = Written::new(append_in(conn, drafts).await?);
    match (store.commit_batch(conn).await, xact) {
        (Ok(()), _) => Ok(entries),
        // Sent, and the connection lost before its answer: in or not, the server will say.
        (
            Err(StoreError::Database(source @ (sqlx::Error::Io(_) | sqlx::Error::Protocol(_)))),
            Some(xact),
        ) => Err(StoreError::BatchUnknown {
            lost: LostCommit {
                entries,
                xact,
                mark,
            },
            source,
        }),
        (Err(e), _) => Err(e),
    }
}

/// Two trips: `begin` and the heads; then the writes and `commit`.
async fn scripted(
    conn: &mut Conn,
    begin: &str,
    commit: &str,
    drafts: Vec<Draft>,
    accesses: &[ApiAccess],
    journal: Option<&str>,
) -> Result<Written> {
    let at_ms = latest(&drafts, accesses);
    let chains = by_chain(drafts);
    let mut b: QueryBuilder<Db> = QueryBuilder::new(begin);
    for chain in chains.keys() {
        b.push("; ");
        push_head(&mut b, chain);
    }
    let heads: Vec<(String, i64, String)> = if chains.is_empty() {
        b.build().persistent(false).execute(&mut *conn).await?;
        Vec::new()
    } else {
        b.build_query_as()
            .persistent(false)
            .fetch_all(&mut *conn)
            .await?
    };
    let mut heads: HashMap<String, (i64, String)> = heads
        .into_iter()
        .map(|(chain, seq, hash)| (chain, (seq, hash)))
        .collect();

    let mut b: QueryBuilder<Db> = QueryBuilder::new("");
    for (tenant, list) in by_tenant(accesses) {
        push_segment(&mut b, tenant, &list)?;
        b.push("; ");
    }
    let mut out = Vec::new();
    for (chain, list) in chains {
        let entries = link(list, heads.remove(&chain));
        for chunk in entries.chunks(INSERT_ROWS) {
            push_entries(&mut b, chunk);
            b.push("; ");
        }
        out.extend(entries);
    }
    if let Some(journal) = journal {
        for step in JOURNAL_MARK_STEPS {
            step(&mut b, journal, at_ms);
            b.push("; ");
        }
    }
    b.push(commit);
    // Not kept prepared: a script's text varies with the batch's tenants and chains, and the
    // writer's statement cache is for every other write. Nor could it be on SQLite: `PRAGMA
    // synchronous` takes effect when the statement is prepared, not when it runs, so a kept
    // script would leave every later batch at the writer's `FULL` (an fsync each).
    b.build().persistent(false).execute(&mut *conn).await?;
    Ok(Written::new(out))
}

fn by_tenant(entries: &[ApiAccess]) -> BTreeMap<TenantId, Vec<&ApiAccess>> {
    let mut by_tenant: BTreeMap<TenantId, Vec<&ApiAccess>> = BTreeMap::new();
    for e in entries {
        by_tenant.entry(e.tenant_id).or_default().push(e);
    }
    by_tenant
}

/// How long a batch's mark is kept: far longer than any batch waits to be looked for.
const MARK_KEPT_MS: i64 = 24 * 60 * 60 * 1000;

/// Writes the batch's mark, a random ID in its own transaction, and removes marks older than
/// [`MARK_KEPT_MS`], in one statement; returns the mark. (Reached on PostgreSQL only: SQLite,
/// whose commit outcome is never unknown, scripts its batches without a mark.)
async fn put_mark(conn: &mut Conn, drafts: &[Draft], accesses: &[ApiAccess]) -> Result<String> {
    let mark = uuid::Uuid::new_v4().simple().to_string();
    let at_ms = latest(drafts, accesses);
    sqlx::query(
        "WITH expired AS (DELETE FROM audit_batch_marks WHERE at_ms < $3) \
         INSERT INTO audit_batch_marks (id, at_ms) VALUES ($1, $2)",
    )
    .bind(&mark)
    .bind(at_ms)
    .bind(at_ms.saturating_sub(MARK_KEPT_MS))
    .execute(&mut *conn)
    .await?;
    Ok(mark)
}

/// Whether the batch `lost`, whose commit answer was lost, is in: whether its mark is. Asked
/// first whether its transaction is still running on the server that ran it (an error then:
/// ask again later, never a guess while the commit may still land); once it has ended, the
/// mark is there if and only if it committed. Never by its transaction's ID alone, which a
/// promoted standby or a server recovered after a crash may have given to another, committed
/// transaction (`cli::failover` lost an answered read that way), nor by its entries, which an
/// identical batch on another node could have written.
pub(crate) async fn landed(store: &super::Backend, lost: &LostCommit) -> Result<bool> {
    let mut read = store.read(Wall::Platform).await?;
    let found = landed_in(&mut read, lost).await;
    super::done(read).await?;
    found
}

async fn landed_in(read: &mut super::Read, lost: &LostCommit) -> Result<bool> {
    super::still_running(read, &lost.xact).await?;
    let there: Option<String> =
        sqlx::query_scalar("SELECT id FROM audit_batch_marks WHERE id = $1")
            .bind(&lost.mark)
            .fetch_optional(&mut **read)
            .await?;
    Ok(there.is_some())
}

/// The time of a batch's latest entry.
fn latest(drafts: &[Draft], accesses: &[ApiAccess]) -> i64 {
    drafts
        .iter()
        .map(|d| d.at_ms)
        .chain(accesses.iter().map(|a| a.at_ms))
        .max()
        .unwrap_or_default()
}

/// What marks a journal position (`journal/` and two zero-padded numbers, so they sort in
/// journal order as text); no other mark starts so.
const JOURNAL_MARKS: &str = "journal/%";

/// The statements that record `mark`, a journal position, and drop the journal marks before
/// it (one row stands for everything moved), each pushed by its own function so the dialect
/// that scripts them joins them, and the one that cannot runs them one by one.
const JOURNAL_MARK_STEPS: [fn(&mut QueryBuilder<'_, Db>, &str, i64); 2] = [
    |b, mark, _| {
        b.push("DELETE FROM audit_batch_marks WHERE id LIKE ")
            .push_bind(JOURNAL_MARKS)
            .push(" AND id < ")
            .push_bind(mark.to_owned());
    },
    |b, mark, at_ms| {
        b.push("INSERT INTO audit_batch_marks (id, at_ms) VALUES (")
            .push_bind(mark.to_owned())
            .push(", ")
            .push_bind(at_ms)
            .push(")");
    },
];

/// The last journal position moved into the chain.
pub(crate) async fn journal_mark(store: &super::Backend) -> Result<Option<String>> {
    let mut read = store.read(Wall::Platform).await?;
    let mark: Option<String> =
        sqlx::query_scalar("SELECT max(id) FROM audit_batch_marks WHERE id LIKE $1")
            .bind(JOURNAL_MARKS)
            .fetch_one(&mut *read)
            .await?;
    super::done(read).await?;
    Ok(mark)
}

/// Pushes the INSERT of one tenant's API access entries as one segment.
fn push_segment(b: &mut QueryBuilder<'_, Db>, tenant: TenantId, list: &[&ApiAccess]) -> Result<()> {
    let first_ms = list.iter().map(|e| e.at_ms).min().unwrap_or_default();
    let last_ms = list.iter().map(|e| e.at_ms).max().unwrap_or_default();
    let json = encode_access_segment(list.iter().copied())?;
    b.push("INSERT INTO api_access_segments (tenant_id, first_ms, last_ms, entries) VALUES (")
        .push_bind(tenant.to_string())
        .push(", ")
        .push_bind(first_ms)
        .push(", ")
        .push_bind(last_ms)
        .push(", ")
        .push_bind(json)
        .push(")");
    Ok(())
}
