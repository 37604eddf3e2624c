//! Users, MFA, enrollment links, MFA challenges and password reset links in PostgreSQL, each
//! transaction behind the tenant wall (A5). Sessions are in `sessions.rs`.

use kinfold_audit::Draft;
use kinfold_crypto::token::TokenHash;
use sqlx::{Postgres, QueryBuilder, Transaction};

use super::audit::append_in;
use super::sessions::end_user_sessions_in;
use super::wall::{self, Wall};
use super::PgStore;
use crate::drafts::name_new_row;
use crate::rows::{
    ChallengeRow, EnrollmentRow, PasswordResetRow, UserRow, ENROLLMENT_INSERT, ENROLLMENT_VOID,
    PASSWORD_RESET_FIND, PASSWORD_RESET_INSERT, PASSWORD_RESET_SUPERSEDE, PASSWORD_RESET_USE,
};
use crate::*;

// --- users and MFA ---------------------------------------------------------------------

pub(super) async fn create_user(
    s: &PgStore,
    scope: &TenantScope,
    new: NewUser,
    audit: Vec<Draft>,
) -> Result<User> {
    let id = UserId::new();
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
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
    tx.commit().await?;
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
    })
}

pub(super) async fn user(s: &PgStore, scope: &TenantScope, id: UserId) -> Result<Option<User>> {
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
    let row: Option<UserRow> =
        sqlx::query_as("SELECT * FROM users WHERE tenant_id = $1 AND id = $2")
            .bind(scope.tenant_id().to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    row.map(UserRow::into_user).transpose()
}

pub(super) async fn user_by_email(
    s: &PgStore,
    scope: &TenantScope,
    email: &str,
) -> Result<Option<User>> {
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
    let row: Option<UserRow> =
        sqlx::query_as("SELECT * FROM users WHERE tenant_id = $1 AND email = $2")
            .bind(scope.tenant_id().to_string())
            .bind(email)
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    row.map(UserRow::into_user).transpose()
}

pub(super) async fn users(s: &PgStore, scope: &TenantScope) -> Result<Vec<User>> {
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
    let rows: Vec<UserRow> =
        sqlx::query_as("SELECT * FROM users WHERE tenant_id = $1 ORDER BY email COLLATE \"C\"")
            .bind(scope.tenant_id().to_string())
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    rows.into_iter().map(UserRow::into_user).collect()
}

pub(super) async fn set_password(
    s: &PgStore,
    scope: &TenantScope,
    user: UserId,
    hash: String,
    keep: Option<SessionId>,
    at_ms: i64,
    audit: Vec<Draft>,
) -> Result<Vec<Session>> {
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
    let ended = set_password_in(&mut tx, scope, user, hash, keep, at_ms).await?;
    append_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(ended)
}

/// Sets the hash and ends the user's sessions (but `keep`), inside the caller's transaction.
async fn set_password_in(
    tx: &mut Transaction<'static, Postgres>,
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
async fn void_links(
    tx: &mut Transaction<'static, Postgres>,
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

pub(super) async fn set_totp(
    s: &PgStore,
    scope: &TenantScope,
    user: UserId,
    sealed: Vec<u8>,
    step: i64,
    recovery: Vec<TokenHash>,
    audit: Vec<Draft>,
) -> Result<()> {
    let t = scope.tenant_id().to_string();
    let u = user.to_string();
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
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
    // One multi-row INSERT per 1,000 codes (3 parameters each, far under PostgreSQL's 65,535).
    for chunk in recovery.chunks(1000) {
        let mut b: QueryBuilder<Postgres> =
            QueryBuilder::new("INSERT INTO recovery_codes (tenant_id, user_id, code_hash) ");
        b.push_values(chunk, |mut row, code| {
            row.push_bind(t.clone())
                .push_bind(u.clone())
                .push_bind(code.as_bytes().to_vec());
        });
        b.build().execute(&mut *tx).await?;
    }
    append_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn set_pending_totp(
    s: &PgStore,
    scope: &TenantScope,
    user: UserId,
    sealed: Option<Vec<u8>>,
) -> Result<()> {
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
    sqlx::query("UPDATE users SET pending_totp = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(sealed)
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn reset_mfa(
    s: &PgStore,
    scope: &TenantScope,
    user: UserId,
    at_ms: i64,
    audit: Vec<Draft>,
) -> Result<Vec<Session>> {
    let t = scope.tenant_id().to_string();
    let u = user.to_string();
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
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
    tx.commit().await?;
    Ok(ended)
}

pub(super) async fn advance_totp_step(
    s: &PgStore,
    scope: &TenantScope,
    user: UserId,
    step: i64,
) -> Result<bool> {
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
    let r = sqlx::query(
        "UPDATE users SET totp_last_step = $1 WHERE tenant_id = $2 AND id = $3 \
         AND (totp_last_step IS NULL OR totp_last_step < $1)",
    )
    .bind(step)
    .bind(scope.tenant_id().to_string())
    .bind(user.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(r.rows_affected() == 1)
}

pub(super) async fn use_recovery_code(
    s: &PgStore,
    scope: &TenantScope,
    user: UserId,
    code: TokenHash,
    at_ms: i64,
) -> Result<bool> {
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
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
    tx.commit().await?;
    Ok(r.rows_affected() == 1)
}

pub(super) async fn unused_recovery_codes(
    s: &PgStore,
    scope: &TenantScope,
    user: UserId,
) -> Result<i64> {
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM recovery_codes \
         WHERE tenant_id = $1 AND user_id = $2 AND used_ms IS NULL",
    )
    .bind(scope.tenant_id().to_string())
    .bind(user.to_string())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(n)
}

// --- enrollment links and MFA challenges ----------------------------------------------

pub(super) async fn create_enrollment(
    s: &PgStore,
    scope: &TenantScope,
    user: UserId,
    token: TokenHash,
    expires_ms: i64,
    at_ms: i64,
    audit: Vec<Draft>,
) -> Result<()> {
    let link = (ENROLLMENT_VOID, ENROLLMENT_INSERT);
    issue_link(s, link, scope, user, token, expires_ms, at_ms, audit).await
}

pub(super) async fn enrollment(s: &PgStore, token: TokenHash) -> Result<Option<Enrollment>> {
    let mut tx = wall::begin(&s.pool, Wall::Token(&token)).await?;
    let row: Option<EnrollmentRow> = sqlx::query_as(
        "SELECT tenant_id, user_id, expires_ms, used_ms, pending_totp FROM enrollments \
         WHERE token_hash = $1",
    )
    .bind(token.as_bytes())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.map(EnrollmentRow::into_record).transpose()
}

/// Under the token wall, finds the tenant of the row the token opens (`find` selects its
/// `tenant_id`) and moves the transaction behind that tenant's wall, where writes are allowed.
/// False when the token opens nothing.
async fn enter_token_tenant(
    tx: &mut Transaction<'static, Postgres>,
    find: &'static str,
    token: &TokenHash,
) -> Result<bool> {
    let tenant: Option<String> = sqlx::query_scalar(find)
        .bind(token.as_bytes())
        .fetch_optional(&mut **tx)
        .await?;
    let Some(tenant) = tenant else {
        return Ok(false);
    };
    let id = TenantId::parse(&tenant).ok_or(StoreError::Corrupt("tenant id"))?;
    wall::set(tx, Wall::TenantId(id)).await?;
    Ok(true)
}

const ENROLLMENT_TENANT: &str = "SELECT tenant_id FROM enrollments WHERE token_hash = $1";
const CHALLENGE_TENANT: &str = "SELECT tenant_id FROM mfa_challenges WHERE token_hash = $1";

pub(super) async fn set_enrollment_secret(
    s: &PgStore,
    token: TokenHash,
    sealed: Vec<u8>,
) -> Result<()> {
    let mut tx = wall::begin(&s.pool, Wall::Token(&token)).await?;
    if !enter_token_tenant(&mut tx, ENROLLMENT_TENANT, &token).await? {
        tx.commit().await?;
        return Ok(());
    }
    sqlx::query(
        "UPDATE enrollments SET pending_totp = $1 WHERE token_hash = $2 AND used_ms IS NULL",
    )
    .bind(sealed)
    .bind(token.as_bytes())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn consume_enrollment(s: &PgStore, token: TokenHash, at_ms: i64) -> Result<bool> {
    let mut tx = wall::begin(&s.pool, Wall::Token(&token)).await?;
    if !enter_token_tenant(&mut tx, ENROLLMENT_TENANT, &token).await? {
        tx.commit().await?;
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
    tx.commit().await?;
    Ok(r.rows_affected() == 1)
}

pub(super) async fn create_challenge(
    s: &PgStore,
    scope: &TenantScope,
    user: UserId,
    token: TokenHash,
    expires_ms: i64,
    client: &ClientInfo,
) -> Result<()> {
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
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
    tx.commit().await?;
    Ok(())
}

pub(super) async fn attempt_challenge(s: &PgStore, token: TokenHash) -> Result<Option<Challenge>> {
    let mut tx = wall::begin(&s.pool, Wall::Token(&token)).await?;
    if !enter_token_tenant(&mut tx, CHALLENGE_TENANT, &token).await? {
        tx.commit().await?;
        return Ok(None);
    }
    let row: Option<ChallengeRow> = sqlx::query_as(
        "UPDATE mfa_challenges SET attempts = attempts + 1 WHERE token_hash = $1 \
         RETURNING tenant_id, user_id, expires_ms, attempts, used_ms, ip, user_agent, device",
    )
    .bind(token.as_bytes())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.map(ChallengeRow::into_record).transpose()
}

pub(super) async fn consume_challenge(s: &PgStore, token: TokenHash, at_ms: i64) -> Result<bool> {
    let mut tx = wall::begin(&s.pool, Wall::Token(&token)).await?;
    if !enter_token_tenant(&mut tx, CHALLENGE_TENANT, &token).await? {
        tx.commit().await?;
        return Ok(false);
    }
    let r = sqlx::query(
        "UPDATE mfa_challenges SET used_ms = $1 WHERE token_hash = $2 AND used_ms IS NULL",
    )
    .bind(at_ms)
    .bind(token.as_bytes())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(r.rows_affected() == 1)
}

// --- password reset links ------------------------------------------------------------

pub(super) async fn create_password_reset(
    s: &PgStore,
    scope: &TenantScope,
    user: UserId,
    token: TokenHash,
    expires_ms: i64,
    at_ms: i64,
    audit: Vec<Draft>,
) -> Result<()> {
    let link = (PASSWORD_RESET_SUPERSEDE, PASSWORD_RESET_INSERT);
    issue_link(s, link, scope, user, token, expires_ms, at_ms, audit).await
}

/// A new single-use link for a user (`link`: the statements that void the user's unused links
/// of that kind and insert the new one: enrollment or password reset), with its audit entry.
#[allow(clippy::too_many_arguments)]
pub(super) async fn issue_link(
    s: &PgStore,
    link: (&'static str, &'static str),
    scope: &TenantScope,
    user: UserId,
    token: TokenHash,
    expires_ms: i64,
    at_ms: i64,
    audit: Vec<Draft>,
) -> Result<()> {
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
    // The user's row is the lock: two links issued at once (two administrators, two nodes)
    // cannot both stay live.
    sqlx::query("SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE")
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
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
    tx.commit().await?;
    Ok(())
}

pub(super) async fn password_reset(s: &PgStore, token: TokenHash) -> Result<Option<PasswordReset>> {
    let mut tx = wall::begin(&s.pool, Wall::Token(&token)).await?;
    let row: Option<PasswordResetRow> = sqlx::query_as(PASSWORD_RESET_FIND)
        .bind(token.as_bytes())
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    row.map(PasswordResetRow::into_record).transpose()
}

/// Behind the link's own tenant wall (the lookup named it): the link, the password and the
/// sessions change together or not at all.
pub(super) async fn reset_password(
    s: &PgStore,
    reset: &PasswordReset,
    token: TokenHash,
    hash: String,
    at_ms: i64,
    audit: Vec<Draft>,
) -> Result<Option<Vec<Session>>> {
    let mut tx = wall::begin(&s.pool, Wall::Tenant(&reset.scope)).await?;
    let used = sqlx::query(PASSWORD_RESET_USE)
        .bind(at_ms)
        .bind(token.as_bytes())
        .bind(reset.scope.tenant_id().to_string())
        .bind(reset.user_id.to_string())
        .execute(&mut *tx)
        .await?;
    if used.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(None);
    }
    let ended = set_password_in(&mut tx, &reset.scope, reset.user_id, hash, None, at_ms).await?;
    // An enrollment link still out would let whoever set this password bind a second factor.
    void_links(&mut tx, ENROLLMENT_VOID, &reset.scope, reset.user_id, at_ms).await?;
    append_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(Some(ended))
}
