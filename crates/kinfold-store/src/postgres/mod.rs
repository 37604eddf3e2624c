//! The PostgreSQL backend, for deployments that outgrow one machine.
//!
//! Every tenant table has row-level security, enabled and forced; each transaction states its
//! scope first ([`wall`]). The server connects as a role that owns no table and is neither a
//! superuser nor `BYPASSRLS` ([`setup`]), so a query that forgets `WHERE tenant_id` still sees
//! one tenant's rows at most.

mod audit;
mod auth;
mod dialect;
mod guardians;
mod outbox;
mod records;
mod sealed;
mod sessions;
mod setup;
// The statements written once for both stores (see `sql/mod.rs`), compiled for this one.
#[allow(clippy::duplicate_mod)]
#[path = "../sql/mod.rs"]
mod sql;
pub(crate) mod wall;

use std::path::Path;

use async_trait::async_trait;
use kinfold_audit::{Checkpoint, Draft, Entry};
use kinfold_crypto::keyring::MasterKey;
use kinfold_crypto::token::TokenHash;
use sqlx::PgPool;

pub use setup::PgOptions;
use wall::Wall;

use crate::rows;
use crate::*;

pub struct PgStore {
    pub(super) pool: PgPool,
    applied: std::sync::Mutex<Vec<(i64, String)>>,
}

// The throttles' counters: one body for both stores (`attempts.rs`).
crate::attempts::attempt_store_for!(PgStore, pool);
crate::replays::replay_store_for!(PgStore, platform_tx);

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgStore")
    }
}

