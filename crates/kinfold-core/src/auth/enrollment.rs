//! Enrollment links (A2): an administrator's MFA reset, the single-use link it and
//! `kinfold user create` issue, and binding a staff member's factor through it.

use kinfold_audit::{Draft, Event};
use kinfold_crypto::password::{self, Password};
use kinfold_crypto::token::PlainToken;
use kinfold_crypto::totp::TotpSecret;
use kinfold_store::{ClientInfo, Tenant, TenantScope, User, UserId};

use crate::auth::{rfc3339_ms, Enrolled, TotpOffer};
use crate::clock::ms;
use crate::services::Auth;
use crate::throttle::Secret;
use crate::{Actor, Core, CoreError};

impl Core {
    async fn live_enrollment(
        &self,
        token: &PlainToken,
    ) -> Result<kinfold_store::Enrollment, CoreError> {
        let e = self
            .store()
            .enrollment(token.hash())
            .await?
            .ok_or(CoreError::InvalidEnrollment)?;
        if e.used_ms.is_some() || self.now_ms() >= e.expires_ms {
            return Err(CoreError::InvalidEnrollment);
        }
        // Deactivation voids the links too; a link read before it is still refused here.
        let active = self
            .store()
            .user(&e.scope, e.user_id)
            .await?
            .is_some_and(|u| u.is_active());
        if !active {
            return Err(CoreError::InvalidEnrollment);
        }
        Ok(e)
    }
}

impl Auth<'_> {
    /// Administrator: clears a user's second factor, ends their sessions, and issues a new
    /// enrollment link. Audited as `mfa_reset`.
    pub async fn reset_mfa(
        &self,
        actor: &Actor,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<PlainToken, CoreError> {
        crate::policy::require_whole_tenant(actor, crate::policy::Action::ManageUsers)?;
        let target = self
            .store()
            .user(&actor.scope, user)
            .await?
            .ok_or(CoreError::NotFound("user"))?;
        let d = self.draft(
            actor.scope.chain(),
            Some(actor.user.id),
            client,
            Event::MfaReset {
                user_id: user.to_string(),
                by: actor.user.id.to_string(),
            },
        );
        self.store()
            .reset_mfa(actor.scope.tx().audit(d), target.id, self.now_ms())
            .await?;
        self.inner.sessions.forget_user(target.id);
        self.clear_second_factor_attempts(&Core::throttle_key(&actor.tenant.slug, &target.email))
            .await?;
        let token = self
            .issue_enrollment(&actor.scope, target.id, &actor.user.id.to_string())
            .await?;
        let link = self.enrollment_link(&token);
        self.email_enrollment(&actor.scope, &target, &link, true)
            .await;
        Ok(token)
    }

    /// Where an enrollment token is used: `PUBLIC_URL/enroll/TOKEN`.
    pub fn enrollment_link(&self, token: &PlainToken) -> String {
        format!(
            "{}/enroll/{}",
            self.settings().public_url.trim_end_matches('/'),
            token.expose()
        )
    }

    /// A single-use enrollment link token that expires after `enrollment_ttl`.
    pub async fn issue_enrollment(
        &self,
        scope: &TenantScope,
        user: UserId,
        by: &str,
    ) -> Result<PlainToken, CoreError> {
        let token = PlainToken::generate();
        let now = self.now_ms();
        let expires = now + ms(self.settings().enrollment_ttl);
        let expires_at = rfc3339_ms(expires);
        let d = Draft::new(
            scope.chain(),
            now,
            Event::EnrollmentIssued {
                user_id: user.to_string(),
                by: by.to_owned(),
                expires_at,
            },
        );
        self.store()
            .create_enrollment(scope.tx().audit(d), user, token.hash(), expires, now)
            .await?;
        Ok(token)
    }

    /// Enrollment link, step one: offers a new TOTP secret (kept sealed on the link until
    /// confirmed). Does not use up the link.
    pub async fn enrollment_begin(
        &self,
        token: &str,
    ) -> Result<(TotpOffer, User, Tenant), CoreError> {
        let token = PlainToken::from_client(token);
        let e = self.live_enrollment(&token).await?;
        let user = self
            .store()
            .user(&e.scope, e.user_id)
            .await?
            .ok_or(CoreError::InvalidEnrollment)?;
        let tenant = self.tenant_of(&e.scope).await?;
        let secret = TotpSecret::generate();
        let sealed = self
            .seal_totp(&e.scope, user.id, "enrollment_totp", &secret)
            .await?;
        self.store()
            .set_enrollment_secret(token.hash(), sealed)
            .await?;
        let uri = secret.otpauth_uri(&format!("Kinfold {}", tenant.name), &user.email)?;
        Ok((
            TotpOffer {
                secret,
                otpauth_uri: uri,
                account: user.email.clone(),
            },
            user,
            tenant,
        ))
    }

    /// Enrollment link, step two: proves the password (or sets the first one), confirms the
    /// TOTP code, binds the factor, uses up the link, and signs the user in.
    pub async fn enrollment_confirm(
        &self,
        token: &str,
        code: &str,
        password: Password,
        client: &ClientInfo,
    ) -> Result<Enrolled, CoreError> {
        let token = PlainToken::from_client(token);
        let e = self.live_enrollment(&token).await?;
        let user = self
            .store()
            .user(&e.scope, e.user_id)
            .await?
            .ok_or(CoreError::InvalidEnrollment)?;
        let tenant = self.tenant_of(&e.scope).await?;
        let key = Core::throttle_key(&tenant.slug, &user.email);
        self.reserve_attempt(
            Secret::Password,
            &key,
            &e.scope.chain(),
            &user.email,
            client,
        )
        .await?;

        let new_hash = match &user.password_hash {
            Some(h) => {
                if !self.verify_password(password, Some(h.clone())).await? {
                    return Err(CoreError::InvalidCredentials);
                }
                None
            }
            None => {
                password::check_new(&password, &[&user.email, &user.name, &tenant.name])
                    .map_err(CoreError::WeakPassword)?;
                Some(self.hash_password(password).await?)
            }
        };
        let sealed = e.pending_totp.as_ref().ok_or_else(|| {
            CoreError::invalid("code", "start enrollment first: no secret was offered")
        })?;
        let secret = self
            .open_totp(&e.scope, user.id, "enrollment_totp", sealed)
            .await?;
        let Some(step) = secret.verify(code, u64::try_from(self.now_ms() / 1000).unwrap_or(0))
        else {
            return Err(CoreError::InvalidCode);
        };
        self.attempt_succeeded(Secret::Password, &key, client)
            .await?;
        if !self
            .store()
            .consume_enrollment(token.hash(), self.now_ms())
            .await?
        {
            return Err(CoreError::InvalidEnrollment);
        }
        if let Some(hash) = new_hash {
            self.store()
                .set_password(e.scope.tx(), user.id, hash, None, self.now_ms())
                .await?;
        }
        let codes = self
            .bind_totp(
                &e.scope,
                &user,
                &secret,
                i64::try_from(step).unwrap_or(0),
                client,
            )
            .await?;
        self.email_factor_changed(&e.scope, &user).await;
        let user = self
            .store()
            .user(&e.scope, user.id)
            .await?
            .ok_or(CoreError::InvalidEnrollment)?;
        let session = self
            .create_session(&e.scope, tenant, user, client, None)
            .await?;
        Ok(Enrolled {
            recovery_codes: codes,
            session: Some(session),
        })
    }
}
