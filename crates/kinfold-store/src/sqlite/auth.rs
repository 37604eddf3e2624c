//! Users, MFA and sessions in SQLite.

use kinfold_audit::Draft;
use kinfold_crypto::token::TokenHash;
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::audit::append_in;
use super::SqliteStore;
use crate::drafts::name_new_row;
use crate::rows::{
    PasswordResetRow, SessionContextRow, SessionRow, UserRow, ENROLLMENT_VOID, PASSWORD_RESET_FIND,
    PASSWORD_RESET_INSERT, PASSWORD_RESET_SUPERSEDE, PASSWORD_RESET_USE,
};
use crate::*;

pub(super) async fn create_user(
    s: &SqliteStore,
    scope: &TenantScope,
    new: NewUser,
    audit: Vec<Draft>,
) -> Result<User> {
    let id = UserId::new();
    let mut tx = s.begin().await?;
    sqlx::query(
        "INSERT INTO users (tenant_id, id, email, name, role, password_hash, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
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

pub(super) async fn user(
    pool: &SqlitePool,
    scope: &TenantScope,
    id: UserId,
) -> Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as("SELECT * FROM users WHERE tenant_id = ? AND id = ?")
        .bind(scope.tenant_id().to_string())
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?;
    row.map(UserRow::into_user).transpose()
}

pub(super) async fn user_by_email(
    pool: &SqlitePool,
    scope: &TenantScope,
    email: &str,
) -> Result<Option<User>> {
    let row: Option<UserRow> =
        sqlx::query_as("SELECT * FROM users WHERE tenant_id = ? AND email = ?")
            .bind(scope.tenant_id().to_string())
            .bind(email)
            .fetch_optional(pool)
            .await?;
    row.map(UserRow::into_user).transpose()
}

pub(super) async fn users(pool: &SqlitePool, scope: &TenantScope) -> Result<Vec<User>> {
    let rows: Vec<UserRow> =
        sqlx::query_as("SELECT * FROM users WHERE tenant_id = ? ORDER BY email")
            .bind(scope.tenant_id().to_string())
            .fetch_all(pool)
            .await?;
    rows.into_iter().map(UserRow::into_user).collect()
}

pub(super) async fn set_password(
    s: &SqliteStore,
    scope: &TenantScope,
    user: UserId,
    hash: String,
    keep: Option<SessionId>,
    at_ms: i64,
    audit: Vec<Draft>,
) -> Result<Vec<Session>> {
    let mut tx = s.begin().await?;
    let ended = set_password_in(&mut tx, scope, user, hash, keep, at_ms).await?;
    append_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(ended)
}

/// Sets the hash and ends the user's sessions (but `keep`), inside the caller's transaction.
async fn set_password_in(
    tx: &mut Transaction<'static, Sqlite>,
    scope: &TenantScope,
    user: UserId,
    hash: String,
    keep: Option<SessionId>,
    at_ms: i64,
) -> Result<Vec<Session>> {
    let r = sqlx::query("UPDATE users SET password_hash = ? WHERE tenant_id = ? AND id = ?")
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
    tx: &mut Transaction<'static, Sqlite>,
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
    s: &SqliteStore,
    scope: &TenantScope,
    user: UserId,
    sealed: Vec<u8>,
    step: i64,
    recovery: Vec<TokenHash>,
    audit: Vec<Draft>,
) -> Result<()> {
    let t = scope.tenant_id().to_string();
    let u = user.to_string();
    let mut tx = s.begin().await?;
    let r = sqlx::query(
        "UPDATE users SET totp_sealed = ?, totp_last_step = ?, pending_totp = NULL WHERE tenant_id = ? AND id = ?",
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
    sqlx::query("DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ?")
        .bind(&t)
        .bind(&u)
        .execute(&mut *tx)
        .await?;
    for code in recovery {
        sqlx::query("INSERT INTO recovery_codes (tenant_id, user_id, code_hash) VALUES (?, ?, ?)")
            .bind(&t)
            .bind(&u)
            .bind(code.as_bytes().to_vec())
            .execute(&mut *tx)
            .await?;
    }
    append_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn reset_mfa(
    s: &SqliteStore,
    scope: &TenantScope,
    user: UserId,
    at_ms: i64,
    audit: Vec<Draft>,
) -> Result<Vec<Session>> {
    let t = scope.tenant_id().to_string();
    let u = user.to_string();
    let mut tx = s.begin().await?;
    let r = sqlx::query(
        "UPDATE users SET totp_sealed = NULL, totp_last_step = NULL, pending_totp = NULL WHERE tenant_id = ? AND id = ?",
    )
    .bind(&t)
    .bind(&u)
    .execute(&mut *tx)
    .await?;
    if r.rows_affected() != 1 {
        return Err(StoreError::NotFound("user"));
    }
    sqlx::query("DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ?")
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

pub(super) async fn create_session(
    s: &SqliteStore,
    scope: &TenantScope,
    new: NewSession,
    cap: u32,
    audit: Vec<Draft>,
) -> Result<(Session, Vec<Session>)> {
    let t = scope.tenant_id().to_string();
    let mut tx = s.begin().await?;
    sqlx::query(
        "INSERT INTO sessions (tenant_id, id, token_hash, user_id, created_ms, last_seen_ms, expires_ms, ip, user_agent, device) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&t)
    .bind(new.id.to_string())
    .bind(new.token.as_bytes().to_vec())
    .bind(new.user_id.to_string())
    .bind(new.created_ms)
    .bind(new.created_ms)
    .bind(new.expires_ms)
    .bind(&new.client.ip)
    .bind(&new.client.user_agent)
    .bind(&new.client.device)
    .execute(&mut *tx)
    .await?;
    // Oldest first by creation time; everything beyond the newest `cap` is evicted.
    let live: Vec<SessionRow> = sqlx::query_as(
        "SELECT * FROM sessions WHERE tenant_id = ? AND user_id = ? AND ended_ms IS NULL AND expires_ms > ? \
         ORDER BY created_ms DESC, id DESC",
    )
    .bind(&t)
    .bind(new.user_id.to_string())
    .bind(new.created_ms)
    .fetch_all(&mut *tx)
    .await?;
    let mut evicted = Vec::new();
    for row in live.into_iter().skip(cap.max(1) as usize) {
        let mut sess = row.into_session()?;
        sqlx::query(
            "UPDATE sessions SET ended_ms = ?, end_reason = ? WHERE tenant_id = ? AND id = ?",
        )
        .bind(new.created_ms)
        .bind(EndReason::Evicted.as_str())
        .bind(&t)
        .bind(sess.id.to_string())
        .execute(&mut *tx)
        .await?;
        sess.ended_ms = Some(new.created_ms);
        sess.end_reason = Some(EndReason::Evicted.as_str().to_owned());
        evicted.push(sess);
    }
    let mut drafts = audit;
    for e in &evicted {
        let mut d = Draft::new(
            scope.chain(),
            new.created_ms,
            kinfold_audit::Event::SessionEvicted {
                user_id: e.user_id.to_string(),
                session_id: e.id.to_string(),
                duration_secs: e.duration_secs(new.created_ms),
            },
        );
        d.actor = Some(e.user_id.to_string());
        d.ip = new.client.ip.clone();
        d.user_agent = new.client.user_agent.clone();
        d.device = new.client.device.clone();
        drafts.push(d);
    }
    append_in(&mut tx, drafts).await?;
    tx.commit().await?;
    let session = Session {
        id: new.id,
        tenant_id: scope.tenant_id(),
        user_id: new.user_id,
        created_ms: new.created_ms,
        last_seen_ms: new.created_ms,
        expires_ms: new.expires_ms,
        ip: new.client.ip,
        user_agent: new.client.user_agent,
        device: new.client.device,
        ended_ms: None,
        end_reason: None,
    };
    Ok((session, evicted))
}

pub(super) async fn session_by_token(
    pool: &SqlitePool,
    token: TokenHash,
) -> Result<Option<SessionContext>> {
    // One round trip: the session with its user and tenant.
    let row: Option<SessionContextRow> = sqlx::query_as(
        "SELECT s.tenant_id, s.id, s.user_id, s.created_ms, s.last_seen_ms, s.expires_ms, s.ip, s.user_agent, \
                s.device, s.ended_ms, s.end_reason, \
                u.email AS u_email, u.name AS u_name, u.role AS u_role, u.password_hash AS u_password_hash, \
                u.totp_sealed AS u_totp_sealed, u.totp_last_step AS u_totp_last_step, \
                u.pending_totp AS u_pending_totp, u.created_ms AS u_created_ms, \
                t.slug AS t_slug, t.name AS t_name, t.created_ms AS t_created_ms \
         FROM sessions s \
         JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id \
         JOIN tenants t ON t.id = s.tenant_id \
         WHERE s.token_hash = ?",
    )
    .bind(token.as_bytes().to_vec())
    .fetch_optional(pool)
    .await?;
    row.map(SessionContextRow::into_context).transpose()
}

pub(super) async fn end_session(
    s: &SqliteStore,
    scope: &TenantScope,
    id: SessionId,
    only_user: Option<UserId>,
    reason: EndReason,
    at_ms: i64,
    audit: Vec<Draft>,
) -> Result<Option<Session>> {
    let mut tx = s.begin().await?;
    let row: Option<SessionRow> = sqlx::query_as(
        "UPDATE sessions SET ended_ms = ?, end_reason = ? \
         WHERE tenant_id = ? AND id = ? AND ended_ms IS NULL AND (? IS NULL OR user_id = ?) RETURNING *",
    )
    .bind(at_ms)
    .bind(reason.as_str())
    .bind(scope.tenant_id().to_string())
    .bind(id.to_string())
    .bind(only_user.map(|u| u.to_string()))
    .bind(only_user.map(|u| u.to_string()))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    append_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(Some(row.into_session()?))
}

pub(super) async fn end_user_sessions_in(
    tx: &mut Transaction<'static, Sqlite>,
    scope: &TenantScope,
    user: UserId,
    keep: Option<SessionId>,
    reason: EndReason,
    at_ms: i64,
) -> Result<Vec<Session>> {
    let rows: Vec<SessionRow> = sqlx::query_as(
        "UPDATE sessions SET ended_ms = ?, end_reason = ? \
         WHERE tenant_id = ? AND user_id = ? AND ended_ms IS NULL AND (? IS NULL OR id != ?) RETURNING *",
    )
    .bind(at_ms)
    .bind(reason.as_str())
    .bind(scope.tenant_id().to_string())
    .bind(user.to_string())
    .bind(keep.map(|k| k.to_string()))
    .bind(keep.map(|k| k.to_string()))
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter().map(SessionRow::into_session).collect()
}

pub(super) async fn live_sessions(
    pool: &SqlitePool,
    scope: &TenantScope,
    user: UserId,
) -> Result<Vec<Session>> {
    let rows: Vec<SessionRow> = sqlx::query_as(
        "SELECT * FROM sessions WHERE tenant_id = ? AND user_id = ? AND ended_ms IS NULL ORDER BY created_ms DESC",
    )
    .bind(scope.tenant_id().to_string())
    .bind(user.to_string())
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(SessionRow::into_session).collect()
}

// --- password reset links ------------------------------------------------------------

pub(super) async fn create_password_reset(
    s: &SqliteStore,
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
    s: &SqliteStore,
    link: (&'static str, &'static str),
    scope: &TenantScope,
    user: UserId,
    token: TokenHash,
    expires_ms: i64,
    at_ms: i64,
    audit: Vec<Draft>,
) -> Result<()> {
    let mut tx = s.begin().await?;
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

pub(super) async fn password_reset(
    s: &SqliteStore,
    token: TokenHash,
) -> Result<Option<PasswordReset>> {
    let row: Option<PasswordResetRow> = sqlx::query_as(PASSWORD_RESET_FIND)
        .bind(token.as_bytes())
        .fetch_optional(&s.writer)
        .await?;
    row.map(PasswordResetRow::into_record).transpose()
}

pub(super) async fn reset_password(
    s: &SqliteStore,
    reset: &PasswordReset,
    token: TokenHash,
    hash: String,
    at_ms: i64,
    audit: Vec<Draft>,
) -> Result<Option<Vec<Session>>> {
    let mut tx = s.begin().await?;
    let used = sqlx::query(PASSWORD_RESET_USE)
        .bind(at_ms)
        .bind(token.as_bytes())
        .bind(reset.scope.tenant_id().to_string())
        .bind(reset.user_id.to_string())
        .execute(&mut *tx)
        .await?;
    if used.rows_affected() != 1 {
        return Ok(None);
    }
    let ended = set_password_in(&mut tx, &reset.scope, reset.user_id, hash, None, at_ms).await?;
    // An enrollment link still out would let whoever set this password bind a second factor.
    void_links(&mut tx, ENROLLMENT_VOID, &reset.scope, reset.user_id, at_ms).await?;
    append_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(Some(ended))
}
