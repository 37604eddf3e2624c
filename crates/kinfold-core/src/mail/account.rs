//! Account and security email (E1): invitations, MFA enrollment links, and alerts to a
//! center's administrators (sending paused, a message held). These categories
//! are essential: no preference turns them off, and neither sending pauses (O5) nor the volume
//! hold (E6) applies. A center that cannot send yet (no legal name and postal address, no
//! sending domain) sends none; the administrator still gets the link to hand over.

use kinfold_store::outbox::{DeliveryState, NewDelivery, NewMessage};
use kinfold_store::{TenantScope, User};
use uuid::Uuid;

use super::{body_slot, Body};
use crate::{Core, CoreError};

impl Core {
    /// Queues one message to a user. Returns whether it was queued.
    pub(crate) async fn email_user(
        &self,
        scope: &TenantScope,
        user: &User,
        category: &'static str,
        subject: String,
        text: String,
    ) -> Result<bool, CoreError> {
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
            return Ok(false);
        };
        let Ok(domain) = self.sending_domain().await else {
            return Ok(false);
        };
        let address = user.email.to_lowercase();
        if !self
            .store()
            .suppressed(scope, std::slice::from_ref(&address))
            .await?
            .is_empty()
        {
            return Ok(false);
        }
        let tenant = self.store().tenant(scope).await?;
        let body = Body {
            subject,
            text,
            html: None,
            from_name: tenant.name,
            reply_to: None,
            legal_name,
            postal_address,
            domain: domain.clone(),
        };
        let plain = serde_json::to_vec(&body).map_err(|e| CoreError::Internal(e.to_string()))?;
        let message_id = Uuid::now_v7();
        let id_text = message_id.to_string();
        let sealed = self.keys().seal(scope, body_slot(&id_text), &plain).await?;
        let delivery = Uuid::now_v7();
        let now = self.now_ms();
        let d = kinfold_audit::Draft::new(
            scope.chain(),
            now,
            kinfold_audit::Event::MessageQueued {
                message_id: id_text,
                category: category.to_owned(),
                by: "kinfold".into(),
                recipients: 1,
                suppressed: 0,
            },
        );
        self.store()
            .enqueue_message(
                scope,
                NewMessage {
                    id: message_id,
                    category: category.to_owned(),
                    created_by: None,
                    body: sealed,
                    created_ms: now,
                },
                vec![NewDelivery {
                    id: delivery,
                    recipient_id: user.id.to_string(),
                    recipient_name: user.name.clone(),
                    address: user.email.clone(),
                    header_id: format!("{delivery}@{domain}"),
                    state: DeliveryState::Queued,
                    response: None,
                }],
                vec![d],
            )
            .await?;
        self.mail_wake().notify_one();
        Ok(true)
    }

    /// Emails a user their enrollment link; failures are logged, never fatal.
    pub(crate) async fn email_enrollment(
        &self,
        scope: &TenantScope,
        user: &User,
        link: &str,
        reset: bool,
    ) {
        let hours = self.settings().enrollment_ttl.as_secs() / 3600;
        let (category, subject, why) = if reset {
            (
                "security",
                "Set up your sign-in code again".to_owned(),
                "An administrator reset your second sign-in factor, and signed you out everywhere.",
            )
        } else {
            (
                "account",
                "Your Kinfold account is ready".to_owned(),
                "An account was made for you.",
            )
        };
        // The link holds no `{{`; names are the user's own and were validated.
        let text = format!(
            "Dear {{{{guardian_name}}}},\n\n{why} Open this link within {hours} hours to set a \
             password and an authenticator app:\n\n{link}\n\nIf you did not expect this, tell \
             your center; the link works once."
        );
        if let Err(e) = self.email_user(scope, user, category, subject, text).await {
            tracing::error!(error = %e, "queueing an enrollment email failed");
        }
    }

    /// Emails the tenant's administrators (category `security`); failures are logged.
    pub(crate) async fn alert_admins(&self, scope: &TenantScope, subject: &str, text: &str) {
        let admins = match self.store().users(scope).await {
            Ok(users) => users
                .into_iter()
                .filter(|u| u.role == kinfold_store::Role::Administrator),
            Err(e) => {
                tracing::error!(error = %e, "listing administrators for an alert failed");
                return;
            }
        };
        for admin in admins {
            let body = format!("Dear {{{{guardian_name}}}},\n\n{text}\n");
            if let Err(e) = self
                .email_user(scope, &admin, "security", subject.to_owned(), body)
                .await
            {
                tracing::error!(error = %e, "queueing an alert email failed");
            }
        }
    }
}
