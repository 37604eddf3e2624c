//! Family email (E1-E4): what a center may send, to whom, and the outbox it enters.
//!
//! `send_message` checks everything a message needs before anything is written (category,
//! subject, bodies, template variables, reply-to address, the center's legal name and postal
//! address, a sending domain), resolves the audience, and queues one delivery per guardian in
//! one transaction with its audit entry. Recipients who unsubscribed from the category, or
//! whose address is suppressed, get a `suppressed` delivery instead of mail. The worker
//! ([`worker`]) delivers.

mod account;
pub mod anomaly;
pub mod bench;
pub mod compose;
pub mod dkim;
pub mod doctor;
pub mod domains;
mod error;
pub mod footer;
mod notices;
mod send;
pub use send::Preview;
pub mod reports;
pub mod sink;
pub mod template;
pub mod transport;
pub mod unsubscribe;
pub mod verify;
pub mod worker;
pub mod zone;

pub use error::MailError;

use std::collections::HashSet;

use kinfold_audit::{Draft, Event};
use kinfold_store::outbox::{DeliveryState, MessageStatus, NewDelivery, NewMessage};
use kinfold_store::{ClassroomId, TenantScope};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::keys::Slot;
use crate::policy::{self, Action, Scope};
use crate::services::FamilyMail;
use crate::{validate, Actor, Core, CoreError};

/// A kind of message. Guardians choose per category; essential ones cannot be switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Category {
    pub slug: &'static str,
    pub label: &'static str,
    /// Account and security mail: always sent, and the preferences page says so.
    pub essential: bool,
    /// Whether `POST /api/v1/messages` may use it (the rest are sent by Kinfold itself).
    pub postable: bool,
}

pub const CATEGORIES: [Category; 5] = [
    Category {
        slug: "announcement",
        label: "Announcements",
        essential: false,
        postable: true,
    },
    Category {
        slug: "daily_report",
        label: "Daily reports",
        essential: false,
        postable: true,
    },
    Category {
        slug: "attendance",
        label: "Check-in and check-out notices",
        essential: false,
        postable: false,
    },
    Category {
        slug: "account",
        label: "Account: invitations and sign-in setup links",
        essential: true,
        postable: false,
    },
    Category {
        slug: "security",
        label: "Security: new-device sign-ins, sign-in resets, alerts to administrators",
        essential: true,
        postable: false,
    },
];

pub fn category(slug: &str) -> Option<Category> {
    CATEGORIES.into_iter().find(|c| c.slug == slug)
}

/// Who a message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Classroom(ClassroomId),
    All,
}

/// A message as a center writes it.
#[derive(Debug, Clone)]
pub struct MessageDraft {
    pub category: String,
    pub audience: Audience,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// Defaults to the sender's own address.
    pub reply_to: Option<String>,
}

/// Who a center's messages are from.
pub(crate) struct SenderDetails {
    pub center: String,
    pub legal_name: String,
    pub postal_address: String,
    pub domain: String,
    pub time_zone: String,
}

impl SenderDetails {
    pub(crate) fn body(
        &self,
        subject: String,
        text: String,
        html: Option<String>,
        reply_to: Option<String>,
    ) -> Body {
        Body {
            subject,
            text,
            html,
            from_name: self.center.clone(),
            reply_to,
            legal_name: self.legal_name.clone(),
            postal_address: self.postal_address.clone(),
            domain: self.domain.clone(),
        }
    }
}

/// What is sealed in `email_messages.body`: everything the worker needs to compose.
#[derive(Serialize, Deserialize)]
pub(crate) struct Body {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub from_name: String,
    pub reply_to: Option<String>,
    pub legal_name: String,
    pub postal_address: String,
    pub domain: String,
}

pub(crate) fn body_slot(message: &str) -> Slot<'_> {
    Slot {
        table: "email_messages",
        column: "body",
        row: message,
    }
}

fn subject(raw: &str) -> Result<String, CoreError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(CoreError::invalid("subject", "is required"));
    }
    if s.chars().any(|c| c == '\r' || c == '\n') {
        return Err(CoreError::invalid("subject", "may not contain line breaks"));
    }
    let s = validate::text("subject", s, 200)?;
    template::check("subject", &s)?;
    Ok(s)
}

