//! Bounce and complaint reports (E5) and the sending rates they feed (O5).
//!
//! A report (a provider webhook, or a DSN/ARF message; parsed and its signature checked in
//! [`parse`]) is matched to the delivery it is about by Message-ID, else by the
//! latest delivery to its address. A hard bounce marks the delivery `bounced` and suppresses
//! the address; a complaint suppresses it; a soft bounce is logged (the relay that accepted the
//! message retries it). Every report is written to the delivery log with its change.
//!
//! Each tenant's bounce and complaint rates are kept over `rate_window`. Above
//! `max_bounce_rate` or `max_complaint_rate`, once `rate_min_volume` messages were sent, the
//! tenant's non-essential sending pauses: new messages are refused with the reason, and the
//! crossing is recorded (`sending_paused`, visible to the tenant's administrators) and logged
//! as a warning for the operator.

pub mod parse;

use kinfold_audit::{Draft, Event};
use kinfold_crypto::token::TokenHash;
use kinfold_store::outbox::{DeliveryState, ReportChange, SendingCounts};
use kinfold_store::TenantScope;
pub use parse::{
    check_signature, generic, mailgun, raw, sign, Kind, ReplayKeys, Report, ReportError,
    MAX_AGE_SECS,
};

use crate::services::FamilyMail;
use crate::{Core, CoreError};

fn replay_hashes(r: &ReplayKeys) -> Vec<TokenHash> {
    r.keys.iter().map(|k| TokenHash::of(k)).collect()
}

/// Parts per million, for rates in audit events.
fn ppm(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        return 0;
    }
    part.saturating_mul(1_000_000) / whole
}

impl Core {
    /// Records the moment a tenant's rates pass their limit.
    pub(crate) async fn note_rates(&self, scope: &TenantScope) -> Result<(), CoreError> {
        let (c, paused) = self.mail().sending_rates(scope).await?;
        let was = self
            .paused_tenants()
            .lock()
            .ok()
            .and_then(|mut m| m.insert(scope.tenant_id(), paused));
        if paused && was != Some(true) {
            let event = Event::SendingPaused {
                sent: c.sent,
                bounce_ppm: ppm(c.bounces, c.sent),
                complaint_ppm: ppm(c.complaints, c.sent),
            };
            tracing::warn!(
                tenant = %scope.tenant_id(),
                sent = c.sent,
                bounces = c.bounces,
                complaints = c.complaints,
                "a tenant's bounce or complaint rate passed its limit; its non-essential email is paused"
            );
            self.audit()
                .record(
                    scope.chain(),
                    Draft::new(scope.chain(), self.now_ms(), event),
                )
                .await?;
            let text = format!(
                "Announcements and reports from your center are paused: of {} messages sent in the \
                 last days, {} bounced and {} drew spam complaints, above this server's limits. \
                 Check the addresses in the delivery log (/admin/email); sending resumes when the \
                 rates fall. Account and security email still goes out.",
                c.sent, c.bounces, c.complaints
            );
            self.alert_admins(scope, "Email from your center is paused", &text)
                .await;
        }
        Ok(())
    }

    /// Refuses non-essential sending while the tenant's rates are above their limits.
    pub(crate) async fn require_sending_allowed(
        &self,
        scope: &TenantScope,
    ) -> Result<(), CoreError> {
        let (c, paused) = self.mail().sending_rates(scope).await?;
        if paused {
            return Err(CoreError::SendingPaused {
                bounce_pct: ppm(c.bounces, c.sent) as f64 / 10_000.0,
                complaint_pct: ppm(c.complaints, c.sent) as f64 / 10_000.0,
            });
        }
        Ok(())
    }
}

impl FamilyMail<'_> {
    /// Takes a signed webhook's replay keys for `provider`: true the first time, false for a
    /// replay (any of its keys was taken before). The keys are kept in the store until the
    /// signature's freshness window has passed, so every node, and a node after a restart,
    /// refuses the same request. Kept as hashes: a key is at most 32 bytes, whatever was sent.
    pub async fn claim_webhook(&self, provider: &str, r: &ReplayKeys) -> Result<bool, CoreError> {
        let keys = replay_hashes(r);
        Ok(self
            .store()
            .claim_webhook_keys(provider, &keys, r.expires_ms(), self.now_ms())
            .await?)
    }

    /// Forgets the keys of a webhook whose report could not be applied, so the provider's retry
    /// is taken rather than refused as a replay.
    pub async fn release_webhook(&self, provider: &str, r: &ReplayKeys) -> Result<(), CoreError> {
        let keys = replay_hashes(r);
        Ok(self.store().release_webhook_keys(provider, &keys).await?)
    }

    /// Applies one report. Returns whether it matched a delivery of ours.
    pub async fn apply_report(&self, r: &Report) -> Result<bool, CoreError> {
        let Some(found) = self
            .store()
            .find_delivery(r.message_id.as_deref(), &r.recipient)
            .await?
        else {
            tracing::info!(kind = r.kind.as_str(), "a report matched no delivery");
            return Ok(false);
        };
        let (state, suppress) = match r.kind {
            Kind::HardBounce => (Some(DeliveryState::Bounced), Some("bounce")),
            Kind::Complaint => (None, Some("complaint")),
            Kind::SoftBounce | Kind::Delivered => (None, None),
        };
        let now = self.now_ms();
        let entry = Draft::new(
            found.scope.chain(),
            now,
            Event::EmailDelivery {
                delivery_id: found.id.to_string(),
                message_id: found.header_id.clone(),
                recipient: found.address.clone(),
                status: r.kind.as_str().to_owned(),
                attempt: 0,
                response: r.detail.clone(),
            },
        );
        let change = ReportChange {
            state,
            response: r.detail.clone(),
            suppress,
            at_ms: now,
        };
        self.store()
            .record_report(found.scope.tx().audit(entry), found.id, change)
            .await?;
        if suppress.is_some() {
            self.note_rates(&found.scope).await?;
        }
        Ok(true)
    }

    /// The tenant's counts over the rate window, and whether they pause sending.
    pub async fn sending_rates(
        &self,
        scope: &TenantScope,
    ) -> Result<(SendingCounts, bool), CoreError> {
        let m = &self.settings().mail;
        let since = self.now_ms() - crate::clock::ms(m.rate_window);
        let c = self.store().sending_counts(scope, since).await?;
        let sent = c.sent.max(1) as f64;
        let paused = c.sent >= m.rate_min_volume
            && (c.bounces as f64 / sent > m.max_bounce_rate
                || c.complaints as f64 / sent > m.max_complaint_rate);
        Ok((c, paused))
    }
}
