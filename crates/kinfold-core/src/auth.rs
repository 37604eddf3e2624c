//! Sign-in, MFA (A2), sessions (A4), enrollment, and password changes. A user's own factor
//! changes are in `factors.rs`.

use kinfold_audit::event::{ExpiryReason, MfaFailure, MfaMethod, SignInFailure};
use kinfold_audit::{Draft, Event, SYSTEM_CHAIN};
use kinfold_crypto::password::{self, Password};
use kinfold_crypto::token::PlainToken;
use kinfold_crypto::totp::TotpSecret;
use kinfold_store::{
    ClientInfo, EndReason, NewSession, Session, SessionId, Tenant, TenantScope, User, UserId,
};

use crate::clock::ms;
use crate::keys::Slot;
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
        chain: String,
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
        chain: String,
        actor: Option<UserId>,
        client: &ClientInfo,
        event: Event,
    ) {
        let d = self.draft(chain, actor, client, event);
        self.audit().record(d).await;
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
            .unwrap_or_else(|| SYSTEM_CHAIN.to_owned());
        let key = Self::throttle_key(tenant_slug, &email);
        self.reserve_attempt(Secret::Password, &key, &chain, &email, client)
            .await?;

        let user = match &tenant {
            Some((_, scope)) if !email.chars().any(char::is_control) => {
                self.store().user_by_email(scope, &email).await?
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
            .await;
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
            .await;
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
                self.log(chain, Some(ch.user_id), client, event).await;
            }
            return Err(CoreError::InvalidMfaToken);
        }
        let user = self
            .store()
            .user(&ch.scope, ch.user_id)
            .await?
            .ok_or(CoreError::InvalidMfaToken)?;
        let tenant = self.tenant_of(&ch.scope).await?;
        let key = Self::throttle_key(&tenant.slug, &user.email);
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
                .await;
                Err(CoreError::InvalidCode)
            }
        }
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

    pub async fn tenant_of(&self, scope: &TenantScope) -> Result<Tenant, CoreError> {
        Ok(self.store().tenant(scope).await?)
    }

    async fn create_session(
        &self,
        scope: &TenantScope,
        tenant: Tenant,
        user: User,
        client: &ClientInfo,
        mfa: Option<Draft>,
    ) -> Result<NewSessionIssued, CoreError> {
        let token = PlainToken::generate();
        let now = self.now_ms();
        let lifetime = if user.role.is_staff() {
            self.settings().session_max_lifetime_staff
        } else {
            self.settings().session_max_lifetime_parent
        };
        let id = SessionId::new();
        let new = NewSession {
            id,
            token: token.hash(),
            user_id: user.id,
            created_ms: now,
            expires_ms: now + ms(lifetime),
            client: client.clone(),
        };
        let new_device = self.is_new_device(scope, &user, client).await;
        let chain = scope.chain();
        let mut drafts: Vec<Draft> = mfa.into_iter().collect();
        drafts.push(self.draft(
            chain.clone(),
            Some(user.id),
            client,
            Event::SignInSucceeded {
                user_id: user.id.to_string(),
                email: user.email.clone(),
            },
        ));
        drafts.push(self.draft(
            chain,
            Some(user.id),
            client,
            Event::SessionCreated {
                user_id: user.id.to_string(),
                session_id: id.to_string(),
            },
        ));
        let (session, evicted) = self
            .store()
            .create_session(scope, new, self.settings().max_sessions_per_user, drafts)
            .await?;
        for e in &evicted {
            self.inner.sessions.forget_session(e.id);
            tracing::info!(user = %user.id, session = %e.id, cap = self.settings().max_sessions_per_user, "oldest session evicted at the per-user cap");
        }
        if new_device {
            self.email_new_device(scope, &user, client).await;
        }
        Ok(NewSessionIssued {
            token,
            session,
            user,
            tenant,
        })
    }

    /// Resolves a session cookie into an [`Actor`], enforcing idle and absolute expiry on
    /// every request (A4).
    pub async fn authenticate(&self, token: &str, client: &ClientInfo) -> Result<Actor, CoreError> {
        if token.is_empty() || token.len() > 128 {
            return Err(CoreError::Unauthenticated);
        }
        let hash = kinfold_crypto::token::TokenHash::of(token);
        let ctx = match self.inner.sessions.get(&hash) {
            Some(ctx) => ctx,
            None => {
                let Some(ctx) = self.store().session_by_token(hash).await? else {
                    return Err(CoreError::Unauthenticated);
                };
                let ctx = crate::session_cache::Cached::from(ctx);
                self.inner.sessions.put(hash, ctx.clone());
                ctx
            }
        };
        let s = &ctx.session;
        if s.ended_ms.is_some() {
            return Err(CoreError::Unauthenticated);
        }
        let now = self.now_ms();
        let expiry = if now >= s.expires_ms {
            Some((EndReason::MaxLifetime, ExpiryReason::MaxLifetime))
        } else if now - s.last_seen_ms > ms(self.settings().session_idle_timeout) {
            Some((EndReason::IdleTimeout, ExpiryReason::Idle))
        } else {
            None
        };
        if let Some((end, reason)) = expiry {
            self.inner.sessions.forget_session(s.id);
            let event = Event::SessionExpired {
                user_id: s.user_id.to_string(),
                session_id: s.id.to_string(),
                duration_secs: s.duration_secs(now),
                reason,
            };
            let d = self.draft(ctx.scope.chain(), Some(s.user_id), client, event);
            self.store()
                .end_session(&ctx.scope, s.id, None, end, now, vec![d])
                .await?;
            return Err(CoreError::Unauthenticated);
        }
        if now - s.last_seen_ms >= ms(self.settings().touch_interval()) {
            self.store().touch_session(&ctx.scope, s.id, now).await?;
            self.inner.sessions.touched(&hash, now);
        }
        Ok(Actor {
            role: ctx.user.role,
            tenant: ctx.tenant,
            user: ctx.user,
            session: ctx.session,
            scope: ctx.scope,
        })
    }

    /// The actor's own live sessions, newest first.
    pub async fn my_sessions(&self, actor: &Actor) -> Result<Vec<Session>, CoreError> {
        let now = self.now_ms();
        let idle = ms(self.settings().session_idle_timeout);
        Ok(self
            .store()
            .live_sessions(&actor.scope, actor.user.id)
            .await?
            .into_iter()
            .filter(|s| now < s.expires_ms && now - s.last_seen_ms <= idle)
            .collect())
    }

    /// Revokes one of the actor's own sessions. Another user's session is "not found".
    pub async fn revoke_my_session(
        &self,
        actor: &Actor,
        id: SessionId,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let (reason, event) = if id == actor.session.id {
            (
                EndReason::SignedOut,
                Event::SignedOut {
                    user_id: actor.user.id.to_string(),
                    session_id: id.to_string(),
                    duration_secs: actor.session.duration_secs(self.now_ms()),
                },
            )
        } else {
            (
                EndReason::Revoked,
                Event::SessionRevoked {
                    user_id: actor.user.id.to_string(),
                    session_id: id.to_string(),
                    duration_secs: 0,
                    by: actor.user.id.to_string(),
                },
            )
        };
        let d = self.draft(actor.scope.chain(), Some(actor.user.id), client, event);
        let ended = self
            .store()
            .end_session(
                &actor.scope,
                id,
                Some(actor.user.id),
                reason,
                self.now_ms(),
                vec![d],
            )
            .await?;
        self.inner.sessions.forget_session(id);
        ended.map(|_| ()).ok_or(CoreError::NotFound("session"))
    }

    pub async fn sign_out(&self, actor: &Actor, client: &ClientInfo) -> Result<(), CoreError> {
        self.revoke_my_session(actor, actor.session.id, client)
            .await
    }

    /// Changes the actor's password and ends their other sessions.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: Password,
        new: Password,
        client: &ClientInfo,
    ) -> Result<usize, CoreError> {
        let key = Self::throttle_key(&actor.tenant.slug, &actor.user.email);
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
                &actor.scope,
                actor.user.id,
                hash,
                Some(actor.session.id),
                self.now_ms(),
                vec![d],
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
        .await;
        Ok(ended.len())
    }

    /// One `session_revoked` entry per session a password change or reset ended (`by` names
    /// which). Forgetting the cached sessions is the caller's.
    pub(crate) async fn log_sessions_ended(
        &self,
        scope: &TenantScope,
        user: UserId,
        client: &ClientInfo,
        ended: &[Session],
        by: &str,
    ) {
        for s in ended {
            self.log(
                scope.chain(),
                Some(user),
                client,
                Event::SessionRevoked {
                    user_id: s.user_id.to_string(),
                    session_id: s.id.to_string(),
                    duration_secs: s.duration_secs(self.now_ms()),
                    by: by.to_owned(),
                },
            )
            .await;
        }
    }

    /// Administrator: ends every session of a user in the tenant.
    pub async fn revoke_user_sessions(
        &self,
        actor: &Actor,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<usize, CoreError> {
        crate::policy::require_whole_tenant(actor, crate::policy::Action::ManageUsers)?;
        self.store()
            .user(&actor.scope, user)
            .await?
            .ok_or(CoreError::NotFound("user"))?;
        let mut d = self.draft(
            actor.scope.chain(),
            Some(actor.user.id),
            client,
            Event::SessionsRevokedForUser {
                user_id: user.to_string(),
                by: actor.user.id.to_string(),
                count: 0,
            },
        );
        let now = self.now_ms();
        let live = self.store().live_sessions(&actor.scope, user).await?;
        if let Event::SessionsRevokedForUser { count, .. } = &mut d.event {
            *count = live.len() as u64;
        }
        let ended = self
            .store()
            .end_user_sessions(&actor.scope, user, EndReason::Revoked, now, vec![d])
            .await?;
        self.inner.sessions.forget_user(user);
        Ok(ended.len())
    }

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
            .reset_mfa(&actor.scope, target.id, self.now_ms(), vec![d])
            .await?;
        self.inner.sessions.forget_user(target.id);
        self.clear_second_factor_attempts(&Self::throttle_key(&actor.tenant.slug, &target.email))
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
            .create_enrollment(scope, user, token.hash(), expires, now, vec![d])
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
        Ok(e)
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
        let key = Self::throttle_key(&tenant.slug, &user.email);
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
                .set_password(&e.scope, user.id, hash, None, self.now_ms(), vec![])
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
