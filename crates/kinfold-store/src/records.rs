//! Records that carry a tenant's scope or a token's hash, so only the store makes them: an
//! enrollment or reset link found by its token, a sign-in challenge, a session being opened,
//! and a session's context. Everything else the store reads and writes is in `kinfold-model`.

use crate::ids::TenantScope;
use kinfold_model::{ClientInfo, Session, SessionId, Tenant, User, UserId};

#[derive(Debug, Clone)]
pub struct Enrollment {
    pub scope: TenantScope,
    pub user_id: UserId,
    pub expires_ms: i64,
    pub used_ms: Option<i64>,
    pub pending_totp: Option<Vec<u8>>,
}

/// A password reset link, found by its token's hash.
#[derive(Debug, Clone)]
pub struct PasswordReset {
    pub scope: TenantScope,
    pub user_id: UserId,
    pub expires_ms: i64,
    pub used_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Challenge {
    pub scope: TenantScope,
    pub user_id: UserId,
    pub expires_ms: i64,
    pub attempts: i64,
    pub used_ms: Option<i64>,
    pub client: ClientInfo,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub token: kinfold_crypto::token::TokenHash,
    pub user_id: UserId,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub client: ClientInfo,
}

/// With a change of the center's session policy that lowers its cap (A4): each person's
/// sessions beyond their newest `cap` end as evicted at `at_ms`, in the same transaction.
#[derive(Debug, Clone, Copy)]
pub struct LowerCap {
    pub cap: u32,
    pub at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct SessionContext {
    pub session: Session,
    pub user: User,
    pub tenant: Tenant,
    pub scope: TenantScope,
}
