//! Signed-in sessions (A4): created under a per-user cap, found by their token's hash,
//! touched, ended and listed.

use async_trait::async_trait;
use kinfold_crypto::token::TokenHash;

use crate::TenantTx;
use crate::{
    EndReason, NewSession, Result, Session, SessionContext, SessionId, TenantScope, UserId,
};

#[async_trait]
pub trait SessionStore {
    /// Creates a session and, in the same transaction, ends the user's oldest sessions beyond
    /// the center's cap, read in that transaction and held within `operator_cap`
    /// ([`crate::CenterSessionPolicy::cap_within`]). Returns the session and the evicted ones.
    async fn create_session(
        &self,
        tx: TenantTx<'_>,
        new: NewSession,
        operator_cap: u32,
    ) -> Result<(Session, Vec<Session>)>;
    /// One lookup: the session with its user and tenant.
    async fn session_by_token(&self, token: TokenHash) -> Result<Option<SessionContext>>;
    /// Moves the session's last-seen time forward to `at_ms`, never back.
    async fn touch_session(&self, scope: &TenantScope, id: SessionId, at_ms: i64) -> Result<()>;
    /// Ends a live session. None when there was no such live session in this tenant for
    /// this user (when `user` is given).
    async fn end_session(
        &self,
        tx: TenantTx<'_>,
        id: SessionId,
        user: Option<UserId>,
        reason: EndReason,
        at_ms: i64,
    ) -> Result<Option<Session>>;
    async fn end_user_sessions(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        reason: EndReason,
        at_ms: i64,
    ) -> Result<Vec<Session>>;
    /// The user's sessions not yet ended, newest first.
    async fn live_sessions(&self, scope: &TenantScope, user: UserId) -> Result<Vec<Session>>;
}