impl PgStore {
    /// A transaction behind the platform wall: the tenant list, audit chains, webhook replay keys.
    async fn platform_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        wall::begin(&self.pool, Wall::Platform).await
    }

    /// Connects, preparing roles and schema first when the URL allows it (see [`setup`]).
    /// `dir` holds the app role's sealed password.
    pub async fn open(opts: &PgOptions, dir: &Path, key: &MasterKey) -> Result<Self> {
        let (pool, applied) = setup::open(opts, dir, key).await?;
        Ok(Self {
            pool,
            applied: std::sync::Mutex::new(applied),
        })
    }

    /// The serving pool, for tests that probe the wall directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Store for PgStore {
    /// Migrations run when the store opens, as the owner; this reports what that run applied.
    async fn migrate(&self) -> Result<Vec<(i64, String)>> {
        Ok(self
            .applied
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default())
    }

    async fn ready(&self) -> Result<bool> {
        let mut conn = self.pool.acquire().await?;
        let applied = setup::applied_versions(&mut conn).await?;
        Ok(crate::migrations::is_current(&applied))
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn create_tenant(
        &self,
        new: NewTenant,
        audit: Vec<Draft>,
    ) -> Result<(Tenant, TenantScope)> {
        let tenant = Tenant {
            id: TenantId::new(),
            slug: new.slug,
            name: new.name,
            created_ms: new.created_ms,
        };
        let scope = TenantScope::new(tenant.id);
        let mut tx = wall::begin(&self.pool, Wall::Tenant(&scope)).await?;
        sqlx::query("INSERT INTO tenants (id, slug, name, created_ms) VALUES ($1, $2, $3, $4)")
            .bind(tenant.id.to_string())
            .bind(&tenant.slug)
            .bind(&tenant.name)
            .bind(tenant.created_ms)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_insert(e, "tenant"))?;
        let audit = audit
            .into_iter()
            .map(|mut d| {
                d.chain = scope.chain();
                d
            })
            .collect();
        audit::append_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok((tenant, scope))
    }

    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<(Tenant, TenantScope)>> {
        let mut tx = wall::begin(&self.pool, Wall::Slug(slug)).await?;
        let row: Option<rows::TenantRow> =
            sqlx::query_as("SELECT id, slug, name, created_ms FROM tenants WHERE slug = $1")
                .bind(slug)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        row.map(rows::TenantRow::into_scoped).transpose()
    }

    async fn tenant_by_id(&self, id: TenantId) -> Result<Option<(Tenant, TenantScope)>> {
        let mut tx = wall::begin(&self.pool, Wall::TenantId(id)).await?;
        let row: Option<rows::TenantRow> =
            sqlx::query_as("SELECT id, slug, name, created_ms FROM tenants WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        row.map(rows::TenantRow::into_scoped).transpose()
    }

    async fn tenants(&self) -> Result<Vec<(Tenant, TenantScope)>> {
        let mut tx = self.platform_tx().await?;
        let rows: Vec<rows::TenantRow> = sqlx::query_as(
            "SELECT id, slug, name, created_ms FROM tenants ORDER BY slug COLLATE \"C\"",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(rows::TenantRow::into_scoped).collect()
    }

    async fn tenant(&self, scope: &TenantScope) -> Result<Tenant> {
        let mut tx = wall::begin(&self.pool, Wall::Tenant(scope)).await?;
        let row: rows::TenantRow =
            sqlx::query_as("SELECT id, slug, name, created_ms FROM tenants WHERE id = $1")
                .bind(scope.tenant_id().to_string())
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        row.into_tenant()
    }

    async fn data_key(&self, scope: &TenantScope, version: u32) -> Result<Option<Vec<u8>>> {
        let mut tx = wall::begin(&self.pool, Wall::Tenant(scope)).await?;
        let key = sqlx::query_scalar(
            "SELECT wrapped FROM data_keys WHERE tenant_id = $1 AND version = $2",
        )
        .bind(scope.tenant_id().to_string())
        .bind(i64::from(version))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(key)
    }

    async fn current_data_key(&self, scope: &TenantScope) -> Result<Option<(u32, Vec<u8>)>> {
        let mut tx = wall::begin(&self.pool, Wall::Tenant(scope)).await?;
        let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT version, wrapped FROM data_keys WHERE tenant_id = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(scope.tenant_id().to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|(v, w)| {
            Ok((
                u32::try_from(v).map_err(|_| StoreError::Corrupt("key version"))?,
                w,
            ))
        })
        .transpose()
    }

    async fn insert_data_key(
        &self,
        scope: &TenantScope,
        version: u32,
        wrapped: Vec<u8>,
        at_ms: i64,
    ) -> Result<()> {
        let mut tx = wall::begin(&self.pool, Wall::Tenant(scope)).await?;
        sqlx::query(
            "INSERT INTO data_keys (tenant_id, version, wrapped, created_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(scope.tenant_id().to_string())
        .bind(i64::from(version))
        .bind(wrapped)
        .bind(at_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "data key"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        let rows: Vec<(String, Vec<u8>, String, i64, bool)> = sqlx::query_as(
            "SELECT id, wrapped, public_key, created_ms, active FROM signing_keys ORDER BY created_ms",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, wrapped, public_key, created_ms, active)| SigningKeyRecord {
                    id,
                    wrapped,
                    public_key,
                    created_ms,
                    active,
                },
            )
            .collect())
    }

    async fn insert_signing_key(&self, key: SigningKeyRecord, audit: Vec<Draft>) -> Result<()> {
        let mut tx = self.platform_tx().await?;
        sqlx::query(
            "INSERT INTO signing_keys (id, wrapped, public_key, created_ms, active) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.id)
        .bind(&key.wrapped)
        .bind(&key.public_key)
        .bind(key.created_ms)
        .bind(key.active)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "signing key"))?;
        audit::append_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
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
        auth::user(self, scope, id).await
    }
    async fn user_by_email(&self, scope: &TenantScope, email: &str) -> Result<Option<User>> {
        auth::user_by_email(self, scope, email).await
    }
    async fn users(&self, scope: &TenantScope) -> Result<Vec<User>> {
        auth::users(self, scope).await
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
        auth::set_pending_totp(self, scope, user, sealed).await
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
        auth::advance_totp_step(self, scope, user, step).await
    }
    async fn use_recovery_code(
        &self,
        scope: &TenantScope,
        user: UserId,
        code: TokenHash,
        at_ms: i64,
    ) -> Result<bool> {
        auth::use_recovery_code(self, scope, user, code, at_ms).await
    }
    async fn unused_recovery_codes(&self, scope: &TenantScope, user: UserId) -> Result<i64> {
        auth::unused_recovery_codes(self, scope, user).await
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
        auth::create_enrollment(self, scope, user, token, expires_ms, at_ms, audit).await
    }
    async fn enrollment(&self, token: TokenHash) -> Result<Option<Enrollment>> {
        auth::enrollment(self, token).await
    }
    async fn set_enrollment_secret(&self, token: TokenHash, sealed: Vec<u8>) -> Result<()> {
        auth::set_enrollment_secret(self, token, sealed).await
    }
    async fn consume_enrollment(&self, token: TokenHash, at_ms: i64) -> Result<bool> {
        auth::consume_enrollment(self, token, at_ms).await
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
        auth::create_challenge(self, scope, user, token, expires_ms, client).await
    }
    async fn attempt_challenge(&self, token: TokenHash) -> Result<Option<Challenge>> {
        auth::attempt_challenge(self, token).await
    }
    async fn consume_challenge(&self, token: TokenHash, at_ms: i64) -> Result<bool> {
        auth::consume_challenge(self, token, at_ms).await
    }

    async fn create_session(
        &self,
        scope: &TenantScope,
        new: NewSession,
        cap: u32,
        audit: Vec<Draft>,
    ) -> Result<(Session, Vec<Session>)> {
        sessions::create_session(self, scope, new, cap, audit).await
    }
    async fn session_by_token(&self, token: TokenHash) -> Result<Option<SessionContext>> {
        sessions::session_by_token(self, token).await
    }
    async fn touch_session(&self, scope: &TenantScope, id: SessionId, at_ms: i64) -> Result<()> {
        sessions::touch_session(self, scope, id, at_ms).await
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
        sessions::end_session(self, scope, id, user, reason, at_ms, audit).await
    }
    async fn end_user_sessions(
        &self,
        scope: &TenantScope,
        user: UserId,
        reason: EndReason,
        at_ms: i64,
        audit: Vec<Draft>,
    ) -> Result<Vec<Session>> {
        sessions::end_user_sessions(self, scope, user, reason, at_ms, audit).await
    }
    async fn live_sessions(&self, scope: &TenantScope, user: UserId) -> Result<Vec<Session>> {
        sessions::live_sessions(self, scope, user).await
    }

    async fn append_audit(&self, drafts: Vec<Draft>) -> Result<Vec<Entry>> {
        let mut tx = self.platform_tx().await?;
        let entries = audit::append_in(&mut tx, drafts).await?;
        tx.commit().await?;
        Ok(entries)
    }
    async fn audit_page(&self, chain: &str, query: &AuditQuery) -> Result<Vec<Entry>> {
        audit::page(&self.pool, chain, query).await
    }
    async fn audit_chain(&self, chain: &str) -> Result<Vec<Entry>> {
        audit::whole_chain(&self.pool, chain).await
    }
    async fn audit_head(&self, chain: &str) -> Result<Option<(i64, String)>> {
        audit::head(&self.pool, chain).await
    }
    async fn audit_chains(&self) -> Result<Vec<String>> {
        audit::chains(&self.pool).await
    }
    async fn checkpoints(&self, chain: &str) -> Result<Vec<Checkpoint>> {
        audit::checkpoints(&self.pool, chain).await
    }
    async fn last_checkpoint_seq(&self, chain: &str) -> Result<i64> {
        audit::last_checkpoint_seq(&self.pool, chain).await
    }
    async fn insert_checkpoint(&self, cp: Checkpoint) -> Result<()> {
        audit::insert_checkpoint(&self.pool, cp).await
    }

    async fn append_api_access(&self, entries: &[ApiAccess]) -> Result<()> {
        let mut by_tenant: std::collections::BTreeMap<TenantId, Vec<&ApiAccess>> =
            Default::default();
        for e in entries {
            by_tenant.entry(e.tenant_id).or_default().push(e);
        }
        let mut tx = self.pool.begin().await?;
        for (tenant, list) in by_tenant {
            // One transaction, each segment written behind its own tenant's wall.
            wall::set(&mut tx, Wall::TenantId(tenant)).await?;
            let first = list.iter().map(|e| e.at_ms).min().unwrap_or_default();
            let last = list.iter().map(|e| e.at_ms).max().unwrap_or_default();
            let json = crate::drafts::encode_access_segment(list.iter().copied())?;
            sqlx::query(
                "INSERT INTO api_access_segments (tenant_id, first_ms, last_ms, entries) VALUES ($1, $2, $3, $4)",
            )
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
        let mut tx = wall::begin(&self.pool, Wall::Tenant(scope)).await?;
        loop {
            let segments: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, entries FROM api_access_segments WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT 20",
            )
            .bind(scope.tenant_id().to_string())
            .bind(cursor)
            .fetch_all(&mut *tx)
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
                    tx.commit().await?;
                    return Ok((out, Some(cursor)));
                }
            }
            if fetched < 20 {
                tx.commit().await?;
                return Ok((out, None));
            }
        }
    }

    async fn insert_csp_report(&self, at_ms: i64, report: String) -> Result<()> {
        sqlx::query("INSERT INTO csp_reports (at_ms, report) VALUES ($1, $2)")
            .bind(at_ms)
            .bind(report)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn csp_report_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM csp_reports")
            .fetch_one(&self.pool)
            .await?)
    }
}
