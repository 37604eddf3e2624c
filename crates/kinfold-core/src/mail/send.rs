//! Composing a message to families (E1): the checks every message passes, a preview that
//! writes nothing, and queueing it through the outbox with its audit entry.

use kinfold_audit::{Draft, Event};
use kinfold_store::outbox::DeliveryState;
use kinfold_store::ClassroomId;
use uuid::Uuid;

use super::{category, subject, template, Audience, Category, MessageDraft};
use crate::policy::{self, Action, Scope};
use crate::services::FamilyMail;
use crate::{validate, Actor, CoreError};

/// A message that passed the checks.
struct Checked {
    cat: Category,
    subject: String,
    text: String,
    html: Option<String>,
    reply_to: String,
    classroom: Option<ClassroomId>,
}

/// A message as families would read it, before it is sent.
#[derive(Debug, Clone)]
pub struct Preview {
    pub subject: String,
    pub text: String,
    /// The category's name, as the preferences page shows it.
    pub category: &'static str,
    /// How many families it would reach (before unsubscribes and suppressions).
    pub recipients: usize,
}

impl FamilyMail<'_> {
    /// The checks every message passes before it is previewed or queued: its category,
    /// subject, text, HTML, reply-to address and audience (administrators: a classroom or the
    /// whole center; teachers: their own classrooms).
    async fn checked(&self, actor: &Actor, m: &MessageDraft) -> Result<Checked, CoreError> {
        let limits = &self.settings().mail;
        let scope = policy::require(actor, Action::SendMessage)?;
        let cat = category(&m.category)
            .filter(|c| c.postable)
            .ok_or_else(|| {
                CoreError::invalid("category", "must be one of: announcement, daily_report")
            })?;
        let subject = subject(&m.subject)?;
        if m.text.trim().is_empty() {
            return Err(CoreError::invalid("text", "is required"));
        }
        let text = validate::text("text", &m.text, limits.max_text_chars)?;
        template::check("text", &text)?;
        let html = match &m.html {
            Some(h) if h.len() > limits.max_html_bytes => {
                return Err(CoreError::invalid(
                    "html",
                    format!("must be at most {} bytes", limits.max_html_bytes),
                ))
            }
            Some(h) => {
                let h = validate::text("html", h, limits.max_html_bytes)?;
                template::check("html", &h)?;
                Some(h)
            }
            None => None,
        };
        let reply_to = match &m.reply_to {
            Some(r) => validate::email("reply_to", r)?,
            None => actor.user.email.clone(),
        };
        let classroom = match (m.audience, scope) {
            (Audience::All, Scope::WholeTenant) => None,
            (Audience::All, _) => {
                return Err(CoreError::Forbidden(
                    "teachers may write to their own classrooms only",
                ))
            }
            (Audience::Classroom(c), _) => {
                let visible = self.classrooms().list_classrooms(actor).await?;
                if !visible.iter().any(|x| x.id == c) {
                    return Err(CoreError::NotFound("classroom"));
                }
                Some(c)
            }
        };
        Ok(Checked {
            cat,
            subject,
            text,
            html,
            reply_to,
            classroom,
        })
    }

    /// What a message would be, without queueing it: the checks a send makes, the subject and
    /// text with the center's name filled in (each family's name is shown as a placeholder),
    /// and how many families it would reach. Nothing is written.
    pub async fn preview_message(
        &self,
        actor: &Actor,
        m: &MessageDraft,
    ) -> Result<Preview, CoreError> {
        let c = self.checked(actor, m).await?;
        let center = actor.tenant.name.clone();
        let values = template::Values {
            guardian_name: "(each family's name)",
            center_name: &center,
        };
        let keep = |s: &str| s.to_owned();
        let recipients = self
            .store()
            .audience(&actor.scope, c.classroom, None)
            .await?
            .len();
        Ok(Preview {
            subject: template::render(&c.subject, &values, keep)?,
            text: template::render(&c.text, &values, keep)?,
            category: c.cat.label,
            recipients,
        })
    }

    /// Queues a message to guardians (E1). Administrators write to a classroom or the whole
    /// center; teachers to their own classrooms. Returns the message ID.
    pub async fn send_message(&self, actor: &Actor, m: MessageDraft) -> Result<Uuid, CoreError> {
        let Checked {
            cat,
            subject,
            text,
            html,
            reply_to,
            classroom,
        } = self.checked(actor, &m).await?;
        let from = self.sender(&actor.scope).await?;
        if !cat.essential {
            self.require_sending_allowed(&actor.scope).await?;
        }

        let recipients = self.store().audience(&actor.scope, classroom, None).await?;
        let message_id = Uuid::now_v7();
        let mut deliveries = self
            .deliveries_for(&actor.scope, recipients, cat.slug, &from.domain)
            .await?;
        let skipped = deliveries
            .iter()
            .filter(|d| d.state == DeliveryState::Suppressed)
            .count() as u64;
        let held = if cat.essential {
            None
        } else {
            self.volume_verdict(&actor.scope, &deliveries).await?
        };
        if let Some(v) = &held {
            for d in deliveries
                .iter_mut()
                .filter(|d| d.state == DeliveryState::Queued)
            {
                d.state = DeliveryState::Held;
                d.response = Some(format!(
                    "held: {} recipients this hour is above this center's usual {}; an administrator may release or discard it",
                    v.volume, v.limit
                ));
            }
        }
        let body = from.body(subject, text, html, Some(reply_to));
        let message = self
            .seal_message(
                &actor.scope,
                message_id,
                &body,
                cat.slug,
                Some(actor.user.id),
            )
            .await?;
        let id_text = message_id.to_string();
        let mut d = Draft::new(
            actor.scope.chain(),
            self.now_ms(),
            Event::MessageQueued {
                message_id: id_text.clone(),
                category: cat.slug.to_owned(),
                by: actor.user.id.to_string(),
                recipients: deliveries.len() as u64,
                suppressed: skipped,
            },
        );
        d.actor = Some(actor.user.id.to_string());
        let mut entries = vec![d];
        if let Some(v) = held {
            tracing::warn!(
                tenant = %actor.scope.tenant_id(),
                volume = v.volume,
                limit = v.limit,
                "a message was held: this hour's email volume is past the center's usual"
            );
            entries.push(Draft::new(
                actor.scope.chain(),
                self.now_ms(),
                Event::SendingHeld {
                    message_id: id_text.clone(),
                    volume: v.volume,
                    limit: v.limit,
                    learned: v.learned,
                },
            ));
        }
        self.store()
            .enqueue_message(actor.scope.tx().audit_all(entries), message, deliveries)
            .await?;
        if let Some(v) = held {
            let text = format!(
                "A message from {} was held: it would take this hour's email to {} recipients, \
                 above the center's usual {}. Open /messages/{} in the console to release or \
                 discard it.",
                actor.user.name, v.volume, v.limit, message_id
            );
            self.alert_admins(&actor.scope, "A message was held", &text)
                .await;
        }
        self.mail_wake().notify_one();
        Ok(message_id)
    }
}
