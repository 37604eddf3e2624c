//! Row shapes as both backends return them (sqlx decodes the same Rust types from SQLite and
//! PostgreSQL columns), and their conversion into records.

use crate::*;

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    id: String,
    slug: String,
    name: String,
    created_ms: i64,
}

impl TenantRow {
    pub(crate) fn into_tenant(self) -> Result<Tenant> {
        Ok(Tenant {
            id: TenantId::from_db(&self.id)?,
            slug: self.slug,
            name: self.name,
            created_ms: self.created_ms,
        })
    }

    pub(crate) fn into_scoped(self) -> Result<(Tenant, TenantScope)> {
        let t = self.into_tenant()?;
        let scope = TenantScope::new(t.id);
        Ok((t, scope))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    tenant_id: String,
    id: String,
    email: String,
    name: String,
    role: String,
    password_hash: Option<String>,
    totp_sealed: Option<Vec<u8>>,
    totp_last_step: Option<i64>,
    pending_totp: Option<Vec<u8>>,
    created_ms: i64,
}

impl UserRow {
    pub(crate) fn into_user(self) -> Result<User> {
        Ok(User {
            id: UserId::from_db(&self.id)?,
            tenant_id: TenantId::from_db(&self.tenant_id)?,
            email: self.email,
            name: self.name,
            role: Role::parse(&self.role).ok_or(StoreError::Corrupt("role"))?,
            password_hash: self.password_hash,
            totp_sealed: self.totp_sealed,
            totp_last_step: self.totp_last_step,
            pending_totp: self.pending_totp,
            created_ms: self.created_ms,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    tenant_id: String,
    id: String,
    user_id: String,
    created_ms: i64,
    last_seen_ms: i64,
    expires_ms: i64,
    ip: Option<String>,
    user_agent: Option<String>,
    device: Option<String>,
    ended_ms: Option<i64>,
    end_reason: Option<String>,
}

impl SessionRow {
    pub(crate) fn into_session(self) -> Result<Session> {
        Ok(Session {
            id: SessionId::from_db(&self.id)?,
            tenant_id: TenantId::from_db(&self.tenant_id)?,
            user_id: UserId::from_db(&self.user_id)?,
            created_ms: self.created_ms,
            last_seen_ms: self.last_seen_ms,
            expires_ms: self.expires_ms,
            ip: self.ip,
            user_agent: self.user_agent,
            device: self.device,
            ended_ms: self.ended_ms,
            end_reason: self.end_reason,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EnrollmentRow {
    tenant_id: String,
    user_id: String,
    expires_ms: i64,
    used_ms: Option<i64>,
    pending_totp: Option<Vec<u8>>,
}

impl EnrollmentRow {
    pub(crate) fn into_record(self) -> Result<Enrollment> {
        Ok(Enrollment {
            scope: TenantScope::new(TenantId::from_db(&self.tenant_id)?),
            user_id: UserId::from_db(&self.user_id)?,
            expires_ms: self.expires_ms,
            used_ms: self.used_ms,
            pending_totp: self.pending_totp,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChallengeRow {
    tenant_id: String,
    user_id: String,
    expires_ms: i64,
    attempts: i64,
    used_ms: Option<i64>,
    ip: Option<String>,
    user_agent: Option<String>,
    device: Option<String>,
}

impl ChallengeRow {
    pub(crate) fn into_record(self) -> Result<Challenge> {
        Ok(Challenge {
            scope: TenantScope::new(TenantId::from_db(&self.tenant_id)?),
            user_id: UserId::from_db(&self.user_id)?,
            expires_ms: self.expires_ms,
            attempts: self.attempts,
            used_ms: self.used_ms,
            client: ClientInfo {
                ip: self.ip,
                user_agent: self.user_agent,
                device: self.device,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EntryRow {
    chain: String,
    seq: i64,
    at_ms: i64,
    category: String,
    kind: String,
    actor: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    device: Option<String>,
    event: String,
    prev_hash: String,
    hash: String,
}

impl From<EntryRow> for kinfold_audit::Entry {
    fn from(r: EntryRow) -> Self {
        kinfold_audit::Entry {
            chain: r.chain,
            seq: r.seq,
            at_ms: r.at_ms,
            category: r.category,
            kind: r.kind,
            actor: r.actor,
            ip: r.ip,
            user_agent: r.user_agent,
            device: r.device,
            event: r.event,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionContextRow {
    #[sqlx(flatten)]
    session: SessionRow,
    u_email: String,
    u_name: String,
    u_role: String,
    u_password_hash: Option<String>,
    u_totp_sealed: Option<Vec<u8>>,
    u_totp_last_step: Option<i64>,
    u_pending_totp: Option<Vec<u8>>,
    u_created_ms: i64,
    t_slug: String,
    t_name: String,
    t_created_ms: i64,
}

impl SessionContextRow {
    pub(crate) fn into_context(self) -> Result<SessionContext> {
        let session = self.session.into_session()?;
        let scope = TenantScope::new(session.tenant_id);
        let user = User {
            id: session.user_id,
            tenant_id: session.tenant_id,
            email: self.u_email,
            name: self.u_name,
            role: Role::parse(&self.u_role).ok_or(StoreError::Corrupt("role"))?,
            password_hash: self.u_password_hash,
            totp_sealed: self.u_totp_sealed,
            totp_last_step: self.u_totp_last_step,
            pending_totp: self.u_pending_totp,
            created_ms: self.u_created_ms,
        };
        let tenant = Tenant {
            id: session.tenant_id,
            slug: self.t_slug,
            name: self.t_name,
            created_ms: self.t_created_ms,
        };
        Ok(SessionContext {
            session,
            user,
            tenant,
            scope,
        })
    }
}

pub(crate) type MailDomainRow = (String, String, Vec<u8>, String, Vec<u8>, i64);

pub(crate) fn mail_domain(r: MailDomainRow) -> MailDomain {
    MailDomain {
        domain: r.0,
        rsa_selector: r.1,
        rsa_key: r.2,
        ed25519_selector: r.3,
        ed25519_key: r.4,
        created_ms: r.5,
    }
}
