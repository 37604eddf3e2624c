//! The email outbox (E1, O2): messages, one delivery per recipient, and the suppression list.
//!
//! A message and its deliveries enter in one transaction with the audit entry of the event that
//! caused them. The delivery worker claims due deliveries under a lease (`sending`), and writes
//! each outcome with its delivery-log entry (E7) in one transaction.

use async_trait::async_trait;
use kinfold_audit::Draft;
use uuid::Uuid;

use crate::TenantTx;
use crate::*;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its first attempt.
    Queued,
    /// Leased by a worker, in the hands of the transport.
    Sending,
    /// The relay accepted it.
    Delivered,
    /// A transient failure; retried at `next_ms`.
    Deferred,
    /// A permanent failure (hard bounce); the address is suppressed.
    Bounced,
    /// Gave up: attempts exhausted, or interrupted while sending (never re-sent, see docs).
    Failed,
    /// Not sent: the recipient unsubscribed from the category, or the address is suppressed.
    Suppressed,
    /// Held by the volume anomaly check until an administrator releases or discards it.
    Held,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 8] = [
        DeliveryState::Queued,
        DeliveryState::Sending,
        DeliveryState::Delivered,
        DeliveryState::Deferred,
        DeliveryState::Bounced,
        DeliveryState::Failed,
        DeliveryState::Suppressed,
        DeliveryState::Held,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sending => "sending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Deferred => "deferred",
            DeliveryState::Bounced => "bounced",
            DeliveryState::Failed => "failed",
            DeliveryState::Suppressed => "suppressed",
            DeliveryState::Held => "held",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub(crate) fn from_db(s: &str) -> Result<Self> {
        Self::parse(s).ok_or(StoreError::Corrupt("delivery state"))
    }
}

/// A message as it enters the outbox. `body` is sealed by core (subject, text, HTML).
#[derive(Clone)]
pub struct NewMessage {
    pub id: Uuid,
    pub category: String,
    pub created_by: Option<UserId>,
    pub body: Vec<u8>,
    pub created_ms: i64,
}

/// One recipient of a new message.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: Uuid,
    pub recipient_id: String,
    pub recipient_name: String,
    pub address: String,
    /// The Message-ID, without angle brackets: `ID@SENDING-DOMAIN`.
    pub header_id: String,
    /// `Queued`, `Suppressed` or `Held`.
    pub state: DeliveryState,
    pub response: Option<String>,
}

/// A delivery leased to a worker, with what it needs to compose the message.
pub struct Claimed {
    pub scope: TenantScope,
    pub id: Uuid,
    pub message_id: Uuid,
    pub recipient_id: String,
    pub recipient_name: String,
    pub address: String,
    pub header_id: String,
    /// Attempts before this one.
    pub attempts: i64,
    pub category: String,
    pub created_by: Option<UserId>,
    pub body: Vec<u8>,
    /// This claim's token: [`OutboxStore::hand_over`] and [`OutboxStore::finish_delivery`]
    /// change the delivery only while it still holds it.
    pub lease: Uuid,
}

/// Leaves out the sealed body and the address.
impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("message_id", &self.message_id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// A delivery whose lease ran out while it was `sending` (the process died mid-delivery).
#[derive(Debug, Clone)]
pub struct Interrupted {
    pub scope: TenantScope,
    pub id: Uuid,
    pub header_id: String,
    pub address: String,
}

/// What an attempt came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `Delivered`, `Deferred`, `Bounced` or `Failed`.
    pub state: DeliveryState,
    pub response: String,
    /// When a deferred delivery is tried again.
    pub next_ms: i64,
    pub at_ms: i64,
}

/// One recipient's delivery, as the sender sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryStatus {
    pub id: Uuid,
    pub recipient_id: String,
    pub address: String,
    pub header_id: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub response: Option<String>,
    pub updated_ms: i64,
}

/// A message and where each of its deliveries stands.
#[derive(Debug, Clone)]
pub struct MessageStatus {
    pub id: Uuid,
    pub category: String,
    pub created_by: Option<UserId>,
    pub created_ms: i64,
    pub deliveries: Vec<DeliveryStatus>,
}

/// A message that enters the outbox with the event that causes it (a check-in notice).
#[derive(Clone)]
pub struct Notice {
    pub message: NewMessage,
    pub deliveries: Vec<NewDelivery>,
}

