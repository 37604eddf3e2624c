//! Users, MFA, enrollment links, MFA challenges and password reset links: one body for both
//! stores. Writes run behind the user's tenant wall; a lookup by token starts behind the
//! token's wall and, to write, moves behind the wall of the tenant the token names (A5).

use async_trait::async_trait;
use kinfold_crypto::token::TokenHash;
use sqlx::QueryBuilder;

use super::sessions::end_user_sessions_in;
use super::{append_in, done, enter_token_tenant, lock_user, Backend, Db, Tx};
use crate::auth::AuthStore;
use crate::drafts::name_new_row;
use crate::rows::{ChallengeRow, EnrollmentRow, PasswordResetRow, UserRow};
use crate::wall::Wall;
use crate::TenantTx;
use crate::{
    Challenge, ClientInfo, EndReason, Enrollment, NewUser, PasswordReset, Result, Session,
    SessionId, StoreError, TenantScope, User, UserId,
};

/// Recovery codes per multi-row INSERT: 3 parameters each, far under both databases' limits.
const CODES_PER_INSERT: usize = 1000;

/// Voids a user's unused enrollment links ($1 at, $2 tenant, $3 user): a password reset must
/// not leave a link that the new password could complete.
pub(crate) const ENROLLMENT_VOID: &str =
    "UPDATE enrollments SET used_ms = $1 WHERE tenant_id = $2 AND user_id = $3 AND used_ms IS NULL";
const ENROLLMENT_INSERT: &str = "INSERT INTO enrollments \
     (token_hash, tenant_id, user_id, expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5)";
/// Voids a user's unused reset links ($1 at, $2 tenant, $3 user): on a newer link, any
/// password change and an MFA reset.
pub(crate) const PASSWORD_RESET_SUPERSEDE: &str =
    "UPDATE password_resets SET used_ms = $1 WHERE tenant_id = $2 AND user_id = $3 AND used_ms IS NULL";
const PASSWORD_RESET_INSERT: &str = "INSERT INTO password_resets \
     (token_hash, tenant_id, user_id, expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5)";
/// The tenants of the rows a token opens (see `enter_token_tenant`).
const ENROLLMENT_TENANT: &str = "SELECT tenant_id FROM enrollments WHERE token_hash = $1";
const CHALLENGE_TENANT: &str = "SELECT tenant_id FROM mfa_challenges WHERE token_hash = $1";

#[async_trait]
impl AuthStore for Backend {
    // --- users and MFA -----------------------------------------------------------------

    async fn create_user(&self, tx: TenantTx<'_>, new: NewUser) -> Result<User> {
        let (scope, audit) = tx.into_parts();
        let id = UserId::new();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        sqlx::query(
            "INSERT INTO users (tenant_id, id, email, name, role, password_hash, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(scope.tenant_id().to_string())
        .bind(id.to_string())
        .bind(&new.email)
        .bind(&new.name)
        .bind(new.role.as_str())
        .bind(&new.password_hash)
        .bind(new.created_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "user with this email"))?;
        let audit = name_new_row(audit, &id.to_string());
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(User {
            id,
            tenant_id: scope.tenant_id(),
            email: new.email,
            name: new.name,
            role: new.role,
            password_hash: new.password_hash,
            totp_sealed: None,
            totp_last_step: None,
            pending_totp: None,
            created_ms: new.created_ms,
            deactivated_ms: None,
        })
    }

    async fn user(&self, scope: &TenantScope, id: UserId) -> Result<Option<User>> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let row: Option<UserRow> =
            sqlx::query_as("SELECT * FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id().to_string())
                .bind(id.to_string())
                .fetch_optional(&mut *read)
                .await?;
        done(read).await?;
        row.map(UserRow::into_user).transpose()
    }

