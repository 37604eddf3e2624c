//! Sessions (A4): one body for both stores. Each write runs behind its tenant's wall; a
//! lookup by token starts behind the token's wall (A5).

use async_trait::async_trait;
use kinfold_audit::Draft;
use kinfold_crypto::token::TokenHash;
use sqlx::QueryBuilder;

use super::{
    append_in, done, enter_token_tenant, for_share, for_update, lock_user, Backend, Db, Tx,
};
use crate::rows::{SessionContextRow, SessionRow};
use crate::sessions::SessionStore;
use crate::wall::Wall;
use crate::TenantTx;
use crate::{
    CenterSessionPolicy, ClientInfo, EndReason, NewSession, Result, Session, SessionContext,
    SessionId, TenantScope, UserId,
};

/// Sessions ended per UPDATE on eviction: one parameter each, far under both databases' limits.
const EVICTED_PER_UPDATE: usize = 500;

#[async_trait]
impl SessionStore for Backend {
    async fn create_session(
        &self,
        tx: TenantTx<'_>,
        new: NewSession,
        operator_cap: u32,
    ) -> Result<(Session, Vec<Session>)> {
        let (scope, audit) = tx.into_parts();
        let t = scope.tenant_id().to_string();
        let u = new.user_id.to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        // Sessions of one user are created one at a time, across nodes: under PostgreSQL's
        // READ COMMITTED a concurrent creator's new session is not in our snapshot, so locking
        // only the live sessions would let two creators each count one too few and both skip
        // eviction. The user row is the lock.
        lock_user(&mut tx, scope, new.user_id).await?;
        // Under that lock a deactivation either came first (and no session is made) or waits
        // for this one and ends it.
        let deactivated: Option<Option<i64>> =
            sqlx::query_scalar("SELECT deactivated_ms FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(&t)
                .bind(&u)
                .fetch_optional(&mut *tx)
                .await?;
        if !matches!(deactivated, Some(None)) {
            return Err(crate::StoreError::NotFound("user"));
        }
        // The center's cap is read here, under a share lock on its row, not with the tenant
        // the caller signed in with: a change of the policy commits before this read (and
        // this session is held to it) or waits for this commit (and its own eviction then
        // sees this session). Read earlier, a sign-in racing a lower cap kept one too many.
        let center: Option<i64> =
            sqlx::query_scalar(&for_share("SELECT max_sessions FROM tenants WHERE id = $1"))
                .bind(&t)
                .fetch_one(&mut *tx)
                .await?;
        let cap = CenterSessionPolicy {
            idle_timeout_secs: None,
            max_sessions: center,
        }
        .cap_within(operator_cap);
        sqlx::query(
            "INSERT INTO sessions (tenant_id, id, token_hash, user_id, created_ms, last_seen_ms, \
             expires_ms, ip, user_agent, device) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9)",
        )
        .bind(&t)
        .bind(new.id.to_string())
        .bind(new.token.as_bytes())
        .bind(&u)
        .bind(new.created_ms)
        .bind(new.expires_ms)
        .bind(&new.client.ip)
        .bind(&new.client.user_agent)
        .bind(&new.client.device)
        .execute(&mut *tx)
        .await?;
        // Oldest first by creation time; everything beyond the newest `cap` is evicted. The live
        // sessions stay locked until commit, so no one else ends or touches them meanwhile.
        let live: Vec<SessionRow> = sqlx::query_as(&for_update(
            "SELECT * FROM sessions \
             WHERE tenant_id = $1 AND user_id = $2 AND ended_ms IS NULL AND expires_ms > $3 \
             ORDER BY created_ms DESC, id DESC",
        ))
        .bind(&t)
        .bind(&u)
        .bind(new.created_ms)
        .fetch_all(&mut *tx)
        .await?;
        let mut evicted = live
            .into_iter()
            .skip(cap as usize)
            .map(SessionRow::into_session)
            .collect::<Result<Vec<_>>>()?;
        end_evicted(&mut tx, scope, &mut evicted, new.created_ms).await?;
        let mut drafts = audit;
        drafts.extend(evicted_drafts(
            scope,
            &evicted,
            new.created_ms,
            Some(&new.client),
        ));
        append_in(&mut tx, drafts).await?;
        self.commit(tx).await?;
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

    async fn session_by_token(&self, token: TokenHash) -> Result<Option<SessionContext>> {
        // Every request without a cached session comes here: on SQLite it is one query on the
        // read pool. On PostgreSQL only the session itself shows behind the token wall, so the
        // wall moves to its tenant first (the session stays visible) to join user and tenant.
        let mut read = self.read(Wall::Token(&token)).await?;
        if !enter_token_tenant(&mut read, SESSION_TENANT, &token).await? {
            done(read).await?;
            return Ok(None);
        }
        let row: Option<SessionContextRow> = sqlx::query_as(
            "SELECT s.tenant_id, s.id, s.user_id, s.created_ms, s.last_seen_ms, s.expires_ms, \
                    s.ip, s.user_agent, s.device, s.ended_ms, s.end_reason, \
                    u.email AS u_email, u.name AS u_name, u.role AS u_role, \
                    u.password_hash AS u_password_hash, u.totp_sealed AS u_totp_sealed, \
                    u.totp_last_step AS u_totp_last_step, u.pending_totp AS u_pending_totp, \
                    u.created_ms AS u_created_ms, u.deactivated_ms AS u_deactivated_ms, \
                    t.slug AS t_slug, t.name AS t_name, t.created_ms AS t_created_ms, \
                    t.session_idle_secs AS t_session_idle_secs, t.max_sessions AS t_max_sessions \
             FROM sessions s \
             JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id \
             JOIN tenants t ON t.id = s.tenant_id \
             WHERE s.token_hash = $1",
        )
        .bind(token.as_bytes())
        .fetch_optional(&mut *read)
        .await?;
        done(read).await?;
        row.map(SessionContextRow::into_context).transpose()
    }

    async fn touch_session(&self, scope: &TenantScope, id: SessionId, at_ms: i64) -> Result<()> {
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        // Only forward: a late touch from a slower request leaves a newer time in place.
        sqlx::query(
            "UPDATE sessions SET last_seen_ms = $1 \
             WHERE tenant_id = $2 AND id = $3 AND last_seen_ms < $1",
        )
        .bind(at_ms)
        .bind(scope.tenant_id().to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn end_session(
        &self,
        tx: TenantTx<'_>,
        id: SessionId,
        user: Option<UserId>,
        reason: EndReason,
        at_ms: i64,
    ) -> Result<Option<Session>> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let row: Option<SessionRow> = sqlx::query_as(
            "UPDATE sessions SET ended_ms = $1, end_reason = $2 \
             WHERE tenant_id = $3 AND id = $4 AND ended_ms IS NULL \
             AND (CAST($5 AS TEXT) IS NULL OR user_id = $5) RETURNING *",
        )
        .bind(at_ms)
        .bind(reason.as_str())
        .bind(scope.tenant_id().to_string())
        .bind(id.to_string())
        .bind(user.map(|u| u.to_string()))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // Nothing changed: no audit for a session that was not live here.
            self.commit(tx).await?;
            return Ok(None);
        };
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(Some(row.into_session()?))
    }

    async fn end_user_sessions(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        reason: EndReason,
        at_ms: i64,
    ) -> Result<Vec<Session>> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let ended = end_user_sessions_in(&mut tx, scope, user, None, reason, at_ms).await?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(ended)
    }

    async fn live_sessions(&self, scope: &TenantScope, user: UserId) -> Result<Vec<Session>> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let rows: Vec<SessionRow> = sqlx::query_as(
            "SELECT * FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND ended_ms IS NULL \
             ORDER BY created_ms DESC",
        )
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        rows.into_iter().map(SessionRow::into_session).collect()
    }
}

