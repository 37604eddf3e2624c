//! Sessions (A4): creating one after sign-in, authenticating each request through the
//! per-node cache, listing and revoking them, signing out, and ending a user's sessions.

pub mod cache;

use kinfold_audit::event::ExpiryReason;
use kinfold_audit::{Draft, Event};
use kinfold_crypto::token::PlainToken;
use kinfold_store::{
    ClientInfo, EndReason, NewSession, Session, SessionId, Tenant, TenantScope, User, UserId,
};

use crate::auth::NewSessionIssued;
use crate::clock::ms;
use crate::services::Sessions;
use crate::{Actor, Core, CoreError};

impl Core {
    pub(crate) async fn create_session(
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
        // The center's own cap is read in the session's transaction (a policy change racing
        // this sign-in is either seen or sees this session).
        let operator_cap = self.settings().max_sessions_per_user;
        let (session, evicted) = self
            .store()
            .create_session(scope.tx().audit_all(drafts), new, operator_cap)
            .await
            // Deactivated between the password and the session: no session, like a wrong
            // password.
            .map_err(|e| match e {
                kinfold_store::StoreError::NotFound("user") => CoreError::InvalidCredentials,
                other => CoreError::from(other),
            })?;
        for e in &evicted {
            self.inner.sessions.forget_session(e.id);
            tracing::info!(user = %user.id, session = %e.id, "oldest session evicted at the per-user cap");
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

    /// One `session_revoked` entry per session a password change or reset ended (`by` names
    /// which). Forgetting the cached sessions is the caller's.
    pub(crate) async fn log_sessions_ended(
        &self,
        scope: &TenantScope,
        user: UserId,
        client: &ClientInfo,
        ended: &[Session],
        by: &str,
    ) -> Result<(), CoreError> {
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
            .await?;
        }
        Ok(())
    }
}

impl Sessions<'_> {
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
                let ctx = crate::sessions::cache::Cached::from(ctx);
                self.inner.sessions.put(hash, ctx.clone());
                ctx
            }
        };
        let s = &ctx.session;
        // A deactivated account's sessions were ended with it; this holds even so.
        if s.ended_ms.is_some() || !ctx.user.is_active() {
            return Err(CoreError::Unauthenticated);
        }
        let now = self.now_ms();
        let idle = self.settings().idle_timeout_for(&ctx.tenant.sessions);
        let expiry = if now >= s.expires_ms {
            Some((EndReason::MaxLifetime, ExpiryReason::MaxLifetime))
        } else if now - s.last_seen_ms > ms(idle) {
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
                .end_session(ctx.scope.tx().audit(d), s.id, None, end, now)
                .await?;
            return Err(CoreError::Unauthenticated);
        }
        if now - s.last_seen_ms >= ms(crate::settings::touch_interval(idle)) {
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
        let idle = ms(self.settings().idle_timeout_for(&actor.tenant.sessions));
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
                actor.scope.tx().audit(d),
                id,
                Some(actor.user.id),
                reason,
                self.now_ms(),
            )
            .await?;
        self.inner.sessions.forget_session(id);
        ended.map(|_| ()).ok_or(CoreError::NotFound("session"))
    }

    pub async fn sign_out(&self, actor: &Actor, client: &ClientInfo) -> Result<(), CoreError> {
        self.revoke_my_session(actor, actor.session.id, client)
            .await
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
            .end_user_sessions(actor.scope.tx().audit(d), user, EndReason::Revoked, now)
            .await?;
        self.inner.sessions.forget_user(user);
        Ok(ended.len())
    }
}