/// A guardian who can be written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub guardian_id: GuardianId,
    pub name: String,
    pub address: String,
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Guardians with an email address (their own, or their login's) linked to `child`, or to
    /// a child of `classroom`, or to any child when both are `None`; court-restricted links are
    /// left out. One per guardian.
    async fn audience(
        &self,
        scope: &TenantScope,
        classroom: Option<ClassroomId>,
        child: Option<ChildId>,
    ) -> Result<Vec<Recipient>>;

    /// Addresses on the suppression list, among `addresses` (lower-cased).
    async fn suppressed(&self, scope: &TenantScope, addresses: &[String]) -> Result<Vec<String>>;

    /// Recipients, among `recipients`, who turned `category` off.
    async fn opted_out(
        &self,
        scope: &TenantScope,
        category: &str,
        recipients: &[String],
    ) -> Result<Vec<String>>;

    /// The message, its deliveries and the audit entry of its cause, in one transaction.
    async fn enqueue_message(
        &self,
        tx: TenantTx<'_>,
        message: NewMessage,
        deliveries: Vec<NewDelivery>,
    ) -> Result<()>;

    /// Tenants with deliveries due at `now_ms`, or leases run out.
    async fn outbox_tenants(&self, now_ms: i64) -> Result<Vec<TenantId>>;

    /// Settles `sending` deliveries whose lease ended before `now_ms`: one never handed to the
    /// transport goes back to `queued`; one that was (the process died during the SMTP
    /// transaction) becomes `failed`, with the delivery-log entry `log` makes, and is never
    /// sent again (at-most-once). Then leases up to `limit` due deliveries until
    /// `lease_until_ms`.
    async fn claim_deliveries(
        &self,
        tenant: TenantId,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
        log: &(dyn Fn(Interrupted) -> Draft + Send + Sync),
    ) -> Result<Vec<Claimed>>;

    /// Marks a leased delivery as handed to the transport, just before it is. False when the
    /// lease was lost: the caller must not send.
    async fn hand_over(
        &self,
        scope: &TenantScope,
        id: Uuid,
        lease: Uuid,
        at_ms: i64,
    ) -> Result<bool>;

    /// Records an attempt's outcome with its delivery-log entry. A bounce also suppresses the
    /// address. Only a delivery still `sending` under `lease` changes; returns whether it did.
    async fn finish_delivery(
        &self,
        tx: TenantTx<'_>,
        id: Uuid,
        lease: Uuid,
        outcome: Outcome,
    ) -> Result<bool>;

    async fn message_status(&self, scope: &TenantScope, id: Uuid) -> Result<Option<MessageStatus>>;

    /// The delivery a bounce or complaint report is about, across tenants: by Message-ID when
    /// the report has one, else the latest delivery to `address` (lower-cased).
    async fn find_delivery(&self, header_id: Option<&str>, address: &str) -> Result<Option<Found>>;

    /// Applies a report to a delivery: a new state (if any; a delivery still `sending` keeps
    /// its state), the report as its response, and the address on the suppression list with
    /// `suppress` as the reason (if any), with the delivery-log entry.
    async fn record_report(
        &self,
        tx: TenantTx<'_>,
        delivery: Uuid,
        change: ReportChange,
    ) -> Result<()>;

    /// Deliveries that reached the relay (`delivered` or `bounced`), bounces, and complaints
    /// since `since_ms`, for the tenant's rates (O5).
    async fn sending_counts(&self, scope: &TenantScope, since_ms: i64) -> Result<SendingCounts>;

    /// E6: the time of the tenant's first message, and recipients queued per hour (hour
    /// number, count; suppressed deliveries left out) since `since_ms`, ascending.
    async fn volume_history(
        &self,
        scope: &TenantScope,
        since_ms: i64,
    ) -> Result<(Option<i64>, Vec<(i64, i64)>)>;

    /// Moves a message's `held` deliveries to `to` (`queued` to release, `failed` to discard)
    /// with the audit entry; returns how many moved.
    async fn resolve_held(
        &self,
        tx: TenantTx<'_>,
        message: Uuid,
        to: DeliveryState,
        response: &str,
        at_ms: i64,
    ) -> Result<u64>;
}
/// A delivery found for a report.
#[derive(Debug, Clone)]
pub struct Found {
    pub scope: TenantScope,
    pub id: Uuid,
    pub address: String,
    pub header_id: String,
    pub state: DeliveryState,
}

#[derive(Debug, Clone)]
pub struct ReportChange {
    pub state: Option<DeliveryState>,
    pub response: String,
    /// `bounce` or `complaint`.
    pub suppress: Option<&'static str>,
    pub at_ms: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendingCounts {
    pub sent: i64,
    pub bounces: i64,
    pub complaints: i64,
}
