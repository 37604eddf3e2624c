//! Sign-in with a password and a second factor (A2), and password changes. Sessions are in
//! `sessions.rs`, enrollment links and MFA resets in `enrollment.rs`, a user's own factor
//! changes in `factors.rs`.

pub mod enrollment;
pub mod factors;
pub mod password_reset;

use kinfold_audit::event::{MfaFailure, MfaMethod, SignInFailure};
use kinfold_audit::{Draft, Event};
use kinfold_crypto::password::{self, Password};
use kinfold_crypto::token::PlainToken;
use kinfold_crypto::totp::TotpSecret;
use kinfold_store::{Chain, ClientInfo, Session, Tenant, TenantScope, User, UserId};

use crate::clock::ms;
use crate::keys::Slot;
use crate::services::Auth;
use crate::throttle::Secret;
use crate::{Actor, Core, CoreError};

/// What a correct password leads to.
#[derive(Debug)]
pub enum SignIn {
    /// Staff (or a parent who enrolled TOTP): a second step is needed.
    MfaRequired { mfa_token: PlainToken },
    /// A session was created.
    SignedIn(Box<NewSessionIssued>),
}

/// A session just created. The token is shown once, in the cookie.
#[derive(Debug)]
pub struct NewSessionIssued {
    pub token: PlainToken,
    pub session: Session,
    pub user: User,
    pub tenant: Tenant,
}

/// A TOTP secret offered for enrollment, not yet confirmed.
#[derive(Debug)]
pub struct TotpOffer {
    pub secret: TotpSecret,
    pub otpauth_uri: String,
    pub account: String,
}

/// What confirming an enrollment returns: the recovery codes (shown once), and for an
/// enrollment link, a session.
#[derive(Debug)]
pub struct Enrolled {
    pub recovery_codes: Vec<String>,
    pub session: Option<NewSessionIssued>,
}

impl Core {
    pub(crate) fn draft(
        &self,
        chain: Chain,
        actor: Option<UserId>,
        client: &ClientInfo,
        event: Event,
    ) -> Draft {
        let mut d = Draft::new(chain, self.now_ms(), event);
        d.actor = actor.map(|a| a.to_string());
        d.ip = client.ip.clone();
        d.user_agent = client.user_agent.clone();
        d.device = client.device.clone();
        d
    }

    pub(crate) async fn log(
        &self,
        chain: Chain,
        actor: Option<UserId>,
        client: &ClientInfo,
        event: Event,
    ) -> Result<(), CoreError> {
        let d = self.draft(chain.clone(), actor, client, event);
        self.audit().record(chain, d).await
    }

    pub(crate) fn throttle_key(tenant: &str, email: &str) -> String {
        format!("{tenant}\n{email}")
    }

    pub(crate) async fn verify_password(
        &self,
        password: Password,
        hash: Option<String>,
    ) -> Result<bool, CoreError> {
        self.inner
            .hasher
            .run(move || {
                // An unknown account (or one without a password) costs the same work.
                let phc = hash.unwrap_or_else(|| password::dummy_hash().to_owned());
                password::verify(&password, &phc)
            })
            .await
    }

    pub async fn hash_password(&self, password: Password) -> Result<String, CoreError> {
        self.inner
            .hasher
            .run(move || password::hash(&password))
            .await?
            .map_err(CoreError::from)
    }

    /// A TOTP code (refused if its time step was already used) or an unused recovery code.
    pub(crate) async fn check_second_factor(
        &self,
        scope: &TenantScope,
        user: &User,
        code: &str,
    ) -> Result<Result<MfaMethod, MfaFailure>, CoreError> {
        let code = code.trim();
        if code.len() > 64 {
            return Ok(Err(MfaFailure::WrongCode));
        }
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            let Some(sealed) = &user.totp_sealed else {
                return Ok(Err(MfaFailure::WrongCode));
            };
            let secret = self
                .open_totp(scope, user.id, "totp_secret", sealed)
                .await?;
            let Some(step) = secret.verify(code, u64::try_from(self.now_ms() / 1000).unwrap_or(0))
            else {
                return Ok(Err(MfaFailure::WrongCode));
            };
            let step = i64::try_from(step).unwrap_or(i64::MAX);
            if !self.store().advance_totp_step(scope, user.id, step).await? {
                return Ok(Err(MfaFailure::ReusedCode));
            }
            return Ok(Ok(MfaMethod::Totp));
        }
        let hash = self.keys().recovery_code_hash(code);
        if self
            .store()
            .use_recovery_code(scope, user.id, hash, self.now_ms())
            .await?
        {
            Ok(Ok(MfaMethod::RecoveryCode))
        } else {
            Ok(Err(MfaFailure::WrongCode))
        }
    }

    pub(crate) async fn open_totp(
        &self,
        scope: &TenantScope,
        user: UserId,
        column: &str,
        sealed: &[u8],
    ) -> Result<TotpSecret, CoreError> {
        let row = user.to_string();
        let raw = self
            .keys()
            .open(
                scope,
                Slot {
                    table: "users",
                    column,
                    row: &row,
                },
                sealed,
            )
            .await?;
        Ok(TotpSecret::from_bytes(raw))
    }

    pub(crate) async fn seal_totp(
        &self,
        scope: &TenantScope,
        user: UserId,
        column: &str,
        secret: &TotpSecret,
    ) -> Result<Vec<u8>, CoreError> {
        let row = user.to_string();
        self.keys()
            .seal(
                scope,
                Slot {
                    table: "users",
                    column,
                    row: &row,
                },
                secret.expose(),
            )
            .await
    }
}

