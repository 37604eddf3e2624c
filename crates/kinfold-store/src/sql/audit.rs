//! The audit chains, their checkpoints, the API access log and CSP reports: one body for both
//! stores. A chain is read behind its own wall ([`Wall::of_chain`]): its tenant's, or the
//! platform's for the system chain.

use async_trait::async_trait;
use kinfold_audit::{Checkpoint, Draft, Entry};
use sqlx::QueryBuilder;

use super::{append_in, audit_batch, done, insertion_order, Backend, Db};
use crate::audit::AuditStore;
use crate::drafts::decode_access_segment;
use crate::rows::EntryRow;
use crate::wall::Wall;
use crate::{
    ApiAccess, AuditQuery, Chain, PlatformTx, Result, StoredApiAccess, TenantScope, TenantTx,
    Written,
};

/// CSP reports pruned at most per call (a minute's work).
const CSP_PRUNED_PER_CALL: i64 = 5_000;
#[async_trait]
impl AuditStore for Backend {
    async fn append_audit(&self, tx: TenantTx<'_>) -> Result<Vec<Entry>> {
        let (scope, drafts) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let entries = append_in(&mut tx, drafts).await?;
        self.commit(tx).await?;
        Ok(entries)
    }

    async fn append_platform_audit(&self, tx: PlatformTx) -> Result<Vec<Entry>> {
        let drafts = tx.into_audit();
        let mut tx = self.tx(Wall::Platform).await?;
        let entries = append_in(&mut tx, drafts).await?;
        self.commit(tx).await?;
        Ok(entries)
    }

    async fn audit_page(&self, of: &Chain, q: &AuditQuery) -> Result<Vec<Entry>> {
        let chain = of.as_str();
        let mut b: QueryBuilder<Db> = QueryBuilder::new("SELECT * FROM audit_log WHERE chain = ");
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
        let mut read = self.read(Wall::of_chain(chain)).await?;
        let rows: Vec<EntryRow> = b.build_query_as().fetch_all(&mut *read).await?;
        done(read).await?;
        Ok(rows.into_iter().map(Entry::from).collect())
    }

    async fn audit_chain(&self, of: &Chain) -> Result<Vec<Entry>> {
        let chain = of.as_str();
        // Stored order, not seq order: a reordered table must show as reordered.
        let sql = format!(
            "SELECT * FROM audit_log WHERE chain = $1 ORDER BY {}",
            insertion_order()
        );
        let mut read = self.read(Wall::of_chain(chain)).await?;
        let rows: Vec<EntryRow> = sqlx::query_as(&sql)
            .bind(chain)
            .fetch_all(&mut *read)
            .await?;
        done(read).await?;
        Ok(rows.into_iter().map(Entry::from).collect())
    }

