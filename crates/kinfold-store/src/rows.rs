//! Row shapes as both backends return them (sqlx decodes the same Rust types from SQLite and
//! PostgreSQL columns), and their conversion into records.

use sqlx::QueryBuilder;

use crate::ids::FromDb;
use crate::outbox::*;
use crate::*;

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    id: String,
    slug: String,
    name: String,
    created_ms: i64,
    session_idle_secs: Option<i64>,
    max_sessions: Option<i64>,
}

/// The columns a [`TenantRow`] reads, in every query that reads one.
pub(crate) const TENANT_COLUMNS: &str =
    "id, slug, name, created_ms, session_idle_secs, max_sessions";

impl TenantRow {
    pub(crate) fn into_tenant(self) -> Result<Tenant> {
        Ok(Tenant {
            id: TenantId::from_db(&self.id)?,
            slug: self.slug,
            name: self.name,
            created_ms: self.created_ms,
            sessions: CenterSessionPolicy {
                idle_timeout_secs: self.session_idle_secs,
                max_sessions: self.max_sessions,
            },
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
    deactivated_ms: Option<i64>,
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
            deactivated_ms: self.deactivated_ms,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClassroomRow {
    id: String,
    name: String,
    age_group: Option<String>,
    capacity: Option<i64>,
    archived_ms: Option<i64>,
    version: i64,
}

impl ClassroomRow {
    pub(crate) fn into_classroom(self) -> Result<Classroom> {
        let age_group = match self.age_group.as_deref() {
            None => None,
            Some(g) => Some(AgeGroup::parse(g).ok_or(StoreError::Corrupt("classroom age group"))?),
        };
        let capacity = match self.capacity {
            None => None,
            Some(c) => {
                Some(u32::try_from(c).map_err(|_| StoreError::Corrupt("classroom capacity"))?)
            }
        };
        Ok(Classroom {
            id: ClassroomId::from_db(&self.id)?,
            name: self.name,
            age_group,
            capacity,
            archived: self.archived_ms.is_some(),
            version: self.version,
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
pub(crate) struct PasswordResetRow {
    tenant_id: String,
    user_id: String,
    expires_ms: i64,
    used_ms: Option<i64>,
}

impl PasswordResetRow {
    pub(crate) fn into_record(self) -> Result<PasswordReset> {
        Ok(PasswordReset {
            scope: TenantScope::new(TenantId::from_db(&self.tenant_id)?),
            user_id: UserId::from_db(&self.user_id)?,
            expires_ms: self.expires_ms,
            used_ms: self.used_ms,
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
    u_deactivated_ms: Option<i64>,
    t_slug: String,
    t_name: String,
    t_created_ms: i64,
    t_session_idle_secs: Option<i64>,
    t_max_sessions: Option<i64>,
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
            deactivated_ms: self.u_deactivated_ms,
        };
        let tenant = Tenant {
            id: session.tenant_id,
            slug: self.t_slug,
            name: self.t_name,
            created_ms: self.t_created_ms,
            sessions: CenterSessionPolicy {
                idle_timeout_secs: self.t_session_idle_secs,
                max_sessions: self.t_max_sessions,
            },
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

#[derive(sqlx::FromRow)]
pub(crate) struct ChildWithPickupsRow {
    #[sqlx(flatten)]
    child: ChildRow,
    pickups: String,
}

#[derive(serde::Deserialize)]
struct PickupJson {
    id: String,
    name: String,
    relation: String,
    photo_id: String,
    version: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChildRow {
    tenant_id: String,
    id: String,
    given_name: String,
    family_name: String,
    preferred_name: Option<String>,
    date_of_birth: String,
    classroom_id: Option<String>,
    status: String,
    enrolled_on: Option<String>,
    left_on: Option<String>,
    allergies: Option<Vec<u8>>,
    medical_notes: Option<Vec<u8>>,
    emergency_contacts: Option<Vec<u8>>,
    created_ms: i64,
    updated_ms: i64,
    version: i64,
}

impl ChildRow {
    pub(crate) fn into_child(self) -> Result<Child> {
        Ok(Child {
            id: ChildId::from_db(&self.id)?,
            tenant_id: TenantId::from_db(&self.tenant_id)?,
            given_name: self.given_name,
            family_name: self.family_name,
            preferred_name: self.preferred_name,
            date_of_birth: self.date_of_birth,
            classroom_id: self
                .classroom_id
                .as_deref()
                .map(ClassroomId::from_db)
                .transpose()?,
            status: self.status,
            enrolled_on: self.enrolled_on,
            left_on: self.left_on,
            sealed: SealedChildFields {
                allergies: self.allergies,
                medical_notes: self.medical_notes,
                emergency_contacts: self.emergency_contacts,
            },
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
            version: self.version,
        })
    }
}

impl ChildWithPickupsRow {
    /// The child and its authorized pickups (aggregated as a JSON array by the query).
    pub(crate) fn into_parts(self, id: ChildId) -> Result<(Child, Vec<Pickup>)> {
        let list: Vec<PickupJson> =
            serde_json::from_str(&self.pickups).map_err(|_| StoreError::Corrupt("pickups"))?;
        let pickups = list
            .into_iter()
            .map(|p| {
                Ok(Pickup {
                    id: PickupId::from_db(&p.id)?,
                    child_id: id,
                    name: p.name,
                    relation: p.relation,
                    photo_id: p.photo_id,
                    version: p.version,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((self.child.into_child()?, pickups))
    }
}

/// Deliveries per multi-row INSERT: 11 parameters each, well under both backends' limits.
const DELIVERIES_PER_INSERT: usize = 500;

/// The outbox rows of one message (E1), the same SQL on both backends: the message's INSERT,
/// then one multi-row INSERT per 500 deliveries, so an announcement to a whole center costs a
/// few statements, not one per guardian.
pub(crate) fn message_inserts<'a, DB>(
    tenant: &str,
    m: &NewMessage,
    deliveries: &[NewDelivery],
) -> (QueryBuilder<'a, DB>, Vec<QueryBuilder<'a, DB>>)
where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut message = QueryBuilder::new(
        "INSERT INTO email_messages (tenant_id, id, category, created_by, body, created_ms) ",
    );
    message.push_values([m], |mut row, m| {
        row.push_bind(tenant.to_owned())
            .push_bind(m.id.to_string())
            .push_bind(m.category.clone())
            .push_bind(m.created_by.map(|u| u.to_string()))
            .push_bind(m.body.clone())
            .push_bind(m.created_ms);
    });
    let batches = deliveries
        .chunks(DELIVERIES_PER_INSERT)
        .map(|chunk| {
            let mut b = QueryBuilder::new(
                "INSERT INTO email_deliveries (tenant_id, id, message_id, recipient_id, \
                 recipient_name, address, header_id, state, next_ms, response, updated_ms) ",
            );
            b.push_values(chunk, |mut row, d| {
                row.push_bind(tenant.to_owned())
                    .push_bind(d.id.to_string())
                    .push_bind(m.id.to_string())
                    .push_bind(d.recipient_id.clone())
                    .push_bind(d.recipient_name.clone())
                    .push_bind(d.address.clone())
                    .push_bind(d.header_id.clone())
                    .push_bind(d.state.as_str().to_owned())
                    .push_bind(m.created_ms)
                    .push_bind(d.response.clone())
                    .push_bind(m.created_ms);
            });
            b
        })
        .collect();
    (message, batches)
}

/// Appends the visibility condition to a query over `children c` (same SQL on both backends).
pub(crate) fn push_visibility<DB>(b: &mut QueryBuilder<'_, DB>, scope: &TenantScope, v: Visibility)
where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    match v {
        Visibility::All => {}
        Visibility::None => {
            b.push(" AND FALSE");
        }
        Visibility::ClassroomsOf(user) => {
            b.push(
                " AND c.classroom_id IN \
                 (SELECT classroom_id FROM staff_assignments WHERE tenant_id = ",
            )
            .push_bind(scope.tenant_id().to_string())
            .push(" AND user_id = ")
            .push_bind(user.to_string())
            .push(")");
        }
        Visibility::GuardianUser(user) => {
            b.push(
                " AND c.id IN (SELECT cg.child_id FROM child_guardians cg JOIN guardians g \
                 ON g.tenant_id = cg.tenant_id AND g.id = cg.guardian_id WHERE cg.tenant_id = ",
            )
            .push_bind(scope.tenant_id().to_string())
            .push(" AND g.user_id = ")
            .push_bind(user.to_string())
            .push(" AND cg.custody <> 'court_restricted')");
        }
    }
}

pub(crate) use crate::outbox_rows::*;
