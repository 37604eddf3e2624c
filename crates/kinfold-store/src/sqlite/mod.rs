//! The SQLite backend: one encrypted file (SQLCipher, AES-256), WAL mode.
//!
//! Writes go through a pool of one connection, so SQLite's single writer never sees
//! `SQLITE_BUSY` from our own process and every write transaction reads the latest chain head.
//! Reads use a separate pool.

mod audit;
mod auth;
mod children;
mod dialect;
mod guardians;
mod outbox;
mod sealed;
// The statements written once for both stores (see `sql/mod.rs`), compiled for this one.
#[allow(clippy::duplicate_mod)]
#[path = "../sql/mod.rs"]
mod sql;
mod tenants;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use kinfold_audit::{Checkpoint, Draft, Entry};
use kinfold_crypto::keyring::MasterKey;
use kinfold_crypto::token::TokenHash;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::rows;
use crate::*;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

// The throttles' counters: one body for both stores (`attempts.rs`).
crate::attempts::attempt_store_for!(SqliteStore, writer);
crate::replays::replay_store_for!(SqliteStore, begin);

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "kinfold.db";

impl SqliteStore {
    /// Opens (creating if needed) `DIR/kinfold.db`, keyed from the master key.
    pub async fn open(dir: &Path, key: &MasterKey, readers: u32) -> Result<Self> {
        // OpenSSL (SQLCipher's cipher) is initialized before the first connection, without its
        // exit-time cleanup (`OPENSSL_INIT_NO_ATEXIT`): at exit that cleanup frees OpenSSL's
        // global state while sqlx's connection threads may still be closing connections, a
        // double free that aborted a test binary once. The OS reclaims the memory instead.
        openssl_sys::init();
        let path = dir.join(DB_FILE);
        // `x'..'` is SQLCipher's raw-key form: the 256-bit key is used as is, without PBKDF2.
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(&path)
            .pragma("key", format!("\"x'{}'\"", key.sqlcipher_key_hex()))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Byte order, under PostgreSQL's name for it, so shared statements sort alike.
            .collation("C", |a: &str, b: &str| a.cmp(b))
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(readers.max(1))
            .connect_with(opts.read_only(true))
            .await?;
        Ok(Self { writer, reader })
    }

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin().await?)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<Vec<(i64, String)>> {
        let mut conn = self.writer.acquire().await?;
        let applied = sql::migrate(&mut conn).await?;
        drop(conn);
        if !applied.is_empty() {
            // A read connection keeps the schema it loaded: a statement prepared on it after a
            // migration that added columns gets the old `SELECT *` column count (and sqlx's
            // row then panics on the new one). Idle ones are closed; the pool opens fresh ones.
            // Migrations run before the store serves, so none is busy.
            while let Some(idle) = self.reader.try_acquire() {
                idle.close().await?;
            }
        }
        Ok(applied)
    }

    async fn ready(&self) -> Result<bool> {
        let applied = applied_versions(&self.reader).await?;
        Ok(crate::migrations::is_current(&applied))
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    async fn create_tenant(
        &self,
        new: NewTenant,
        audit: Vec<Draft>,
    ) -> Result<(Tenant, TenantScope)> {
        tenants::create_tenant(self, new, audit).await
    }

    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<(Tenant, TenantScope)>> {
        tenants::tenant_by_slug(self, slug).await
    }

    async fn tenant_by_id(&self, id: TenantId) -> Result<Option<(Tenant, TenantScope)>> {
        tenants::tenant_by_id(self, id).await
    }

    async fn tenants(&self) -> Result<Vec<(Tenant, TenantScope)>> {
        tenants::tenants(self).await
    }

    async fn tenant(&self, scope: &TenantScope) -> Result<Tenant> {
        tenants::tenant(self, scope).await
    }

    async fn data_key(&self, scope: &TenantScope, version: u32) -> Result<Option<Vec<u8>>> {
        tenants::data_key(self, scope, version).await
    }

    async fn current_data_key(&self, scope: &TenantScope) -> Result<Option<(u32, Vec<u8>)>> {
        tenants::current_data_key(self, scope).await
    }

    async fn insert_data_key(
        &self,
        scope: &TenantScope,
        version: u32,
        wrapped: Vec<u8>,
        at_ms: i64,
    ) -> Result<()> {
        tenants::insert_data_key(self, scope, version, wrapped, at_ms).await
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        tenants::signing_keys(self).await
    }

    async fn insert_signing_key(&self, key: SigningKeyRecord, audit: Vec<Draft>) -> Result<()> {
        tenants::insert_signing_key(self, key, audit).await
    }

    async fn create_user(
        &self,
        scope: &TenantScope,
        new: NewUser,
        audit: Vec<Draft>,
    ) -> Result<User> {
        auth::create_user(self, scope, new, audit).await
    }
    async fn user(&self, scope: &TenantScope, id: UserId) -> Result<Option<User>> {
        auth::user(&self.reader, scope, id).await
    }
    async fn user_by_email(&self, scope: &TenantScope, email: &str) -> Result<Option<User>> {
        auth::user_by_email(&self.reader, scope, email).await
    }
    async fn users(&self, scope: &TenantScope) -> Result<Vec<User>> {
        auth::users(&self.reader, scope).await
    }
    async fn set_password(
        &self,
        scope: &TenantScope,
        user: UserId,
        hash: String,
        keep: Option<SessionId>,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<Vec<Session>> {
        auth::set_password(self, scope, user, hash, keep, at_ms, audit).await
    }
    async fn set_totp(
        &self,
        scope: &TenantScope,
        user: UserId,
        sealed: Vec<u8>,
        step: i64,
        recovery: Vec<TokenHash>,
        audit: Vec<Draft>,
    ) -> Result<()> {
        auth::set_totp(self, scope, user, sealed, step, recovery, audit).await
    }
    async fn set_pending_totp(
        &self,
        scope: &TenantScope,
        user: UserId,
        sealed: Option<Vec<u8>>,
    ) -> Result<()> {
        sqlx::query("UPDATE users SET pending_totp = ? WHERE tenant_id = ? AND id = ?")
            .bind(sealed)
            .bind(scope.tenant_id().to_string())
            .bind(user.to_string())
            .execute(&self.writer)
            .await?;
        Ok(())
    }
    async fn reset_mfa(
        &self,
        scope: &TenantScope,
        user: UserId,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<Vec<Session>> {
        auth::reset_mfa(self, scope, user, at_ms, audit).await
    }
    async fn advance_totp_step(
        &self,
        scope: &TenantScope,
        user: UserId,
        step: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE users SET totp_last_step = ?1 WHERE tenant_id = ?2 AND id = ?3 \
             AND (totp_last_step IS NULL OR totp_last_step < ?1)",
        )
        .bind(step)
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }
    async fn use_recovery_code(
        &self,
        scope: &TenantScope,
        user: UserId,
        code: TokenHash,
        at_ms: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE recovery_codes SET used_ms = ? WHERE tenant_id = ? AND user_id = ? \
             AND code_hash = ? AND used_ms IS NULL",
        )
        .bind(at_ms)
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .bind(code.as_bytes())
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }
    async fn unused_recovery_codes(&self, scope: &TenantScope, user: UserId) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE tenant_id = ? AND user_id = ? AND used_ms IS NULL",
        )
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .fetch_one(&self.reader)
        .await?)
    }

    async fn create_enrollment(
        &self,
        scope: &TenantScope,
        user: UserId,
        token: TokenHash,
        expires_ms: i64,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<()> {
        let link = (rows::ENROLLMENT_VOID, rows::ENROLLMENT_INSERT);
        auth::issue_link(self, link, scope, user, token, expires_ms, at_ms, audit).await
    }
    async fn enrollment(&self, token: TokenHash) -> Result<Option<Enrollment>> {
        let row: Option<rows::EnrollmentRow> = sqlx::query_as(
            "SELECT tenant_id, user_id, expires_ms, used_ms, pending_totp FROM enrollments WHERE token_hash = ?",
        )
        .bind(token.as_bytes())
        .fetch_optional(&self.writer)
        .await?;
        row.map(rows::EnrollmentRow::into_record).transpose()
    }
    async fn set_enrollment_secret(&self, token: TokenHash, sealed: Vec<u8>) -> Result<()> {
        sqlx::query(
            "UPDATE enrollments SET pending_totp = ? WHERE token_hash = ? AND used_ms IS NULL",
        )
        .bind(sealed)
        .bind(token.as_bytes())
        .execute(&self.writer)
        .await?;
        Ok(())
    }
    async fn consume_enrollment(&self, token: TokenHash, at_ms: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE enrollments SET used_ms = ?1 WHERE token_hash = ?2 AND used_ms IS NULL AND expires_ms > ?1",
        )
        .bind(at_ms)
        .bind(token.as_bytes())
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }
    async fn create_password_reset(
        &self,
        scope: &TenantScope,
        user: UserId,
        token: TokenHash,
        expires_ms: i64,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<()> {
        auth::create_password_reset(self, scope, user, token, expires_ms, at_ms, audit).await
    }
    async fn password_reset(&self, token: TokenHash) -> Result<Option<PasswordReset>> {
        auth::password_reset(self, token).await
    }
    async fn reset_password(
        &self,
        reset: &PasswordReset,
        token: TokenHash,
        hash: String,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<Option<Vec<Session>>> {
        auth::reset_password(self, reset, token, hash, at_ms, audit).await
    }
    async fn create_challenge(
        &self,
        scope: &TenantScope,
        user: UserId,
        token: TokenHash,
        expires_ms: i64,
        client: &ClientInfo,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO mfa_challenges (token_hash, tenant_id, user_id, expires_ms, ip, user_agent, device) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(token.as_bytes())
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .bind(expires_ms)
        .bind(&client.ip)
        .bind(&client.user_agent)
        .bind(&client.device)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
    async fn attempt_challenge(&self, token: TokenHash) -> Result<Option<Challenge>> {
        let row: Option<rows::ChallengeRow> = sqlx::query_as(
            "UPDATE mfa_challenges SET attempts = attempts + 1 WHERE token_hash = ? \
             RETURNING tenant_id, user_id, expires_ms, attempts, used_ms, ip, user_agent, device",
        )
        .bind(token.as_bytes())
        .fetch_optional(&self.writer)
        .await?;
        row.map(rows::ChallengeRow::into_record).transpose()
    }
    async fn consume_challenge(&self, token: TokenHash, at_ms: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE mfa_challenges SET used_ms = ? WHERE token_hash = ? AND used_ms IS NULL",
        )
        .bind(at_ms)
        .bind(token.as_bytes())
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn create_session(
        &self,
        scope: &TenantScope,
        new: NewSession,
        cap: u32,
        audit: Vec<Draft>,
    ) -> Result<(Session, Vec<Session>)> {
        auth::create_session(self, scope, new, cap, audit).await
    }
    async fn session_by_token(&self, token: TokenHash) -> Result<Option<SessionContext>> {
        auth::session_by_token(&self.reader, token).await
    }
    async fn touch_session(&self, scope: &TenantScope, id: SessionId, at_ms: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_ms = MAX(last_seen_ms, ?) WHERE tenant_id = ? AND id = ?")
            .bind(at_ms)
            .bind(scope.tenant_id().to_string())
            .bind(id.to_string())
            .execute(&self.writer)
            .await?;
        Ok(())
    }
    async fn end_session(
        &self,
        scope: &TenantScope,
        id: SessionId,
        user: Option<UserId>,
        reason: EndReason,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<Option<Session>> {
        auth::end_session(self, scope, id, user, reason, at_ms, audit).await
    }
    async fn end_user_sessions(
        &self,
        scope: &TenantScope,
        user: UserId,
        reason: EndReason,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<Vec<Session>> {
        let mut tx = self.begin().await?;
        let ended = auth::end_user_sessions_in(&mut tx, scope, user, None, reason, at_ms).await?;
        audit::append_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(ended)
    }
    async fn live_sessions(&self, scope: &TenantScope, user: UserId) -> Result<Vec<Session>> {
        auth::live_sessions(&self.reader, scope, user).await
    }

    async fn append_audit(&self, drafts: Vec<Draft>) -> Result<Vec<Entry>> {
        let mut tx = self.begin().await?;
        let entries = audit::append_in(&mut tx, drafts).await?;
        tx.commit().await?;
        Ok(entries)
    }
    async fn audit_page(&self, chain: &str, query: &AuditQuery) -> Result<Vec<Entry>> {
        audit::page(&self.reader, chain, query).await
    }
    async fn audit_chain(&self, chain: &str) -> Result<Vec<Entry>> {
        audit::whole_chain(&self.reader, chain).await
    }
    async fn audit_head(&self, chain: &str) -> Result<Option<(i64, String)>> {
        audit::head(&self.reader, chain).await
    }
    async fn audit_chains(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT chain FROM audit_log ORDER BY chain")
                .fetch_all(&self.reader)
                .await?,
        )
    }
    async fn checkpoints(&self, chain: &str) -> Result<Vec<Checkpoint>> {
        audit::checkpoints(&self.reader, chain).await
    }
    async fn last_checkpoint_seq(&self, chain: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints WHERE chain = ?",
        )
        .bind(chain)
        .fetch_one(&self.reader)
        .await?)
    }
    async fn insert_checkpoint(&self, cp: Checkpoint) -> Result<()> {
        audit::insert_checkpoint(&self.writer, cp).await
    }

    async fn append_api_access(&self, entries: &[ApiAccess]) -> Result<()> {
        let mut by_tenant: std::collections::BTreeMap<TenantId, Vec<&ApiAccess>> =
            Default::default();
        for e in entries {
            by_tenant.entry(e.tenant_id).or_default().push(e);
        }
        let mut tx = self.begin().await?;
        for (tenant, list) in by_tenant {
            let first = list.iter().map(|e| e.at_ms).min().unwrap_or_default();
            let last = list.iter().map(|e| e.at_ms).max().unwrap_or_default();
            let json = crate::drafts::encode_access_segment(list.iter().copied())?;
            sqlx::query("INSERT INTO api_access_segments (tenant_id, first_ms, last_ms, entries) VALUES (?, ?, ?, ?)")
                .bind(tenant.to_string())
                .bind(first)
                .bind(last)
                .bind(json)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn api_access_page(
        &self,
        scope: &TenantScope,
        category: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<StoredApiAccess>, Option<i64>)> {
        let mut out = Vec::new();
        let mut cursor = before.unwrap_or(i64::MAX);
        loop {
            let segments: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, entries FROM api_access_segments WHERE tenant_id = ? AND id < ? ORDER BY id DESC LIMIT 20",
            )
            .bind(scope.tenant_id().to_string())
            .bind(cursor)
            .fetch_all(&self.reader)
            .await?;
            let fetched = segments.len();
            for (id, json) in segments {
                cursor = id;
                let mut list = crate::drafts::decode_access_segment(&json)?;
                list.reverse();
                out.extend(
                    list.into_iter()
                        .filter(|e| category.is_none_or(|c| e.category == c)),
                );
                if out.len() >= limit as usize {
                    return Ok((out, Some(cursor)));
                }
            }
            if fetched < 20 {
                return Ok((out, None));
            }
        }
    }

    async fn insert_csp_report(&self, at_ms: i64, report: String) -> Result<()> {
        sqlx::query("INSERT INTO csp_reports (at_ms, report) VALUES (?, ?)")
            .bind(at_ms)
            .bind(report)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
    async fn csp_report_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM csp_reports")
            .fetch_one(&self.reader)
            .await?)
    }
}

async fn applied_versions(pool: &SqlitePool) -> Result<Vec<i64>> {
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await?;
    if exists == 0 {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1")
            .fetch_all(pool)
            .await?,
    )
}
