//! Storage for Kinfold: the [`Store`] trait, its records, and the SQLite backend.
//!
//! Tenant data is reachable only through a [`TenantScope`], which only this crate can mint, and
//! only from a tenant that exists (by slug, or through a session, challenge or enrollment that
//! belongs to it). A handler therefore cannot forget the tenant: without a scope it cannot
//! even ask. The store holds no policy; it persists what core decides.

pub mod attempts;
mod auth;
mod domain;
mod drafts;
mod error;
mod ids;
pub mod mail;
pub mod outbox;
mod outbox_rows;
pub mod postgres;
mod record_store;
mod records;
pub mod replays;
mod rows;
mod sealed;
mod sessions;
pub mod sqlite;
mod tenants;
mod wall;

pub use attempts::AttemptStore;
pub use auth::AuthStore;
pub use domain::*;
pub use error::StoreError;
pub use ids::{
    ChildId, ClassroomId, GuardianId, PickupId, SessionId, TenantId, TenantScope, UserId,
};
pub use mail::MailStore;
pub use outbox::OutboxStore;
pub use record_store::RecordStore;
pub use records::*;
pub use replays::ReplayStore;
pub use sealed::SealedStore;
pub use sessions::SessionStore;
pub use tenants::TenantStore;

/// The store's traits, for callers that use a `dyn Store`: a supertrait's methods need the
/// trait in scope.
pub mod prelude {
    pub use crate::{
        AttemptStore, AuthStore, MailStore, OutboxStore, RecordStore, ReplayStore, SealedStore,
        SessionStore, Store, TenantStore,
    };
}

use async_trait::async_trait;
use kinfold_audit::{Checkpoint, Draft, Entry};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything the services persist. One implementation per backend, each in its own idiom.
#[async_trait]
pub trait Store:
    RecordStore
    + OutboxStore
    + MailStore
    + AttemptStore
    + ReplayStore
    + SealedStore
    + TenantStore
    + AuthStore
    + SessionStore
    + Send
    + Sync
    + 'static
{
    // --- lifecycle ---------------------------------------------------------------------
    /// Applies pending migrations; returns the ones applied now, as (version, description).
    async fn migrate(&self) -> Result<Vec<(i64, String)>>;
    /// The database answers and every migration is applied.
    async fn ready(&self) -> Result<bool>;
    async fn close(&self);

    // --- audit -------------------------------------------------------------------------
    /// Appends drafts to their chains in one transaction, linking each to its chain's head.
    async fn append_audit(&self, drafts: Vec<Draft>) -> Result<Vec<Entry>>;
    async fn audit_page(&self, chain: &str, query: &AuditQuery) -> Result<Vec<Entry>>;
    async fn audit_chain(&self, chain: &str) -> Result<Vec<Entry>>;
    async fn audit_head(&self, chain: &str) -> Result<Option<(i64, String)>>;
    async fn audit_chains(&self) -> Result<Vec<String>>;
    async fn checkpoints(&self, chain: &str) -> Result<Vec<Checkpoint>>;
    async fn last_checkpoint_seq(&self, chain: &str) -> Result<i64>;
    async fn insert_checkpoint(&self, cp: Checkpoint) -> Result<()>;

    // --- API access log (L4) ------------------------------------------------------
    async fn append_api_access(&self, entries: &[ApiAccess]) -> Result<()>;
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
    async fn csp_report_count(&self) -> Result<i64>;
}