impl Core {
    /// E6: the verdict for adding `deliveries` to this hour, when it holds them.
    async fn volume_verdict(
        &self,
        scope: &kinfold_store::TenantScope,
        deliveries: &[NewDelivery],
    ) -> Result<Option<anomaly::Verdict>, CoreError> {
        const HOUR_MS: i64 = 3_600_000;
        let now = self.now_ms();
        let now_hour = now.div_euclid(HOUR_MS);
        let since = (now_hour - 4 * 168) * HOUR_MS;
        let (first_ms, mut history) = self.store().volume_history(scope, since).await?;
        let this_hour = history
            .iter()
            .find(|(h, _)| *h == now_hour)
            .map_or(0, |(_, n)| *n);
        history.retain(|(h, _)| *h < now_hour);
        let adding = deliveries
            .iter()
            .filter(|d| d.state == DeliveryState::Queued)
            .count() as i64;
        let v = anomaly::check(
            &history,
            // History older than the window reads as empty hours: start the fold there.
            first_ms.map(|f| f.div_euclid(HOUR_MS).max(since / HOUR_MS)),
            now_hour,
            this_hour + adding,
            &self.settings().mail.anomaly,
        );
        Ok(v.hold.then_some(v))
    }

    /// One delivery per address (a guardian listed twice gets one copy): queued, or
    /// `suppressed` with the reason when the recipient turned `category` off or the address
    /// bounced or drew a complaint. Two queries, whatever the audience.
    pub(crate) async fn deliveries_for(
        &self,
        scope: &TenantScope,
        mut recipients: Vec<kinfold_store::outbox::Recipient>,
        category: &str,
        domain: &str,
    ) -> Result<Vec<NewDelivery>, CoreError> {
        let mut seen = HashSet::new();
        recipients.retain(|r| seen.insert(r.address.to_lowercase()));
        let addresses: Vec<String> = recipients
            .iter()
            .map(|r| r.address.to_lowercase())
            .collect();
        let ids: Vec<String> = recipients
            .iter()
            .map(|r| r.guardian_id.to_string())
            .collect();
        let suppressed = self.suppressed_set(scope, &addresses).await?;
        let opted_out: HashSet<String> = self
            .store()
            .opted_out(scope, category, &ids)
            .await?
            .into_iter()
            .collect();
        Ok(recipients
            .into_iter()
            .zip(ids)
            .zip(addresses)
            .map(|((r, recipient_id), address)| {
                let response = if opted_out.contains(&recipient_id) {
                    Some(format!("unsubscribed from {category}"))
                } else if suppressed.contains(&address) {
                    Some("address suppressed after a bounce or complaint".to_owned())
                } else {
                    None
                };
                new_delivery(recipient_id, r.name, r.address, domain, response)
            })
            .collect())
    }

    /// What every message of a center needs: its legal name and postal address (the footer),
    /// and a sending domain. `Invalid` (field `tenant`) or `WrongState` when it cannot send yet.
    pub(crate) async fn sender(&self, scope: &TenantScope) -> Result<SenderDetails, CoreError> {
        let details = self.store().tenant_details(scope).await?;
        let present = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let (Some(legal_name), Some(postal_address)) = (
            present(&details.legal_name),
            present(&details.postal_address),
        ) else {
            return Err(CoreError::invalid(
                "tenant",
                "set the center's legal name and postal address (PATCH /api/v1/tenant) before sending: the law requires them in every message",
            ));
        };
        Ok(SenderDetails {
            center: self.store().tenant(scope).await?.name,
            legal_name,
            postal_address,
            domain: self.mail().sending_domain().await?,
            time_zone: details.time_zone,
        })
    }

    /// Like [`Core::sender`], but `None` when the center cannot send yet: for mail Kinfold sends
    /// on its own (notices, account email), which must never fail the action behind it.
    /// Which of these (lowercased) addresses the tenant must not write to again (E5).
    pub(crate) async fn suppressed_set(
        &self,
        scope: &TenantScope,
        addresses: &[String],
    ) -> Result<HashSet<String>, CoreError> {
        Ok(self
            .store()
            .suppressed(scope, addresses)
            .await?
            .into_iter()
            .collect())
    }

