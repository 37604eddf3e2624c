//! Storage for Kinfold: the [`Store`] trait, its records, and the SQLite backend.
//!
//! Tenant data is reachable only through a [`TenantScope`], which only this crate can mint, and
//! only from a tenant that exists (by slug, or through a session, challenge or enrollment that
//! belongs to it). A handler therefore cannot forget the tenant: without a scope it cannot
//! even ask. The store holds no policy; it persists what core decides.

pub mod attempts;
mod domain;
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
pub mod sqlite;
mod wall;

pub use attempts::AttemptStore;
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

/// The store's traits, for callers that use a `dyn Store`: a supertrait's methods need the
/// trait in scope.
pub mod prelude {
    pub use crate::{
        AttemptStore, MailStore, OutboxStore, RecordStore, ReplayStore, SealedStore, Store,
    };
}

use async_trait::async_trait;
use kinfold_audit::{Checkpoint, Draft, Entry};
use kinfold_crypto::token::TokenHash;

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

    // --- tenants and keys --------------------------------------------------------------
    async fn create_tenant(
        &self,
        new: NewTenant,
        audit: Vec<Draft>,
    ) -> Result<(Tenant, TenantScope)>;
    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<(Tenant, TenantScope)>>;
    /// A tenant by ID, for links that name it after checking a MAC (unsubscribe tokens).
    async fn tenant_by_id(&self, id: TenantId) -> Result<Option<(Tenant, TenantScope)>>;
    async fn tenants(&self) -> Result<Vec<(Tenant, TenantScope)>>;
    async fn tenant(&self, scope: &TenantScope) -> Result<Tenant>;
    async fn data_key(&self, scope: &TenantScope, version: u32) -> Result<Option<Vec<u8>>>;
    async fn current_data_key(&self, scope: &TenantScope) -> Result<Option<(u32, Vec<u8>)>>;
    async fn insert_data_key(
        &self,
        scope: &TenantScope,
        version: u32,
        wrapped: Vec<u8>,
        at_ms: i64,
    ) -> Result<()>;
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>>;
    async fn insert_signing_key(&self, key: SigningKeyRecord, audit: Vec<Draft>) -> Result<()>;

    // --- users and MFA -----------------------------------------------------------------
    async fn create_user(
        &self,
        scope: &TenantScope,
        new: NewUser,
        audit: Vec<Draft>,
    ) -> Result<User>;
    async fn user(&self, scope: &TenantScope, id: UserId) -> Result<Option<User>>;
    async fn user_by_email(&self, scope: &TenantScope, email: &str) -> Result<Option<User>>;
    async fn users(&self, scope: &TenantScope) -> Result<Vec<User>>;
    /// Sets the password hash and ends the user's other sessions, in one transaction.
    async fn set_password(
        &self,
        scope: &TenantScope,
        user: UserId,
        hash: String,
        keep: Option<SessionId>,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<Vec<Session>>;
    /// Binds a confirmed TOTP secret (sealed) and replaces the recovery codes.
    async fn set_totp(
        &self,
        scope: &TenantScope,
        user: UserId,
        sealed: Vec<u8>,
        step: i64,
        recovery: Vec<TokenHash>,
        audit: Vec<Draft>,
    ) -> Result<()>;
    async fn set_pending_totp(
        &self,
        scope: &TenantScope,
        user: UserId,
        sealed: Option<Vec<u8>>,
    ) -> Result<()>;
    /// Clears the second factor and recovery codes and ends every session of the user.
    async fn reset_mfa(
        &self,
        scope: &TenantScope,
        user: UserId,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<Vec<Session>>;
    /// Records `step` as the last accepted TOTP step, only if it is newer than the stored one.
    /// False means the code was already used.
    async fn advance_totp_step(&self, scope: &TenantScope, user: UserId, step: i64)
        -> Result<bool>;
    /// Marks a recovery code used. False when it is unknown or already used.
    async fn use_recovery_code(
        &self,
        scope: &TenantScope,
        user: UserId,
        code: TokenHash,
        at_ms: i64,
    ) -> Result<bool>;
    async fn unused_recovery_codes(&self, scope: &TenantScope, user: UserId) -> Result<i64>;

    // --- enrollment links and MFA challenges ----------------------------------------
    async fn create_enrollment(
        &self,
        scope: &TenantScope,
        user: UserId,
        token: TokenHash,
        expires_ms: i64,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<()>;
    async fn enrollment(&self, token: TokenHash) -> Result<Option<Enrollment>>;
    async fn set_enrollment_secret(&self, token: TokenHash, sealed: Vec<u8>) -> Result<()>;
    /// Single use: true only for the first caller, and only before expiry.
    async fn consume_enrollment(&self, token: TokenHash, at_ms: i64) -> Result<bool>;

    // --- password reset links ---------------------------------------------------------
    /// A new link; any earlier unused link of the user stops working.
    async fn create_password_reset(
        &self,
        scope: &TenantScope,
        user: UserId,
        token: TokenHash,
        expires_ms: i64,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<()>;
    async fn password_reset(&self, token: TokenHash) -> Result<Option<PasswordReset>>;
    /// Uses up the link, sets the password hash and ends every session of the user, in one
    /// transaction with `audit`. `None` (and nothing written) when the link is used, expired
    /// or not this user's.
    async fn reset_password(
        &self,
        reset: &PasswordReset,
        token: TokenHash,
        hash: String,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<Option<Vec<Session>>>;
    async fn create_challenge(
        &self,
        scope: &TenantScope,
        user: UserId,
        token: TokenHash,
        expires_ms: i64,
        client: &ClientInfo,
    ) -> Result<()>;
    /// Counts one attempt and returns the challenge as it stands after counting.
    async fn attempt_challenge(&self, token: TokenHash) -> Result<Option<Challenge>>;
    async fn consume_challenge(&self, token: TokenHash, at_ms: i64) -> Result<bool>;

    // --- sessions ----------------------------------------------------------------------
    /// Creates a session and, in the same transaction, ends the user's oldest sessions beyond
    /// `cap`. Returns the session and the evicted ones.
    async fn create_session(
        &self,
        scope: &TenantScope,
        new: NewSession,
        cap: u32,
        audit: Vec<Draft>,
    ) -> Result<(Session, Vec<Session>)>;
    /// One lookup: the session with its user and tenant.
    async fn session_by_token(&self, token: TokenHash) -> Result<Option<SessionContext>>;
    async fn touch_session(&self, scope: &TenantScope, id: SessionId, at_ms: i64) -> Result<()>;
    /// Ends a live session. None when there was no such live session in this tenant for
    /// this user (when `user` is given).
    async fn end_session(
        &self,
        scope: &TenantScope,
        id: SessionId,
        user: Option<UserId>,
        reason: EndReason,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<Option<Session>>;
    async fn end_user_sessions(
        &self,
        scope: &TenantScope,
        user: UserId,
        reason: EndReason,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<Vec<Session>>;
    async fn live_sessions(&self, scope: &TenantScope, user: UserId) -> Result<Vec<Session>>;

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
