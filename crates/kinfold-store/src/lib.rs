//! Storage for Kinfold: the [`Store`] trait, its records, and the SQLite backend.
//!
//! Tenant data is reachable only through a [`TenantScope`], which only this crate can mint, and
//! only from a tenant that exists (by slug, or through a session, challenge or enrollment that
//! belongs to it). A handler therefore cannot forget the tenant: without a scope it cannot
//! even ask. The store holds no policy; it persists what core decides.

pub mod attempts;
pub mod audit;
mod auth;
mod drafts;
mod error;
mod ids;
pub mod mail;
mod migrations;
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
mod tx;
mod wall;

pub use attempts::AttemptStore;
pub use audit::AuditStore;
pub use auth::AuthStore;
pub use error::{LostCommit, StoreError};

/// Why an edit made against an earlier version of a record is refused (a version token that
/// no longer matches): the edit would silently undo someone else's.
pub const STALE_RECORD: &str = "this record was changed by someone else after you opened it; \
     reload it to see their change, then make yours again";
/// Why a check-in or check-out is refused when the person's record on the child changed (or
/// went) after it was checked ([`AttendanceStore::record_attendance`]).
pub const PERSON_CHANGED: &str = "this person's record on the child changed while the desk was \
     checking it; choose them again to check the new one";
pub use ids::{
    ChildId, ClassroomId, GuardianId, PickupId, SessionId, TenantId, TenantScope, UserId,
};
pub use kinfold_model::*;
pub use mail::MailStore;
pub use outbox::OutboxStore;
pub use record_store::{AttendanceStore, GuardianStore, PeopleStore, RecordStore, StaffStore};
pub use records::*;
pub use replays::ReplayStore;
pub use sealed::SealedStore;
pub use sessions::SessionStore;
pub use tenants::TenantStore;
pub use tx::{Chain, ChainTx, NewTenantTx, Opening, Platform, PlatformTx, TenantTx, Written};

/// What a backup holds, read where its copy is taken (SQLite: in the read transaction that
/// copies the file; PostgreSQL: on the dump's connection as it starts): the number of centers
/// and the schema version the copy is at.
#[derive(Debug, Clone, Copy)]
pub struct BackupInfo {
    pub tenants: u64,
    pub schema_version: i64,
}

/// The store's traits, for callers that use a `dyn Store`: a supertrait's methods need the
/// trait in scope.
pub mod prelude {
    pub use crate::{
        AttemptStore, AttendanceStore, AuditStore, AuthStore, GuardianStore, MailStore,
        OutboxStore, RecordStore, ReplayStore, SealedStore, SessionStore, StaffStore, Store,
        TenantStore,
    };
}

use async_trait::async_trait;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything the services persist. One implementation per backend, each in its own idiom.
#[async_trait]
pub trait Store:
    RecordStore
    + GuardianStore
    + AttendanceStore
    + StaffStore
    + PeopleStore
    + OutboxStore
    + MailStore
    + AttemptStore
    + AuditStore
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
    /// Claims `job` (a scheduled backup, a drill) for this node until the lease is dropped;
    /// `None` while another node holds it. On PostgreSQL a session advisory lock on a
    /// connection of its own, closed with the lease (or with the node); on SQLite, one node
    /// serves, and the lease is always given.
    async fn exclusive(&self, job: &str) -> Result<Option<JobLease>>;
}

/// A job claimed by [`Store::exclusive`], held until dropped.
pub struct JobLease(
    /// The connection holding the lock; closed, never pooled again, when the lease drops.
    #[allow(dead_code)]
    Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
);

impl std::fmt::Debug for JobLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobLease")
    }
}
