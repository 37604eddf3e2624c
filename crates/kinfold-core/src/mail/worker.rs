//! The delivery worker (E1, O2).
//!
//! It wakes when a message is queued on this node, and at least every `poll` (1 s) for
//! deferred retries and work queued by other nodes. Each pass asks the store which tenants have
//! deliveries due, and leases them one tenant at a time (`sending`, until now + `lease`).
//! Deliveries run concurrently, at most `concurrency` in all and `per_domain` per destination
//! domain. Each outcome is written with its delivery-log entry (E7) in one transaction.
//!
//! **Delivery is at-most-once.** A delivery is `sending` from its lease until its outcome is
//! written, and is marked handed over (`handed_ms`) just before the transport gets it. If the
//! process dies:
//! - before the hand-over, the relay never saw it: when the lease runs out it is queued again;
//! - after it, the relay may or may not have accepted it: when the lease runs out it is marked
//!   `failed` ("interrupted"), never sent again.
//!
//! At most `per_domain` deliveries per destination domain (and `concurrency` in all) per crashed
//! node can end interrupted, each visible in the delivery log and the message's status. Every
//! other delivery is sent exactly once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::mail::compose::{compose, Outgoing};
use crate::mail::dkim::Signer;
use crate::mail::footer::{with_footer, Sender};
use crate::mail::transport::Transport;
use crate::mail::unsubscribe::Subject;
use crate::mail::MailError;
use kinfold_audit::{Draft, Event};
use kinfold_store::outbox::{Claimed, DeliveryState, Interrupted, Outcome};
use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::template::{self, Values};
use super::{body_slot, Body};
use crate::clock::ms;
use crate::{Core, CoreError};

/// Why an attempt failed, and so what happens next.
enum Failure {
    /// Worth another try later (4xx, connection trouble).
    Transient(String),
    /// The relay refused the recipient for good (5xx on the address): a hard bounce.
    Permanent(String),
    /// The relay refused the message for good for another reason (authentication, size,
    /// policy): failed, and the address is not blamed.
    Refused(String),
    /// The recipient unsubscribed or the address was suppressed after it was queued.
    Unwanted(String),
    /// The message cannot be built (a stored key or body that does not open): retrying will
    /// not help.
    Broken(String),
    /// Not handed to the transport because the lease is gone (or could not be marked): the
    /// delivery is left as it is; an expired lease that was never handed over is queued again.
    Abandoned,
}

struct Worker {
    core: Core,
    transport: Transport,
    signers: Mutex<HashMap<String, Arc<Signer>>>,
    domains: Mutex<HashMap<String, Arc<Semaphore>>>,
    in_flight: Arc<Semaphore>,
}

/// The running worker. Dropping it stops it from taking new work.
pub struct Mailer {
    task: tokio::task::JoinHandle<()>,
    in_flight: Arc<Semaphore>,
    concurrency: u32,
}

impl Mailer {
    /// Stops taking new work and waits, at most `grace`, for deliveries in flight to finish,
    /// so a graceful shutdown does not leave them interrupted.
    pub async fn stop(self, grace: Duration) {
        self.task.abort();
        let all = self.in_flight.clone().acquire_many_owned(self.concurrency);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("deliveries still in flight at shutdown; they end as interrupted");
        }
    }
}