/// The tenant of the session a token opens (see `enter_token_tenant`).
const SESSION_TENANT: &str = "SELECT tenant_id FROM sessions WHERE token_hash = $1";

/// Ends every live session of `user` except `keep`, inside the caller's transaction (a password
/// change, an MFA reset, an administrator's sign-out of the user).
pub(crate) async fn end_user_sessions_in(
    tx: &mut Tx,
    scope: &TenantScope,
    user: UserId,
    keep: Option<SessionId>,
    reason: EndReason,
    at_ms: i64,
) -> Result<Vec<Session>> {
    let rows: Vec<SessionRow> = sqlx::query_as(
        "UPDATE sessions SET ended_ms = $1, end_reason = $2 \
         WHERE tenant_id = $3 AND user_id = $4 AND ended_ms IS NULL \
         AND (CAST($5 AS TEXT) IS NULL OR id <> $5) RETURNING *",
    )
    .bind(at_ms)
    .bind(reason.as_str())
    .bind(scope.tenant_id().to_string())
    .bind(user.to_string())
    .bind(keep.map(|k| k.to_string()))
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter().map(SessionRow::into_session).collect()
}

/// Every live session of the tenant beyond each person's newest `cap`, locked until commit: a
/// lower cap set by the center ends them with the change (A4).
pub(super) async fn beyond_cap(
    tx: &mut Tx,
    scope: &TenantScope,
    cap: u32,
    at_ms: i64,
) -> Result<Vec<Session>> {
    let live: Vec<SessionRow> = sqlx::query_as(&for_update(
        "SELECT * FROM sessions WHERE tenant_id = $1 AND ended_ms IS NULL AND expires_ms > $2 \
         ORDER BY user_id, created_ms DESC, id DESC",
    ))
    .bind(scope.tenant_id().to_string())
    .bind(at_ms)
    .fetch_all(&mut **tx)
    .await?;
    let mut beyond = Vec::new();
    let mut seen: Option<(String, u32)> = None;
    for row in live {
        let s = row.into_session()?;
        let user = s.user_id.to_string();
        let n = match &seen {
            Some((u, n)) if *u == user => n + 1,
            _ => 1,
        };
        seen = Some((user, n));
        if n > cap.max(1) {
            beyond.push(s);
        }
    }
    Ok(beyond)
}

