//! Password reset by email (account email, E1).
//!
//! - [`Core::request_password_reset`] answers the same whether or not the account exists, and
//!   does the lookup after answering, so neither the answer nor its timing tells an address
//!   apart. Every request counts against a throttle per account and per IP, found or not.
//! - An account that has a password gets a single-use link, valid `password_reset_ttl`
//!   (1 hour), in category `account`; a newer link supersedes it. Only the token's hash is
//!   stored. An account still waiting for its enrollment link gets nothing: that link is its
//!   way in.
//! - [`Core::complete_password_reset`] checks the new password like any other, then uses up
//!   the link, sets the hash, ends every session of the user and voids any enrollment link
//!   still out, in one transaction, audited. The second factor stays, and a reset never signs
//!   anyone in: a mailbox alone can neither pass MFA nor, after an MFA reset, bind a factor of
//!   its own. The user is told by email (category `security`).
//! - Any password change and any MFA reset void the reset links still out.

use kinfold_audit::Event;
use kinfold_crypto::password::{self, Password};
use kinfold_crypto::token::PlainToken;
use kinfold_store::{ClientInfo, PasswordReset};

use crate::auth::rfc3339_ms;
use crate::clock::ms;
use crate::services::Auth;
use crate::{Core, CoreError};

/// Whose password a live link resets, for the page that asks for the new one.
#[derive(Debug, Clone)]
pub struct ResetTarget {
    pub email: String,
    pub center: String,
}

impl Core {
    async fn send_reset_link(
        &self,
        slug: &str,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let Some((tenant, scope)) = self.store().tenant_by_slug(slug).await? else {
            return Ok(());
        };
        let Some(user) = self.store().user_by_email(&scope, email).await? else {
            return Ok(());
        };
        if user.password_hash.is_none() || !user.is_active() {
            return Ok(());
        }
        let token = PlainToken::generate();
        let now = self.now_ms();
        let ttl = self.settings().password_reset_ttl;
        let expires = now + ms(ttl);
        let d = self.draft(
            scope.chain(),
            Some(user.id),
            client,
            Event::PasswordResetRequested {
                user_id: user.id.to_string(),
                expires_at: rfc3339_ms(expires),
            },
        );
        self.store()
            .create_password_reset(scope.tx().audit(d), user.id, token.hash(), expires, now)
            .await?;
        let link = format!(
            "{}/reset/{}",
            self.settings().public_url.trim_end_matches('/'),
            token.expose()
        );
        let minutes = ttl.as_secs() / 60;
        // The link holds no `{{`; the center's name goes in through its template variable.
        let text = format!(
            "Dear {{{{guardian_name}}}},\n\nSomeone asked to reset the password of your \
             {{{{center_name}}}} account. To choose a new password, open this link within \
             {minutes} minutes:\n\n{link}\n\nThe link works once. Your authenticator app, if \
             you use one, is still needed to sign in.\n\nIf you did not ask for this, ignore \
             this email: your password stays as it is."
        );
        let sent = self
            .email_user(
                &scope,
                &user,
                "account",
                "Reset your Kinfold password".into(),
                text,
            )
            .await?;
        if !sent {
            tracing::warn!(
                tenant = %tenant.slug,
                "a password reset link could not be emailed: the center cannot send email yet, or the address is suppressed"
            );
        }
        Ok(())
    }

    async fn live_reset(&self, token: &PlainToken) -> Result<PasswordReset, CoreError> {
        let r = self
            .store()
            .password_reset(token.hash())
            .await?
            .ok_or(CoreError::InvalidResetLink)?;
        if r.used_ms.is_some() || self.now_ms() >= r.expires_ms {
            return Err(CoreError::InvalidResetLink);
        }
        Ok(r)
    }
}

impl Auth<'_> {
    /// Step one: `tenant` is the center's slug. Ok means "if the account exists, a link is on
    /// its way"; only malformed input and the throttle answer otherwise.
    pub async fn request_password_reset(
        &self,
        tenant: &str,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let slug = crate::validate::slug("tenant", tenant)?;
        let email = crate::validate::email("email", email)?;
        // Every request counts, found or not; none clears the count.
        let key = Core::throttle_key(&slug, &email);
        self.reserve_attempt(
            crate::throttle::Secret::ResetRequest,
            &key,
            &kinfold_store::Chain::system(),
            &email,
            client,
        )
        .await?;
        let core = Core::clone(self);
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(e) = core.send_reset_link(&slug, &email, &client).await {
                tracing::error!(error = %e, "sending a password reset link failed");
            }
        });
        Ok(())
    }

    /// The account a live link resets. Does not use up the link.
    pub async fn password_reset_target(&self, token: &str) -> Result<ResetTarget, CoreError> {
        let r = self.live_reset(&PlainToken::from_client(token)).await?;
        let user = self
            .store()
            .user(&r.scope, r.user_id)
            .await?
            .ok_or(CoreError::InvalidResetLink)?;
        let tenant = self.tenant_of(&r.scope).await?;
        Ok(ResetTarget {
            email: user.email,
            center: tenant.name,
        })
    }

    /// Step two: sets the new password and ends every session. Returns how many ended. A
    /// weak password leaves the link usable.
    pub async fn complete_password_reset(
        &self,
        token: &str,
        new: Password,
        client: &ClientInfo,
    ) -> Result<usize, CoreError> {
        let token = PlainToken::from_client(token);
        let reset = self.live_reset(&token).await?;
        let scope = reset.scope.clone();
        let user = self
            .store()
            .user(&scope, reset.user_id)
            .await?
            .ok_or(CoreError::InvalidResetLink)?;
        let tenant = self.tenant_of(&scope).await?;
        password::check_new(&new, &[&user.email, &user.name, &tenant.name])
            .map_err(CoreError::WeakPassword)?;
        let hash = self.hash_password(new).await?;
        let d = self.draft(
            scope.chain(),
            Some(user.id),
            client,
            Event::PasswordReset {
                user_id: user.id.to_string(),
            },
        );
        let ended = self
            .store()
            .reset_password(
                reset.scope.tx().audit(d),
                reset.user_id,
                token.hash(),
                hash,
                self.now_ms(),
            )
            .await?
            .ok_or(CoreError::InvalidResetLink)?;
        self.inner.sessions.forget_user(user.id);
        self.log_sessions_ended(&scope, user.id, client, &ended, "password_reset")
            .await?;
        // The owner of the address has proven it: earlier wrong guesses no longer delay them.
        self.attempt_succeeded(
            crate::throttle::Secret::Password,
            &Core::throttle_key(&tenant.slug, &user.email),
            client,
        )
        .await?;
        let at = rfc3339_ms(self.now_ms());
        let ip = client.ip.as_deref().unwrap_or("an unknown address");
        let text = format!(
            "Dear {{{{guardian_name}}}},\n\nThe password of your {{{{center_name}}}} account was \
             changed through a reset link at {at}, from {ip}, and every session of the account \
             was signed out.\n\nIf this was you, there is nothing to do. If not, tell your \
             center's administrator at once."
        );
        if let Err(e) = self
            .email_user(
                &scope,
                &user,
                "security",
                "Your password was changed".into(),
                text,
            )
            .await
        {
            tracing::error!(error = %e, "queueing a password-changed email failed");
        }
        Ok(ended.len())
    }
}