impl Auth<'_> {
    /// Step one: tenant, email and password. Every wrong combination gets the same error
    /// after the same work.
    pub async fn sign_in(
        &self,
        tenant_slug: &str,
        email: &str,
        password: Password,
        client: &ClientInfo,
    ) -> Result<SignIn, CoreError> {
        let email = email.trim().to_lowercase();
        // Refused at the door, before any lookup, hash or log entry: no address is longer
        // than 254 bytes (RFC 5321 §4.5.3.1.3 and its errata).
        if email.len() > 254 {
            return Err(CoreError::invalid(
                "email",
                "must be an email address of at most 254 bytes",
            ));
        }
        // Input that cannot name a tenant or an account is not looked up (PostgreSQL refuses
        // a NUL in text outright); it fails like any unknown account.
        let tenant = match crate::validate::slug("tenant", tenant_slug) {
            Ok(_) => self.store().tenant_by_slug(tenant_slug).await?,
            Err(_) => None,
        };
        let chain = tenant
            .as_ref()
            .map(|(_, s)| s.chain())
            .unwrap_or_else(Chain::system);
        let key = Core::throttle_key(tenant_slug, &email);
        self.reserve_attempt(Secret::Password, &key, &chain, &email, client)
            .await?;

        let user = match &tenant {
            Some((_, scope)) if !email.chars().any(char::is_control) => {
                // A deactivated account signs in like an unknown one.
                self.store()
                    .user_by_email(scope, &email)
                    .await?
                    .filter(User::is_active)
            }
            _ => None,
        };
        let ok = self
            .verify_password(
                password,
                user.as_ref().and_then(|u| u.password_hash.clone()),
            )
            .await?;
        let (Some((tenant, scope)), Some(user), true) = (tenant, user.clone(), ok) else {
            let reason = if user.is_some() {
                SignInFailure::WrongPassword
            } else {
                SignInFailure::UnknownAccount
            };
            tracing::info!(
                ip = client.ip.as_deref().unwrap_or("-"),
                ?reason,
                "sign-in failed"
            );
            self.log(
                chain,
                user.map(|u| u.id),
                client,
                Event::SignInFailed { email, reason },
            )
            .await?;
            return Err(CoreError::InvalidCredentials);
        };
        // A correct password clears the password counters only: wrong second-factor codes
        // stay counted on their own key until a correct code.
        self.attempt_succeeded(Secret::Password, &key, client)
            .await?;

        if user.has_mfa() {
            let token = PlainToken::generate();
            let expires = self.now_ms() + ms(self.settings().mfa_token_ttl);
            self.store()
                .create_challenge(&scope, user.id, token.hash(), expires, client)
                .await?;
            return Ok(SignIn::MfaRequired { mfa_token: token });
        }
        if user.role.is_staff() {
            self.log(
                chain,
                Some(user.id),
                client,
                Event::SignInFailed {
                    email,
                    reason: SignInFailure::MfaEnrollmentRequired,
                },
            )
            .await?;
            return Err(CoreError::MfaEnrollmentRequired);
        }
        let issued = self
            .create_session(&scope, tenant, user, client, None)
            .await?;
        Ok(SignIn::SignedIn(Box::new(issued)))
    }

    /// Step two: the `mfa_token` and a TOTP or recovery code. The token is single-use, lives
    /// `mfa_token_ttl`, and allows `mfa_token_attempts` tries.
    pub async fn sign_in_mfa(
        &self,
        mfa_token: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<NewSessionIssued, CoreError> {
        let token = PlainToken::from_client(mfa_token);
        let Some(ch) = self.store().attempt_challenge(token.hash()).await? else {
            return Err(CoreError::InvalidMfaToken);
        };
        let now = self.now_ms();
        let chain = ch.scope.chain();
        if ch.used_ms.is_some()
            || now >= ch.expires_ms
            || ch.attempts > self.settings().mfa_token_attempts
        {
            let reason = if now >= ch.expires_ms {
                MfaFailure::ExpiredToken
            } else {
                MfaFailure::TooManyAttempts
            };
            // A dead token replayed without end is logged once a minute per user, not once a
            // request.
            let user = ch.user_id.to_string();
            if self
                .first_refusal_this_minute(&["dead-mfa-token", &user])
                .await?
                .is_some()
            {
                let event = Event::MfaFailed {
                    user_id: user,
                    reason,
                };
                self.log(chain, Some(ch.user_id), client, event).await?;
            }
            return Err(CoreError::InvalidMfaToken);
        }
        let user = self
            .store()
            .user(&ch.scope, ch.user_id)
            .await?
            .ok_or(CoreError::InvalidMfaToken)?;
        let tenant = self.tenant_of(&ch.scope).await?;
        let key = Core::throttle_key(&tenant.slug, &user.email);
        let tried = self
            .reserve_attempt(Secret::SecondFactor, &key, &chain, &user.email, client)
            .await?;

        match self.check_second_factor(&ch.scope, &user, code).await? {
            Ok(method) => {
                if !self.store().consume_challenge(token.hash(), now).await? {
                    return Err(CoreError::InvalidMfaToken);
                }
                self.attempt_succeeded(Secret::SecondFactor, &key, client)
                    .await?;
                let mfa = self.draft(
                    chain,
                    Some(user.id),
                    client,
                    Event::MfaSucceeded {
                        user_id: user.id.to_string(),
                        method,
                    },
                );
                self.create_session(&ch.scope, tenant, user, client, Some(mfa))
                    .await
            }
            Err(reason) => {
                self.second_factor_failed(&ch.scope, &user, &key, tried)
                    .await;
                tracing::info!(
                    ip = client.ip.as_deref().unwrap_or("-"),
                    ?reason,
                    "MFA failed"
                );
                self.log(
                    chain,
                    Some(user.id),
                    client,
                    Event::MfaFailed {
                        user_id: user.id.to_string(),
                        reason,
                    },
                )
                .await?;
                Err(CoreError::InvalidCode)
            }
        }
    }

    pub async fn tenant_of(&self, scope: &TenantScope) -> Result<Tenant, CoreError> {
        Ok(self.store().tenant(scope).await?)
    }

    /// Changes the actor's password and ends their other sessions.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: Password,
        new: Password,
        client: &ClientInfo,
    ) -> Result<usize, CoreError> {
        let key = Core::throttle_key(&actor.tenant.slug, &actor.user.email);
        self.reserve_attempt(
            Secret::Password,
            &key,
            &actor.scope.chain(),
            &actor.user.email,
            client,
        )
        .await?;
        if !self
            .verify_password(current, actor.user.password_hash.clone())
            .await?
        {
            return Err(CoreError::InvalidCredentials);
        }
        self.attempt_succeeded(Secret::Password, &key, client)
            .await?;
        password::check_new(
            &new,
            &[&actor.user.email, &actor.user.name, &actor.tenant.name],
        )
        .map_err(CoreError::WeakPassword)?;
        let hash = self.hash_password(new).await?;
        let d = self.draft(
            actor.scope.chain(),
            Some(actor.user.id),
            client,
            Event::PasswordChanged {
                user_id: actor.user.id.to_string(),
            },
        );
        let ended = self
            .store()
            .set_password(
                actor.scope.tx().audit(d),
                actor.user.id,
                hash,
                Some(actor.session.id),
                self.now_ms(),
            )
            .await?;
        self.inner.sessions.forget_user(actor.user.id);
        self.log_sessions_ended(
            &actor.scope,
            actor.user.id,
            client,
            &ended,
            "password_change",
        )
        .await?;
        Ok(ended.len())
    }
}

/// Milliseconds since the epoch as RFC 3339 (millisecond precision). The one formatter for
/// every timestamp Kinfold shows: API bodies, console pages, audit events, CLI output.
pub fn rfc3339_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