/// Ends each of `sessions` as evicted at `at_ms`, in the caller's transaction.
pub(super) async fn end_evicted(
    tx: &mut Tx,
    scope: &TenantScope,
    sessions: &mut [Session],
    at_ms: i64,
) -> Result<()> {
    let t = scope.tenant_id().to_string();
    for chunk in sessions.chunks(EVICTED_PER_UPDATE) {
        let mut b: QueryBuilder<Db> = QueryBuilder::new("UPDATE sessions SET ended_ms = ");
        b.push_bind(at_ms)
            .push(", end_reason = ")
            .push_bind(EndReason::Evicted.as_str())
            .push(" WHERE tenant_id = ")
            .push_bind(&t)
            .push(" AND id IN (");
        let mut ids = b.separated(", ");
        for sess in chunk {
            ids.push_bind(sess.id.to_string());
        }
        ids.push_unseparated(")");
        b.build().execute(&mut **tx).await?;
    }
    for sess in sessions.iter_mut() {
        sess.ended_ms = Some(at_ms);
        sess.end_reason = Some(EndReason::Evicted.as_str().to_owned());
    }
    Ok(())
}

/// A `session_evicted` entry for each evicted session, in its person's name; with the client
/// whose sign-in evicted it, when one did.
pub(super) fn evicted_drafts(
    scope: &TenantScope,
    sessions: &[Session],
    at_ms: i64,
    client: Option<&ClientInfo>,
) -> Vec<Draft> {
    sessions
        .iter()
        .map(|e| {
            let mut d = Draft::new(
                scope.chain(),
                at_ms,
                kinfold_audit::Event::SessionEvicted {
                    user_id: e.user_id.to_string(),
                    session_id: e.id.to_string(),
                    duration_secs: e.duration_secs(at_ms),
                },
            );
            d.actor = Some(e.user_id.to_string());
            if let Some(c) = client {
                d.ip = c.ip.clone();
                d.user_agent = c.user_agent.clone();
                d.device = c.device.clone();
            }
            d
        })
        .collect()
}
