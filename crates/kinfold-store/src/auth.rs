//! Users and their second factor, and the single-use things that act for a user before a
//! session exists: enrollment links, password reset links and MFA challenges.

use async_trait::async_trait;
use kinfold_crypto::token::TokenHash;

use crate::TenantTx;
use crate::{
    Challenge, ClientInfo, Enrollment, NewUser, PasswordReset, Result, Session, SessionId,
    TenantScope, User, UserId,
};

#[async_trait]
pub trait AuthStore {
    // --- users and MFA -----------------------------------------------------------------
    /// Creates a user; `Conflict` when the email is taken in this tenant.
    async fn create_user(&self, tx: TenantTx<'_>, new: NewUser) -> Result<User>;
    async fn user(&self, scope: &TenantScope, id: UserId) -> Result<Option<User>>;
    async fn user_by_email(&self, scope: &TenantScope, email: &str) -> Result<Option<User>>;
    /// The tenant's users, in email order (bytes).
    async fn users(&self, scope: &TenantScope) -> Result<Vec<User>>;
    /// Sets the password hash and ends the user's other sessions, in one transaction.
    async fn set_password(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        hash: String,
        keep: Option<SessionId>,
        at_ms: i64,
    ) -> Result<Vec<Session>>;
    /// Binds a confirmed TOTP secret (sealed) and replaces the recovery codes.
    async fn set_totp(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        sealed: Vec<u8>,
        step: i64,
        recovery: Vec<TokenHash>,
    ) -> Result<()>;
    async fn set_pending_totp(
        &self,
        scope: &TenantScope,
        user: UserId,
        sealed: Option<Vec<u8>>,
    ) -> Result<()>;
    /// Clears the second factor and recovery codes and ends every session of the user.
    async fn reset_mfa(&self, tx: TenantTx<'_>, user: UserId, at_ms: i64) -> Result<Vec<Session>>;
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
    /// A new link; any earlier unused enrollment link of the user stops working.
    async fn create_enrollment(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        token: TokenHash,
        expires_ms: i64,
        at_ms: i64,
    ) -> Result<()>;
    async fn enrollment(&self, token: TokenHash) -> Result<Option<Enrollment>>;
    async fn set_enrollment_secret(&self, token: TokenHash, sealed: Vec<u8>) -> Result<()>;
    /// Single use: true only for the first caller, and only before expiry.
    async fn consume_enrollment(&self, token: TokenHash, at_ms: i64) -> Result<bool>;
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

    // --- password reset links ---------------------------------------------------------
    /// A new link; any earlier unused link of the user stops working.
    async fn create_password_reset(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        token: TokenHash,
        expires_ms: i64,
        at_ms: i64,
    ) -> Result<()>;
    async fn password_reset(&self, token: TokenHash) -> Result<Option<PasswordReset>>;
    /// Uses up the link, sets the password hash and ends every session of the user, in one
    /// transaction with `audit`. `None` (and nothing written) when the link is used, expired
    /// or not this user's.
    async fn reset_password(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        token: TokenHash,
        hash: String,
        at_ms: i64,
    ) -> Result<Option<Vec<Session>>>;
}
