use std::sync::Arc;

use kinfold_store::{Role, Session, Tenant, TenantScope, User};

/// Who is making a request: resolved from the session cookie once per request. The records
/// are shared with the session cache.
#[derive(Debug, Clone)]
pub struct Actor {
    pub tenant: Arc<Tenant>,
    pub user: Arc<User>,
    pub role: Role,
    pub session: Arc<Session>,
    pub scope: TenantScope,
}

impl crate::Core {
    /// An actor for an operator command running on the server's host (demo seeding, imports):
    /// it acts as `user` without a session. Never reachable over HTTP.
    pub async fn operator_actor(
        &self,
        scope: &TenantScope,
        user: kinfold_store::UserId,
    ) -> Result<Actor, crate::CoreError> {
        let user = self
            .store()
            .user(scope, user)
            .await?
            .ok_or(crate::CoreError::NotFound("user"))?;
        let tenant = self.store().tenant(scope).await?;
        let now = self.now_ms();
        let session = Session {
            id: kinfold_store::SessionId::new(),
            tenant_id: tenant.id,
            user_id: user.id,
            created_ms: now,
            last_seen_ms: now,
            expires_ms: now,
            ip: None,
            user_agent: Some("kinfold operator command".into()),
            device: None,
            ended_ms: None,
            end_reason: None,
        };
        Ok(Actor {
            role: user.role,
            tenant: Arc::new(tenant),
            user: Arc::new(user),
            session: Arc::new(session),
            scope: scope.clone(),
        })
    }
}
