//! Outbox row shapes and the statements both backends run for them (E1, E7): audiences,
//! claimed and finished deliveries, provider reports, sending rates, held messages.

use crate::outbox::*;
use crate::*;

/// Guardians who can be written to (E1): `$1` the tenant, `$2` a classroom or NULL, `$3` a
/// child or NULL.
/// Their own address, else their login's; court-restricted links and archived children are
/// left out.
pub(crate) const AUDIENCE_SQL: &str = "SELECT DISTINCT g.id, g.name, \
     COALESCE(NULLIF(g.email, ''), u.email) AS address \
     FROM guardians g \
     JOIN child_guardians cg ON cg.tenant_id = g.tenant_id AND cg.guardian_id = g.id \
     JOIN children c ON c.tenant_id = cg.tenant_id AND c.id = cg.child_id \
     LEFT JOIN users u ON u.tenant_id = g.tenant_id AND u.id = g.user_id \
     WHERE g.tenant_id = $1 AND cg.custody <> 'court_restricted' AND c.status <> 'archived' \
       AND ($2 IS NULL OR c.classroom_id = $2) AND ($3 IS NULL OR c.id = $3) \
       AND COALESCE(NULLIF(g.email, ''), u.email) IS NOT NULL \
     ORDER BY g.id";

#[derive(sqlx::FromRow)]
pub(crate) struct RecipientRow {
    id: String,
    name: String,
    address: Option<String>,
}

impl RecipientRow {
    pub(crate) fn into_recipient(self) -> Result<Recipient> {
        Ok(Recipient {
            guardian_id: GuardianId::from_db(&self.id)?,
            name: self.name,
            address: self.address.unwrap_or_default(),
        })
    }
}

fn uuid_from_db(s: &str, what: &'static str) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(what))
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    id: String,
    pub(crate) message_id: String,
    recipient_id: String,
    recipient_name: String,
    address: String,
    header_id: String,
    attempts: i64,
}

impl ClaimedRow {
    pub(crate) fn into_claimed(
        self,
        scope: &TenantScope,
        category: String,
        created_by: Option<String>,
        body: Vec<u8>,
        lease: uuid::Uuid,
    ) -> Result<Claimed> {
        Ok(Claimed {
            scope: scope.clone(),
            id: uuid_from_db(&self.id, "delivery id")?,
            message_id: uuid_from_db(&self.message_id, "message id")?,
            recipient_id: self.recipient_id,
            recipient_name: self.recipient_name,
            address: self.address,
            header_id: self.header_id,
            attempts: self.attempts,
            category,
            created_by: created_by.as_deref().map(UserId::from_db).transpose()?,
            body,
            lease,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: String,
    recipient_id: String,
    address: String,
    header_id: String,
    state: String,
    attempts: i64,
    response: Option<String>,
    updated_ms: i64,
}

impl DeliveryRow {
    pub(crate) fn into_status(self) -> Result<DeliveryStatus> {
        Ok(DeliveryStatus {
            id: uuid_from_db(&self.id, "delivery id")?,
            recipient_id: self.recipient_id,
            address: self.address,
            header_id: self.header_id,
            state: DeliveryState::from_db(&self.state)?,
            attempts: self.attempts,
            response: self.response,
            updated_ms: self.updated_ms,
        })
    }
}

/// A delivery by its Message-ID (`$1`).
pub(crate) const FIND_BY_HEADER_SQL: &str = "SELECT tenant_id, id, address, header_id, state \
     FROM email_deliveries WHERE header_id = $1";

/// The latest delivery that reached the relay for the lower-cased address `$1`, with how many
/// tenants have one: a report without a Message-ID is matched only when that is one.
pub(crate) const FIND_BY_ADDRESS_SQL: &str = "SELECT tenant_id, id, address, header_id, state, \
     (SELECT COUNT(DISTINCT tenant_id) FROM email_deliveries \
        WHERE lower(address) = $1 AND state IN ('delivered', 'bounced')) \
     FROM email_deliveries WHERE lower(address) = $1 AND state IN ('delivered', 'bounced') \
     ORDER BY updated_ms DESC LIMIT 1";

pub(crate) type FoundByAddressRow = (String, String, String, String, String, i64);

/// A report changes the state only of a delivery that reached the relay.
pub(crate) const REPORT_SQL: &str = "UPDATE email_deliveries SET \
     state = CASE WHEN state IN ('delivered', 'bounced', 'failed') THEN COALESCE($1, state) \
             ELSE state END, \
     response = $2, updated_ms = $3 WHERE tenant_id = $4 AND id = $5 RETURNING address";

/// `$1` the tenant, `$2` since when.
pub(crate) const SENDING_COUNTS_SQL: &str = "SELECT \
     (SELECT COUNT(*) FROM email_deliveries WHERE tenant_id = $1 AND updated_ms >= $2 \
         AND state IN ('delivered', 'bounced')), \
     (SELECT COUNT(*) FROM email_deliveries WHERE tenant_id = $1 AND updated_ms >= $2 \
         AND state = 'bounced'), \
     (SELECT COUNT(*) FROM email_suppressions WHERE tenant_id = $1 AND at_ms >= $2 \
         AND reason = 'complaint')";

pub(crate) type FoundRow = (String, String, String, String, String);

pub(crate) fn found(r: FoundRow) -> Result<Found> {
    Ok(Found {
        scope: TenantScope::new(TenantId::from_db(&r.0)?),
        id: uuid_from_db(&r.1, "delivery id")?,
        address: r.2,
        header_id: r.3,
        state: DeliveryState::from_db(&r.4)?,
    })
}

/// `$1` the tenant, `$2` since when: recipients queued per hour.
pub(crate) const VOLUME_SQL: &str = "SELECT m.created_ms / 3600000 AS hour, COUNT(*) \
     FROM email_deliveries d JOIN email_messages m \
       ON m.tenant_id = d.tenant_id AND m.id = d.message_id \
     WHERE d.tenant_id = $1 AND m.created_ms >= $2 AND d.state <> 'suppressed' \
       AND NOT (d.state = 'failed' AND d.response LIKE 'discarded%') \
     GROUP BY m.created_ms / 3600000 ORDER BY hour";

/// `$1` the new state, `$2` the response, `$3` when, `$4` the tenant, `$5` the message.
pub(crate) const RESOLVE_HELD_SQL: &str = "UPDATE email_deliveries \
     SET state = $1, response = $2, updated_ms = $3, next_ms = $3 \
     WHERE tenant_id = $4 AND message_id = $5 AND state = 'held'";
