//! Bounce and complaint reports (E5) and the sending rates they feed (O5).
//!
//! A report (a provider webhook, or a DSN/ARF message; parsed and its signature checked in
//! `kinfold_mail::reports`) is matched to the delivery it is about by Message-ID, else by the
//! latest delivery to its address. A hard bounce marks the delivery `bounced` and suppresses
//! the address; a complaint suppresses it; a soft bounce is logged (the relay that accepted the
//! message retries it). Every report is written to the delivery log with its change.
//!
//! Each tenant's bounce and complaint rates are kept over `rate_window`. Above
//! `max_bounce_rate` or `max_complaint_rate`, once `rate_min_volume` messages were sent, the
//! tenant's non-essential sending pauses: new messages are refused with the reason, and the
//! crossing is recorded (`sending_paused`, visible to the tenant's administrators) and logged
//! as a warning for the operator.

use std::collections::HashMap;

use kinfold_audit::{Draft, Event};
use kinfold_mail::reports::{Kind, Report, MAX_AGE_SECS};
use kinfold_store::outbox::{DeliveryState, ReportChange, SendingCounts};
use kinfold_store::TenantScope;

use crate::{Core, CoreError};

/// Webhook tokens seen lately, to refuse a replayed event.
#[derive(Default)]
pub(crate) struct Replays(std::sync::Mutex<HashMap<String, i64>>);

impl Replays {
    /// Whether `token` was seen in the last few minutes; remembers it.
    fn seen(&self, token: &str, now_ms: i64) -> bool {
        let Ok(mut m) = self.0.lock() else {
            return false;
        };
        let horizon = now_ms - 2 * MAX_AGE_SECS * 1000;
        if m.len() > 10_000 {
            m.retain(|_, at| *at >= horizon);
        }
        match m.get(token) {
            Some(at) if *at >= horizon => true,
            _ => {
                m.insert(token.to_owned(), now_ms);
                false
            }
        }
    }
}

/// Parts per million, for rates in audit events.
fn ppm(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        return 0;
    }
    part.saturating_mul(1_000_000) / whole
}

impl Core {
    /// Whether a webhook's token (or signature) was already used; the first use returns false.
    pub fn replayed(&self, token: &str) -> bool {
        self.replays().seen(token, self.now_ms())
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
            .record_report(&found.scope, found.id, change, vec![entry])
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
        let since = self.now_ms() - i64::try_from(m.rate_window.as_millis()).unwrap_or(i64::MAX);
        let c = self.store().sending_counts(scope, since).await?;
        let sent = c.sent.max(1) as f64;
        let paused = c.sent >= m.rate_min_volume
            && (c.bounces as f64 / sent > m.max_bounce_rate
                || c.complaints as f64 / sent > m.max_complaint_rate);
        Ok((c, paused))
    }

    /// Records the moment a tenant's rates pass their limit.
    async fn note_rates(&self, scope: &TenantScope) -> Result<(), CoreError> {
        let (c, paused) = self.sending_rates(scope).await?;
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
                .record(Draft::new(scope.chain(), self.now_ms(), event))
                .await;
        }
        Ok(())
    }

    /// Refuses non-essential sending while the tenant's rates are above their limits.
    pub(crate) async fn require_sending_allowed(
        &self,
        scope: &TenantScope,
    ) -> Result<(), CoreError> {
        let (c, paused) = self.sending_rates(scope).await?;
        if paused {
            return Err(CoreError::SendingPaused {
                bounce_pct: ppm(c.bounces, c.sent) as f64 / 10_000.0,
                complaint_pct: ppm(c.complaints, c.sent) as f64 / 10_000.0,
            });
        }
        Ok(())
    }
}