    async fn audit_head(&self, of: &Chain) -> Result<Option<(i64, String)>> {
        let chain = of.as_str();
        let mut read = self.read(Wall::of_chain(chain)).await?;
        let head = sqlx::query_as(
            "SELECT seq, hash FROM audit_log WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(chain)
        .fetch_optional(&mut *read)
        .await?;
        done(read).await?;
        Ok(head)
    }

    async fn audit_chains(&self) -> Result<Vec<Chain>> {
        let mut read = self.read(Wall::Platform).await?;
        let chains: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT chain FROM audit_log ORDER BY chain")
                .fetch_all(&mut *read)
                .await?;
        done(read).await?;
        Ok(chains.into_iter().map(Chain::stored).collect())
    }

    async fn checkpoints(&self, of: &Chain) -> Result<Vec<Checkpoint>> {
        let chain = of.as_str();
        let mut read = self.read(Wall::of_chain(chain)).await?;
        let rows: Vec<(String, i64, String, i64, String, String)> = sqlx::query_as(
            "SELECT chain, seq, hash, at_ms, public_key, signature FROM audit_checkpoints \
             WHERE chain = $1 ORDER BY seq",
        )
        .bind(chain)
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
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

    async fn last_checkpoint_seq(&self, of: &Chain) -> Result<i64> {
        let chain = of.as_str();
        let mut read = self.read(Wall::of_chain(chain)).await?;
        // The cast keeps PostgreSQL's answer a BIGINT whatever MAX and COALESCE make of it.
        let seq = sqlx::query_scalar(
            "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM audit_checkpoints WHERE chain = $1",
        )
        .bind(chain)
        .fetch_one(&mut *read)
        .await?;
        done(read).await?;
        Ok(seq)
    }

    async fn insert_checkpoint(&self, cp: Checkpoint) -> Result<()> {
        let mut tx = self.tx(Wall::of_chain(&cp.chain)).await?;
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
        self.commit(tx).await?;
        Ok(())
    }

    async fn append_batch(&self, drafts: Vec<Draft>, accesses: &[ApiAccess]) -> Result<Written> {
        // Answers wait for this commit (L1), so it does not wait for the disk, and it costs as
        // few trips as the dialect allows (`audit_batch`).
        let mut conn = self.batch_conn().await?;
        audit_batch::append_batch(self, &mut conn, drafts, accesses, None).await
    }

    async fn append_journaled(
        &self,
        drafts: Vec<Draft>,
        accesses: &[ApiAccess],
        mark: &str,
    ) -> Result<Written> {
        let mut conn = self.batch_conn().await?;
        audit_batch::append_batch(self, &mut conn, drafts, accesses, Some(mark)).await
    }

    async fn journal_mark(&self) -> Result<Option<String>> {
        audit_batch::journal_mark(self).await
    }

    async fn batch_landed(&self, lost: &crate::LostCommit) -> Result<bool> {
        audit_batch::landed(self, lost).await
    }

    async fn api_access_page(
        &self,
        scope: &TenantScope,
        category: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<StoredApiAccess>, Option<i64>)> {
        let mut out = Vec::new();
        let mut cursor = before.unwrap_or(i64::MAX);
        let mut read = self.read(Wall::Tenant(scope)).await?;
        loop {
            let segments: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, entries FROM api_access_segments WHERE tenant_id = $1 AND id < $2 \
                 ORDER BY id DESC LIMIT 20",
            )
            .bind(scope.tenant_id().to_string())
            .bind(cursor)
            .fetch_all(&mut *read)
            .await?;
            let fetched = segments.len();
            for (id, json) in segments {
                cursor = id;
                let mut list = decode_access_segment(&json)?;
                list.reverse();
                out.extend(
                    list.into_iter()
                        .filter(|e| category.is_none_or(|c| e.category == c)),
                );
                if out.len() >= limit as usize {
                    done(read).await?;
                    return Ok((out, Some(cursor)));
                }
            }
            if fetched < 20 {
                done(read).await?;
                return Ok((out, None));
            }
        }
    }

    async fn insert_csp_report(&self, at_ms: i64, report: String) -> Result<()> {
        sqlx::query("INSERT INTO csp_reports (at_ms, report) VALUES ($1, $2)")
            .bind(at_ms)
            .bind(report)
            .execute(self.unwalled())
            .await?;
        Ok(())
    }

    async fn prune_csp_reports(&self, before_ms: i64, keep: u32) -> Result<u64> {
        // Past the newest `keep`, the inner subquery names the newest row to go; fewer rows
        // than that, it names none (NULL), and only the age counts. At most
        // `CSP_PRUNED_PER_CALL` go a call, oldest first, so a backlog never makes one long
        // statement on the pool that sign-in counters share; the next minute takes more.
        Ok(sqlx::query(
            "DELETE FROM csp_reports WHERE id IN (SELECT id FROM csp_reports \
             WHERE at_ms < $1 OR id <= (SELECT id FROM csp_reports ORDER BY id DESC LIMIT 1 OFFSET $2) \
             ORDER BY id LIMIT $3)",
        )
        .bind(before_ms)
        .bind(i64::from(keep))
        .bind(CSP_PRUNED_PER_CALL)
        .execute(self.unwalled())
        .await?
        .rows_affected())
    }

    async fn csp_report_count(&self) -> Result<i64> {
        let mut read = self.read(Wall::Platform).await?;
        let n = sqlx::query_scalar("SELECT COUNT(*) FROM csp_reports")
            .fetch_one(&mut *read)
            .await?;
        done(read).await?;
        Ok(n)
    }
}
