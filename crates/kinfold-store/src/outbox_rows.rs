//! Outbox row shapes (E1, E7): audiences, claimed deliveries, a message's deliveries, and the
//! delivery a provider's report is about. The statements that read them are in `sql/outbox.rs`.

use crate::ids::FromDb;
use crate::outbox::*;
use crate::*;

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

pub(crate) type FoundByAddressRow = (String, String, String, String, String, i64);

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