    async fn user_by_email(&self, scope: &TenantScope, email: &str) -> Result<Option<User>> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let row: Option<UserRow> =
            sqlx::query_as("SELECT * FROM users WHERE tenant_id = $1 AND email = $2")
                .bind(scope.tenant_id().to_string())
                .bind(email)
                .fetch_optional(&mut *read)
                .await?;
        done(read).await?;
        row.map(UserRow::into_user).transpose()
    }

    async fn users(&self, scope: &TenantScope) -> Result<Vec<User>> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let rows: Vec<UserRow> =
            sqlx::query_as("SELECT * FROM users WHERE tenant_id = $1 ORDER BY email COLLATE \"C\"")
                .bind(scope.tenant_id().to_string())
                .fetch_all(&mut *read)
                .await?;
        done(read).await?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    async fn set_password(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        hash: String,
        keep: Option<SessionId>,
        at_ms: i64,
    ) -> Result<Vec<Session>> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let ended = set_password_in(&mut tx, scope, user, hash, keep, at_ms).await?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(ended)
    }

    async fn set_totp(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        sealed: Vec<u8>,
        step: i64,
        recovery: Vec<TokenHash>,
    ) -> Result<()> {
        let (scope, audit) = tx.into_parts();
        let t = scope.tenant_id().to_string();
        let u = user.to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let r = sqlx::query(
            "UPDATE users SET totp_sealed = $1, totp_last_step = $2, pending_totp = NULL \
             WHERE tenant_id = $3 AND id = $4",
        )
        .bind(sealed)
        .bind(step)
        .bind(&t)
        .bind(&u)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            return Err(StoreError::NotFound("user"));
        }
        sqlx::query("DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2")
            .bind(&t)
            .bind(&u)
            .execute(&mut *tx)
            .await?;
        for chunk in recovery.chunks(CODES_PER_INSERT) {
            let mut b: QueryBuilder<Db> =
                QueryBuilder::new("INSERT INTO recovery_codes (tenant_id, user_id, code_hash) ");
            b.push_values(chunk, |mut row, code| {
                row.push_bind(t.clone())
                    .push_bind(u.clone())
                    .push_bind(code.as_bytes().to_vec());
            });
            b.build().execute(&mut *tx).await?;
        }
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn set_pending_totp(
        &self,
        scope: &TenantScope,
        user: UserId,
        sealed: Option<Vec<u8>>,
    ) -> Result<()> {
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        sqlx::query("UPDATE users SET pending_totp = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(sealed)
            .bind(scope.tenant_id().to_string())
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn reset_mfa(&self, tx: TenantTx<'_>, user: UserId, at_ms: i64) -> Result<Vec<Session>> {
        let (scope, audit) = tx.into_parts();
        let t = scope.tenant_id().to_string();
        let u = user.to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let r = sqlx::query(
            "UPDATE users SET totp_sealed = NULL, totp_last_step = NULL, pending_totp = NULL \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(&t)
        .bind(&u)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            return Err(StoreError::NotFound("user"));
        }
        sqlx::query("DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2")
            .bind(&t)
            .bind(&u)
            .execute(&mut *tx)
            .await?;
        // A reset link still out would let the mailbox set a password for the new enrollment.
        void_links(&mut tx, PASSWORD_RESET_SUPERSEDE, scope, user, at_ms).await?;
        let ended =
            end_user_sessions_in(&mut tx, scope, user, None, EndReason::MfaReset, at_ms).await?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(ended)
    }

    async fn advance_totp_step(
        &self,
        scope: &TenantScope,
        user: UserId,
        step: i64,
    ) -> Result<bool> {
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let r = sqlx::query(
            "UPDATE users SET totp_last_step = $1 WHERE tenant_id = $2 AND id = $3 \
             AND (totp_last_step IS NULL OR totp_last_step < $1)",
        )
        .bind(step)
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(r.rows_affected() == 1)
    }

    async fn use_recovery_code(
        &self,
        scope: &TenantScope,
        user: UserId,
        code: TokenHash,
        at_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let r = sqlx::query(
            "UPDATE recovery_codes SET used_ms = $1 WHERE tenant_id = $2 AND user_id = $3 \
             AND code_hash = $4 AND used_ms IS NULL",
        )
        .bind(at_ms)
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .bind(code.as_bytes())
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(r.rows_affected() == 1)
    }

    async fn unused_recovery_codes(&self, scope: &TenantScope, user: UserId) -> Result<i64> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes \
             WHERE tenant_id = $1 AND user_id = $2 AND used_ms IS NULL",
        )
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .fetch_one(&mut *read)
        .await?;
        done(read).await?;
        Ok(n)
    }

    // --- enrollment links and MFA challenges ----------------------------------------

    async fn create_enrollment(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        token: TokenHash,
        expires_ms: i64,
        at_ms: i64,
    ) -> Result<()> {
        let link = (ENROLLMENT_VOID, ENROLLMENT_INSERT);
        issue_link(self, link, tx, user, token, expires_ms, at_ms).await
    }

    async fn enrollment(&self, token: TokenHash) -> Result<Option<Enrollment>> {
        let mut read = self.read(Wall::Token(&token)).await?;
        let row: Option<EnrollmentRow> = sqlx::query_as(
            "SELECT tenant_id, user_id, expires_ms, used_ms, pending_totp FROM enrollments \
             WHERE token_hash = $1",
        )
        .bind(token.as_bytes())
        .fetch_optional(&mut *read)
        .await?;
        done(read).await?;
        row.map(EnrollmentRow::into_record).transpose()
    }

    async fn set_enrollment_secret(&self, token: TokenHash, sealed: Vec<u8>) -> Result<()> {
        let mut tx = self.tx(Wall::Token(&token)).await?;
        if !enter_token_tenant(&mut tx, ENROLLMENT_TENANT, &token).await? {
            self.commit(tx).await?;
            return Ok(());
        }
        sqlx::query(
            "UPDATE enrollments SET pending_totp = $1 WHERE token_hash = $2 AND used_ms IS NULL",
        )
        .bind(sealed)
        .bind(token.as_bytes())
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn consume_enrollment(&self, token: TokenHash, at_ms: i64) -> Result<bool> {
        let mut tx = self.tx(Wall::Token(&token)).await?;
        if !enter_token_tenant(&mut tx, ENROLLMENT_TENANT, &token).await? {
            self.commit(tx).await?;
            return Ok(false);
        }
        let r = sqlx::query(
            "UPDATE enrollments SET used_ms = $1 \
             WHERE token_hash = $2 AND used_ms IS NULL AND expires_ms > $1",
        )
        .bind(at_ms)
        .bind(token.as_bytes())
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(r.rows_affected() == 1)
    }

    async fn create_challenge(
        &self,
        scope: &TenantScope,
        user: UserId,
        token: TokenHash,
        expires_ms: i64,
        client: &ClientInfo,
    ) -> Result<()> {
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        sqlx::query(
            "INSERT INTO mfa_challenges \
             (token_hash, tenant_id, user_id, expires_ms, ip, user_agent, device) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token.as_bytes())
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .bind(expires_ms)
        .bind(&client.ip)
        .bind(&client.user_agent)
        .bind(&client.device)
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn attempt_challenge(&self, token: TokenHash) -> Result<Option<Challenge>> {
        let mut tx = self.tx(Wall::Token(&token)).await?;
        if !enter_token_tenant(&mut tx, CHALLENGE_TENANT, &token).await? {
            self.commit(tx).await?;
            return Ok(None);
        }
        let row: Option<ChallengeRow> = sqlx::query_as(
            "UPDATE mfa_challenges SET attempts = attempts + 1 WHERE token_hash = $1 \
             RETURNING tenant_id, user_id, expires_ms, attempts, used_ms, ip, user_agent, device",
        )
        .bind(token.as_bytes())
        .fetch_optional(&mut *tx)
        .await?;
        self.commit(tx).await?;
        row.map(ChallengeRow::into_record).transpose()
    }

    async fn consume_challenge(&self, token: TokenHash, at_ms: i64) -> Result<bool> {
        let mut tx = self.tx(Wall::Token(&token)).await?;
        if !enter_token_tenant(&mut tx, CHALLENGE_TENANT, &token).await? {
            self.commit(tx).await?;
            return Ok(false);
        }
        let r = sqlx::query(
            "UPDATE mfa_challenges SET used_ms = $1 WHERE token_hash = $2 AND used_ms IS NULL",
        )
        .bind(at_ms)
        .bind(token.as_bytes())
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(r.rows_affected() == 1)
    }

    // --- password reset links ------------------------------------------------------------

    async fn create_password_reset(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        token: TokenHash,
        expires_ms: i64,
        at_ms: i64,
    ) -> Result<()> {
        let link = (PASSWORD_RESET_SUPERSEDE, PASSWORD_RESET_INSERT);
        issue_link(self, link, tx, user, token, expires_ms, at_ms).await
    }

    async fn password_reset(&self, token: TokenHash) -> Result<Option<PasswordReset>> {
        let mut read = self.read(Wall::Token(&token)).await?;
        let row: Option<PasswordResetRow> = sqlx::query_as(
            "SELECT tenant_id, user_id, expires_ms, used_ms FROM password_resets \
             WHERE token_hash = $1",
        )
        .bind(token.as_bytes())
        .fetch_optional(&mut *read)
        .await?;
        done(read).await?;
        row.map(PasswordResetRow::into_record).transpose()
    }

    /// Behind the link's own tenant wall (the lookup named it): the link, the password and the
    /// sessions change together or not at all.
    async fn reset_password(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        token: TokenHash,
        hash: String,
        at_ms: i64,
    ) -> Result<Option<Vec<Session>>> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let used = sqlx::query(
            "UPDATE password_resets SET used_ms = $1 \
             WHERE token_hash = $2 AND tenant_id = $3 AND user_id = $4 AND used_ms IS NULL \
             AND expires_ms > $1",
        )
        .bind(at_ms)
        .bind(token.as_bytes())
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let ended = set_password_in(&mut tx, scope, user, hash, None, at_ms).await?;
        // An enrollment link still out would let whoever set this password bind a second factor.
        void_links(&mut tx, ENROLLMENT_VOID, scope, user, at_ms).await?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(Some(ended))
    }
}

/// Sets the hash and ends the user's sessions (but `keep`), inside the caller's transaction.
async fn set_password_in(
    tx: &mut Tx,
    scope: &TenantScope,
    user: UserId,
    hash: String,
    keep: Option<SessionId>,
    at_ms: i64,
) -> Result<Vec<Session>> {
    let r = sqlx::query("UPDATE users SET password_hash = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(hash)
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .execute(&mut **tx)
        .await?;
    if r.rows_affected() != 1 {
        return Err(StoreError::NotFound("user"));
    }
    // Any new password voids the reset links still out.
    void_links(tx, PASSWORD_RESET_SUPERSEDE, scope, user, at_ms).await?;
    end_user_sessions_in(tx, scope, user, keep, EndReason::PasswordChanged, at_ms).await
}

/// Marks a user's unused links of one kind used (`sql`: [`ENROLLMENT_VOID`] or
/// [`PASSWORD_RESET_SUPERSEDE`]), inside the caller's transaction.
pub(crate) async fn void_links(
    tx: &mut Tx,
    sql: &'static str,
    scope: &TenantScope,
    user: UserId,
    at_ms: i64,
) -> Result<()> {
    sqlx::query(sql)
        .bind(at_ms)
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A new single-use link for a user (`link`: the statements that void the user's unused links
/// of that kind and insert the new one: enrollment or password reset), with its audit entry.
async fn issue_link(
    s: &Backend,
    link: (&'static str, &'static str),
    change: TenantTx<'_>,
    user: UserId,
    token: TokenHash,
    expires_ms: i64,
    at_ms: i64,
) -> Result<()> {
    let (scope, audit) = change.into_parts();
    let mut tx = s.tx(Wall::Tenant(scope)).await?;
    // The user's row is the lock: two links issued at once (two administrators, two nodes)
    // cannot both stay live.
    lock_user(&mut tx, scope, user).await?;
    void_links(&mut tx, link.0, scope, user, at_ms).await?;
    sqlx::query(link.1)
        .bind(token.as_bytes())
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .bind(expires_ms)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
    append_in(&mut tx, audit).await?;
    s.commit(tx).await?;
    Ok(())
}
