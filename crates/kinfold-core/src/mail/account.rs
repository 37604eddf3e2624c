//! Account and security email (E1): invitations, MFA enrollment links, sign-ins from a new
//! device, and alerts to a center's administrators (sending paused, a message held). These categories
//! are essential: no preference turns them off, and neither sending pauses (O5) nor the volume
//! hold (E6) applies. A center that cannot send yet (no legal name and postal address, no
//! sending domain) sends none; the administrator still gets the link to hand over.

use kinfold_store::outbox::NewDelivery;
use kinfold_store::{TenantScope, User};
use uuid::Uuid;

use super::new_delivery;
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
        let queued = self
            .email_users(scope, std::slice::from_ref(user), category, subject, text)
            .await?;
        Ok(queued > 0)
    }

    /// Queues one message to several users (`{{guardian_name}}` is filled in per recipient):
    /// one sender lookup, one suppression query and one outbox transaction, whatever their
    /// number. Suppressed addresses are left out. Returns how many deliveries were queued.
    pub(crate) async fn email_users(
        &self,
        scope: &TenantScope,
        users: &[User],
        category: &'static str,
        subject: String,
        text: String,
    ) -> Result<usize, CoreError> {
        let Some(from) = self.sender_if_ready(scope).await? else {
            return Ok(0);
        };
        let addresses: Vec<String> = users.iter().map(|u| u.email.to_lowercase()).collect();
        let suppressed = self.suppressed_set(scope, &addresses).await?;
        let deliveries: Vec<NewDelivery> = users
            .iter()
            .zip(&addresses)
            .filter(|(_, a)| !suppressed.contains(*a))
            .map(|(u, _)| {
                new_delivery(
                    u.id.to_string(),
                    u.name.clone(),
                    u.email.clone(),
                    &from.domain,
                    None,
                )
            })
            .collect();
        if deliveries.is_empty() {
            return Ok(0);
        }
        let body = from.body(subject, text, None, None);
        let message = self
            .seal_message(scope, Uuid::now_v7(), &body, category, None)
            .await?;
        let d = kinfold_audit::Draft::new(
            scope.chain(),
            self.now_ms(),
            kinfold_audit::Event::MessageQueued {
                message_id: message.id.to_string(),
                category: category.to_owned(),
                by: "kinfold".into(),
                recipients: deliveries.len() as u64,
                suppressed: 0,
            },
        );
        let queued = deliveries.len();
        self.store()
            .enqueue_message(scope.tx().audit(d), message, deliveries)
            .await?;
        self.mail_wake().notify_one();
        Ok(queued)
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
                .filter(|u| u.role == kinfold_store::Role::Administrator && u.is_active()),
            Err(e) => {
                tracing::error!(error = %e, "listing administrators for an alert failed");
                return;
            }
        };
        let admins: Vec<User> = admins.collect();
        let body = format!("Dear {{{{guardian_name}}}},\n\n{text}\n");
        if let Err(e) = self
            .email_users(scope, &admins, "security", subject.to_owned(), body)
            .await
        {
            tracing::error!(error = %e, "queueing an alert email failed");
        }
    }

    /// Whether this sign-in comes from a device (the hash of stable client hints) that none of
    /// the user's recent sign-ins came from. A first sign-in ever is not "new": there is
    /// nothing to compare with. Errors count as "not new": an alert is never worth a failed
    /// sign-in.
    pub(crate) async fn is_new_device(
        &self,
        scope: &TenantScope,
        user: &User,
        client: &kinfold_store::ClientInfo,
    ) -> bool {
        let Some(device) = &client.device else {
            return false;
        };
        let q = kinfold_store::AuditQuery {
            category: Some("access".into()),
            actor: Some(user.id.to_string()),
            limit: 500,
            ..Default::default()
        };
        let Ok(entries) = self
            .settled_store()
            .await
            .audit_page(&scope.chain(), &q)
            .await
        else {
            return false;
        };
        let earlier: Vec<_> = entries
            .iter()
            .filter(|e| e.kind == "sign_in_succeeded")
            .collect();
        !earlier.is_empty() && !earlier.iter().any(|e| e.device.as_deref() == Some(device))
    }

    /// Tells a user their account was signed in to from a new device (category `security`).
    pub(crate) async fn email_new_device(
        &self,
        scope: &TenantScope,
        user: &User,
        client: &kinfold_store::ClientInfo,
    ) {
        let agent: String = client
            .user_agent
            .as_deref()
            .unwrap_or("an unknown browser")
            .chars()
            .filter(|c| !c.is_control())
            .take(120)
            .collect::<String>();
        let agent = super::literal(&agent);
        let ip = client.ip.as_deref().unwrap_or("an unknown address");
        let at = crate::auth::rfc3339_ms(self.now_ms());
        let text = format!(
            "Dear {{{{guardian_name}}}},\n\nYour account was signed in to from a device it has \
             not used before: {agent}, from {ip}, at {at}.\n\nIf this was you, there is nothing \
             to do. If not, change your password now and tell your center's administrator, who \
             can end every session of your account."
        );
        if let Err(e) = self
            .email_user(
                scope,
                user,
                "security",
                "New sign-in to your account".into(),
                text,
            )
            .await
        {
            tracing::error!(error = %e, "queueing a new-device email failed");
        }
    }

    /// Tells a user that several wrong second-factor codes followed a correct password.
    pub(crate) async fn email_wrong_codes(&self, scope: &TenantScope, user: &User) {
        let text = "Dear {{guardian_name}},\n\nSeveral wrong codes were entered for your \
                    account after a correct password, so someone may know your password. \
                    Change your password now, and tell your center's administrator if this was \
                    not you."
            .to_owned();
        let subject = "Wrong sign-in codes for your account".to_owned();
        if let Err(e) = self
            .email_user(scope, user, "security", subject, text)
            .await
        {
            tracing::error!(error = %e, "queueing a wrong-codes email failed");
        }
    }

    /// Tells a user their second factor was changed (a new authenticator and recovery codes).
    pub(crate) async fn email_factor_changed(&self, scope: &TenantScope, user: &User) {
        let at = crate::auth::rfc3339_ms(self.now_ms());
        let text = format!(
            "Dear {{{{guardian_name}}}},\n\nThe second factor of your account was changed at \
             {at}: a new authenticator app and new recovery codes now sign you in, and the old \
             ones no longer do.\n\nIf this was you, there is nothing to do. If not, tell your \
             center's administrator at once."
        );
        let subject = "The second factor of your account changed".to_owned();
        if let Err(e) = self
            .email_user(scope, user, "security", subject, text)
            .await
        {
            tracing::error!(error = %e, "queueing a factor-changed email failed");
        }
    }
}