    pub(crate) async fn sender_if_ready(
        &self,
        scope: &TenantScope,
    ) -> Result<Option<SenderDetails>, CoreError> {
        match self.sender(scope).await {
            Ok(f) => Ok(Some(f)),
            Err(CoreError::Invalid { .. } | CoreError::WrongState(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The message row: `body` sealed with the tenant's data key, bound to the message ID.
    pub(crate) async fn seal_message(
        &self,
        scope: &TenantScope,
        id: Uuid,
        body: &Body,
        category: &str,
        created_by: Option<kinfold_store::UserId>,
    ) -> Result<NewMessage, CoreError> {
        let plain = serde_json::to_vec(body).map_err(|e| CoreError::Internal(e.to_string()))?;
        let row = id.to_string();
        let sealed = self.keys().seal(scope, body_slot(&row), &plain).await?;
        Ok(NewMessage {
            id,
            category: category.to_owned(),
            created_by,
            body: sealed,
            created_ms: self.now_ms(),
        })
    }
}

impl FamilyMail<'_> {
    /// E6: an administrator releases a held message (its deliveries are queued) or discards
    /// it (they fail, unsent). Returns how many deliveries moved.
    pub async fn resolve_held(
        &self,
        actor: &Actor,
        id: &str,
        release: bool,
    ) -> Result<u64, CoreError> {
        policy::require_whole_tenant(actor, Action::ResolveHeldMessages)?;
        let message = Uuid::parse_str(id).map_err(|_| CoreError::NotFound("message"))?;
        let status = self
            .store()
            .message_status(&actor.scope, message)
            .await?
            .ok_or(CoreError::NotFound("message"))?;
        let held = status
            .deliveries
            .iter()
            .filter(|x| x.state == DeliveryState::Held)
            .count() as u64;
        if held == 0 {
            return Err(CoreError::WrongState("this message has nothing held"));
        }
        let mut d = Draft::new(
            actor.scope.chain(),
            self.now_ms(),
            Event::HeldResolved {
                message_id: id.to_owned(),
                released: release,
                deliveries: held,
            },
        );
        d.actor = Some(actor.user.id.to_string());
        let (to, response) = if release {
            (
                DeliveryState::Queued,
                format!("released by {}", actor.user.email),
            )
        } else {
            (
                DeliveryState::Failed,
                format!("discarded by {}", actor.user.email),
            )
        };
        let n = self
            .store()
            .resolve_held(
                actor.scope.tx().audit(d),
                message,
                to,
                &response,
                self.now_ms(),
            )
            .await?;
        if release {
            self.mail_wake().notify_one();
        }
        Ok(n)
    }

    /// Where each delivery of a message stands: for administrators, and for its sender.
    pub async fn message_status(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<MessageStatus, CoreError> {
        let scope = policy::require(actor, Action::SendMessage)
            .map_err(|_| CoreError::NotFound("message"))?;
        let id = Uuid::parse_str(id).map_err(|_| CoreError::NotFound("message"))?;
        let status = self
            .store()
            .message_status(&actor.scope, id)
            .await?
            .ok_or(CoreError::NotFound("message"))?;
        if scope != Scope::WholeTenant && status.created_by != Some(actor.user.id) {
            return Err(CoreError::NotFound("message"));
        }
        Ok(status)
    }

    /// The platform's sending domain: the configured one, else the first one set up.
    pub async fn sending_domain(&self) -> Result<String, CoreError> {
        let domains = self.store().mail_domains().await?;
        let chosen = match &self.settings().mail.sending_domain {
            Some(d) => domains.into_iter().find(|x| &x.domain == d),
            None => domains.into_iter().next(),
        };
        chosen.map(|d| d.domain).ok_or(CoreError::WrongState(
            "no sending domain is set up; run `kinfold email domain add DOMAIN`",
        ))
    }
}

/// A delivery to one address with a fresh ID and Message-ID on the sending domain: queued, or
/// `suppressed` with `response` saying why.
pub(crate) fn new_delivery(
    recipient_id: String,
    recipient_name: String,
    address: String,
    domain: &str,
    response: Option<String>,
) -> NewDelivery {
    let id = Uuid::now_v7();
    NewDelivery {
        id,
        recipient_id,
        recipient_name,
        address,
        header_id: format!("{id}@{domain}"),
        state: if response.is_some() {
            DeliveryState::Suppressed
        } else {
            DeliveryState::Queued
        },
        response,
    }
}

/// Text from records (names, user agents) put into a template: a `{{` in it must not read as
/// a template variable.
pub(crate) fn literal(s: &str) -> String {
    s.replace("{{", "{ {")
}
