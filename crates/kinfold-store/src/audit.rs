//! The audit chains (L1, L2) and their signed checkpoints, the API access log (L4), and the
//! browsers' CSP reports: what the store keeps as evidence rather than as records.

use async_trait::async_trait;
use kinfold_audit::{Checkpoint, Draft, Entry};

use crate::{
    ApiAccess, AuditQuery, Chain, PlatformTx, Result, StoredApiAccess, TenantScope, TenantTx,
    Written,
};

#[async_trait]
pub trait AuditStore {
    // --- audit chains ------------------------------------------------------------------
    /// Appends a tenant's entries that record no other change (an operator's read, refused or
    /// not), linking each to the chain's head.
    async fn append_audit(&self, tx: TenantTx<'_>) -> Result<Vec<Entry>>;
    /// Appends entries to the system chain (migrations, starts).
    async fn append_platform_audit(&self, tx: PlatformTx) -> Result<Vec<Entry>>;
    /// A page of a chain, newest first, filtered by `query`.
    async fn audit_page(&self, chain: &Chain, query: &AuditQuery) -> Result<Vec<Entry>>;
    /// A whole chain in the order its entries were stored, not by `seq`: a reordered table
    /// must show as reordered when the chain is verified.
    async fn audit_chain(&self, chain: &Chain) -> Result<Vec<Entry>>;
    /// The chain's last entry, as (seq, hash).
    async fn audit_head(&self, chain: &Chain) -> Result<Option<(i64, String)>>;
    async fn audit_chains(&self) -> Result<Vec<Chain>>;
    /// A chain's signed checkpoints, by `seq`.
    async fn checkpoints(&self, chain: &Chain) -> Result<Vec<Checkpoint>>;
    /// The `seq` of the chain's last checkpoint; 0 when it has none.
    async fn last_checkpoint_seq(&self, chain: &Chain) -> Result<i64>;
    /// Stores a checkpoint; one already stored for the same (chain, seq) is kept.
    async fn insert_checkpoint(&self, cp: Checkpoint) -> Result<()>;

    // --- API access log (L4) ------------------------------------------------------
    /// A group commit: the API access entries (one segment per tenant) and the audit drafts in
    /// one transaction, so a request waiting for both waits for one commit. Returns the linked
    /// entries. The only way the access log is written.
    async fn append_batch(&self, drafts: Vec<Draft>, accesses: &[ApiAccess]) -> Result<Written>;
    /// After [`crate::StoreError::BatchUnknown`]: whether that batch is in after all, as the
    /// database says. Written again only if not, it is never in twice.
    async fn batch_landed(&self, lost: &crate::LostCommit) -> Result<bool>;
    /// [`AuditStore::append_batch`] for entries moved from a node's audit journal (L1): the
    /// same transaction also records `mark`, the journal position of the last entry moved,
    /// and drops the marks before it, so a journal replayed after a crash skips what is in.
    async fn append_journaled(
        &self,
        drafts: Vec<Draft>,
        accesses: &[ApiAccess],
        mark: &str,
    ) -> Result<Written>;
    /// The last journal position moved into the chain (see [`AuditStore::append_journaled`]).
    async fn journal_mark(&self) -> Result<Option<String>>;
    /// Newest first, whole segments at a time until at least `limit` entries: the entries and
    /// the cursor (a segment ID) for the next page.
    async fn api_access_page(
        &self,
        scope: &TenantScope,
        category: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<StoredApiAccess>, Option<i64>)>;

    // --- web ---------------------------------------------------------------------------
    async fn insert_csp_report(&self, at_ms: i64, report: String) -> Result<()>;
    /// Removes the reports older than `before_ms`, and all but the newest `keep` (the
    /// server passes [`CSP_KEPT_DAYS`] and [`CSP_KEPT_REPORTS`], which PostgreSQL's row-level
    /// security also holds the app role to), at most
    /// 5,000 a call (oldest first): the table an unauthenticated endpoint fills stays bounded.
    /// Returns how many went.
    async fn prune_csp_reports(&self, before_ms: i64, keep: u32) -> Result<u64>;
    async fn csp_report_count(&self) -> Result<i64>;
}

/// How long a CSP report is kept (W7). Migration `0116_csp_report_retention.sql` holds the app
/// role on PostgreSQL to the same figure.
pub const CSP_KEPT_DAYS: i64 = 30;
/// The most CSP reports kept (the newest). Migration 0116 holds the app role to it too.
pub const CSP_KEPT_REPORTS: u32 = 10_000;