impl Drop for Mailer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the worker on the current runtime.
pub fn spawn(core: Core, transport: Transport) -> Mailer {
    let concurrency = core.settings().mail.concurrency.clamp(1, 10_000);
    let in_flight = Arc::new(Semaphore::new(concurrency));
    let w = Arc::new(Worker {
        core,
        transport,
        signers: Mutex::default(),
        domains: Mutex::default(),
        in_flight: in_flight.clone(),
    });
    let task = tokio::spawn(async move {
        let poll = w.core.settings().mail.poll;
        loop {
            w.clone().pass().await;
            tokio::select! {
                _ = w.core.mail_wake().notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    });
    Mailer {
        task,
        in_flight,
        concurrency: u32::try_from(concurrency).unwrap_or(1),
    }
}

fn interrupted_entry(now_ms: i64) -> impl Fn(Interrupted) -> Draft + Send + Sync {
    move |lost: Interrupted| {
        Draft::new(
            lost.scope.chain(),
            now_ms,
            Event::EmailDelivery {
                delivery_id: lost.id.to_string(),
                message_id: lost.header_id,
                recipient: lost.address,
                status: DeliveryState::Failed.as_str().to_owned(),
                attempt: 0,
                response: "interrupted while sending; not retried (delivery is at-most-once)"
                    .to_owned(),
            },
        )
    }
}

impl Worker {
    /// Leases and starts every delivery due now, tenant by tenant, until none is left.
    async fn pass(self: Arc<Self>) {
        let mail = &self.core.settings().mail;
        loop {
            let now = self.core.now_ms();
            let tenants = match self.core.store().outbox_tenants(now).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(error = %e, "outbox: listing due work failed");
                    return;
                }
            };
            let mut started = 0usize;
            for tenant in tenants {
                // Wait for a free slot rather than leasing work that would sit idle.
                let Ok(first) = self.in_flight.clone().acquire_owned().await else {
                    return;
                };
                let free = self.in_flight.available_permits() + 1;
                let now = self.core.now_ms();
                let lease_until = now + ms(mail.lease);
                let claimed = match self
                    .core
                    .store()
                    .claim_deliveries(
                        tenant,
                        now,
                        lease_until,
                        free as i64,
                        &interrupted_entry(now),
                    )
                    .await
                {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "outbox: leasing deliveries failed");
                        continue;
                    }
                };
                let mut first = Some(first);
                for c in claimed {
                    let permit = match first.take() {
                        Some(p) => p,
                        None => match self.in_flight.clone().acquire_owned().await {
                            Ok(p) => p,
                            Err(_) => return,
                        },
                    };
                    started += 1;
                    let w = self.clone();
                    tokio::spawn(async move { w.deliver(c, lease_until, permit).await });
                }
            }
            if started == 0 {
                return;
            }
        }
    }

    fn domain_slot(&self, address: &str) -> Arc<Semaphore> {
        let domain = address
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        let per = self.core.settings().mail.per_domain.max(1);
        match self.domains.lock() {
            Ok(mut m) => m
                .entry(domain)
                .or_insert_with(|| Arc::new(Semaphore::new(per)))
                .clone(),
            Err(_) => Arc::new(Semaphore::new(per)),
        }
    }

    async fn deliver(self: Arc<Self>, c: Claimed, lease_until: i64, _slot: OwnedSemaphorePermit) {
        let domain = self.domain_slot(&c.address);
        let Ok(_per_domain) = domain.acquire_owned().await else {
            return;
        };
        let mail = &self.core.settings().mail;
        let attempt = c.attempts + 1;
        // Never start a send the lease may not outlive: leave it, and it is queued again when
        // the lease runs out (it was never handed over).
        if self.core.now_ms() > lease_until - ms(mail.lease) / 4 {
            return;
        }
        let result = self.attempt(&c).await;
        let now = self.core.now_ms();
        let (state, response, next_ms) = match result {
            Ok(()) => (
                DeliveryState::Delivered,
                "accepted by the relay".to_owned(),
                now,
            ),
            Err(Failure::Abandoned) => return,
            Err(Failure::Permanent(r)) => (DeliveryState::Bounced, r, now),
            Err(Failure::Refused(r)) => (DeliveryState::Failed, r, now),
            Err(Failure::Unwanted(r)) => (DeliveryState::Suppressed, r, now),
            Err(Failure::Broken(r)) => (DeliveryState::Failed, r, now),
            Err(Failure::Transient(r)) if attempt >= mail.max_attempts => (
                DeliveryState::Failed,
                format!("gave up after {attempt} attempts: {r}"),
                now,
            ),
            Err(Failure::Transient(r)) => {
                (DeliveryState::Deferred, r, now + backoff(mail, attempt))
            }
        };
        let response: String = response.chars().take(500).collect();
        let entry = Draft::new(
            c.scope.chain(),
            now,
            Event::EmailDelivery {
                delivery_id: c.id.to_string(),
                message_id: c.header_id.clone(),
                recipient: c.address.clone(),
                status: state.as_str().to_owned(),
                attempt,
                response: response.clone(),
            },
        );
        let outcome = Outcome {
            state,
            response,
            next_ms,
            at_ms: now,
        };
        // The outcome must land: retry a failing store a few times. If it never does, the
        // lease runs out and the delivery is marked interrupted (never sent twice).
        for wait in [0u64, 200, 1000, 5000] {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            match self
                .core
                .store()
                .finish_delivery(
                    c.scope.tx().audit(entry.clone()),
                    c.id,
                    c.lease,
                    outcome.clone(),
                )
                .await
            {
                Ok(_) => {
                    if state == DeliveryState::Bounced {
                        if let Err(e) = self.core.note_rates(&c.scope).await {
                            tracing::error!(error = %e, "outbox: checking sending rates failed");
                        }
                    }
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, delivery = %c.id, "outbox: writing an outcome failed")
                }
            }
        }
    }

    async fn attempt(&self, c: &Claimed) -> Result<(), Failure> {
        let message = c.message_id.to_string();
        let plain = self
            .core
            .keys()
            .open(&c.scope, body_slot(&message), &c.body)
            .await
            .map_err(|e| Failure::Broken(format!("the message does not open: {e}")))?;
        let body: Body = serde_json::from_slice(&plain)
            .map_err(|_| Failure::Broken("the message body is unreadable".into()))?;
        let raw = self
            .compose(c, &body)
            .map_err(|e| Failure::Broken(e.to_string()))?;
        let signer = self.signer(&body.domain).await?;
        let signed = signer
            .sign(&raw)
            .map_err(|e| Failure::Broken(e.to_string()))?;
        let from = self.sender_address(&body.domain);
        self.still_wanted(c).await?;
        match self
            .core
            .store()
            .hand_over(&c.scope, c.id, c.lease, self.core.now_ms())
            .await
        {
            Ok(true) => {}
            Ok(false) => return Err(Failure::Abandoned),
            Err(e) => {
                tracing::error!(error = %e, delivery = %c.id, "outbox: marking a hand-over failed");
                return Err(Failure::Abandoned);
            }
        }
        match self
            .transport
            .send(&from, &c.address, &c.header_id, &signed)
            .await
        {
            Ok(()) => Ok(()),
            Err(MailError::Rejected {
                recipient: true,
                message,
            }) => Err(Failure::Permanent(message)),
            Err(MailError::Rejected { message, .. }) => Err(Failure::Refused(message)),
            Err(MailError::Invalid {
                field: "to",
                reason,
            }) => Err(Failure::Permanent(format!("to: {reason}"))),
            Err(MailError::Invalid { field, reason }) => {
                Err(Failure::Broken(format!("{field}: {reason}")))
            }
            Err(e) => Err(Failure::Transient(e.to_string())),
        }
    }

    /// Unsubscribes and suppressions since the message was queued (a retry, a released hold)
    /// still count.
    async fn still_wanted(&self, c: &Claimed) -> Result<(), Failure> {
        let store = self.core.store();
        let transient = |e: kinfold_store::StoreError| Failure::Transient(e.to_string());
        let essential = super::category(&c.category).is_some_and(|k| k.essential);
        if !essential
            && store
                .opt_outs(&c.scope, &c.recipient_id)
                .await
                .map_err(transient)?
                .contains(&c.category)
        {
            return Err(Failure::Unwanted(format!(
                "unsubscribed from {}",
                c.category
            )));
        }
        let address = c.address.to_lowercase();
        if !store
            .suppressed(&c.scope, std::slice::from_ref(&address))
            .await
            .map_err(transient)?
            .is_empty()
        {
            return Err(Failure::Unwanted(
                "address suppressed after a bounce or complaint".into(),
            ));
        }
        Ok(())
    }

    fn sender_address(&self, domain: &str) -> String {
        format!("{}@{domain}", self.core.settings().mail.from_local_part)
    }

    /// The message for one recipient: variables filled in, the footer and the one-click
    /// unsubscribe link (E3, E4) added.
    fn compose(&self, c: &Claimed, b: &Body) -> Result<Vec<u8>, CoreError> {
        let values = Values {
            guardian_name: &c.recipient_name,
            center_name: &b.from_name,
        };
        let subject = template::render(&b.subject, &values, template::plain)?;
        let text = template::render(&b.text, &values, template::plain)?;
        let html = match &b.html {
            Some(h) => template::render(h, &values, template::escape_html)?,
            None => template::html_from_text(&text, &b.from_name),
        };
        let recipient = Uuid::parse_str(&c.recipient_id)
            .map_err(|_| CoreError::Internal("recipient id".into()))?;
        let token = self
            .core
            .unsubscribe_key()
            .issue(&Subject {
                tenant: c.scope.tenant_id().0,
                recipient,
                category: c.category.clone(),
            })
            .ok_or_else(|| CoreError::Internal("unsubscribe token".into()))?;
        let link = format!(
            "{}/u/{token}",
            self.core.settings().public_url.trim_end_matches('/')
        );
        let sender = Sender {
            legal_name: Some(&b.legal_name),
            postal_address: Some(&b.postal_address),
        };
        let (text, html) = with_footer(&text, &html, &sender, &link).map_err(mail_error)?;
        let from = self.sender_address(&b.domain);
        let out = Outgoing {
            from_name: &b.from_name,
            from_address: &from,
            reply_to: b.reply_to.as_deref(),
            to: &c.address,
            subject: &subject,
            text,
            html,
            message_id: &c.header_id,
            unsubscribe_url: &link,
        };
        compose(&out, SystemTime::now()).map_err(mail_error)
    }

    async fn signer(&self, domain: &str) -> Result<Arc<Signer>, Failure> {
        if let Some(s) = self
            .signers
            .lock()
            .ok()
            .and_then(|m| m.get(domain).cloned())
        {
            return Ok(s);
        }
        let domains = self
            .core
            .store()
            .mail_domains()
            .await
            .map_err(|e| Failure::Transient(format!("reading the sending domain: {e}")))?;
        let d = domains
            .iter()
            .find(|d| d.domain == domain)
            .ok_or_else(|| Failure::Broken(format!("sending domain {domain} is not set up")))?;
        let signer = Arc::new(
            Signer::open(d, self.core.keys().master())
                .map_err(|e| Failure::Broken(e.to_string()))?,
        );
        if let Ok(mut m) = self.signers.lock() {
            m.insert(domain.to_owned(), signer.clone());
        }
        Ok(signer)
    }
}

fn mail_error(e: MailError) -> CoreError {
    match e {
        MailError::Invalid { field, reason } => CoreError::invalid(field, reason),
        other => CoreError::Internal(other.to_string()),
    }
}

/// `base * 2^(attempt-1)`, at most `max`, times a jitter in [0.5, 1.5).
fn backoff(mail: &crate::settings::MailSettings, attempt: i64) -> i64 {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let raw = ms(mail.backoff_base).saturating_mul(1i64 << exp);
    let capped = raw.min(ms(mail.backoff_max));
    let jitter: f64 = rand::thread_rng().gen_range(0.5..1.5);
    (capped as f64 * jitter) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_the_cap() {
        let s = crate::settings::MailSettings::default();
        for attempt in 1..=12 {
            let want = (60_000i64 << (attempt - 1)).min(4 * 3600 * 1000);
            for _ in 0..50 {
                let got = backoff(&s, attempt);
                assert!(
                    got >= want / 2 && got < want * 3 / 2,
                    "attempt {attempt}: {got} vs {want}"
                );
            }
        }
    }
}
