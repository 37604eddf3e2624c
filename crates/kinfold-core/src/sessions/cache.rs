//! A per-node cache of session lookups, living at most 1 s (DESIGN.md: "one lookup, cached for
//! at most 1 s"). Expiry is still checked against the [`Clock`](crate::Clock) on every request;
//! the cache only saves the database round trip. Sessions ended on this node are dropped from
//! it at once; on another node they are refused within the TTL.

use crate::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kinfold_crypto::token::TokenHash;
use kinfold_store::{
    Session, SessionContext, SessionId, Tenant, TenantId, TenantScope, User, UserId,
};

/// A session as cached: its parts are shared, so a hit costs a few reference counts rather
/// than copies of the user and tenant records.
#[derive(Clone)]
pub struct Cached {
    pub session: Arc<Session>,
    pub user: Arc<User>,
    pub tenant: Arc<Tenant>,
    pub scope: TenantScope,
}

impl From<SessionContext> for Cached {
    fn from(c: SessionContext) -> Self {
        Self {
            session: Arc::new(c.session),
            user: Arc::new(c.user),
            tenant: Arc::new(c.tenant),
            scope: c.scope,
        }
    }
}

pub const TTL: Duration = Duration::from_secs(1);
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct SessionCache {
    map: Mutex<HashMap<TokenHash, (Instant, Cached)>>,
}

impl SessionCache {
    pub fn get(&self, token: &TokenHash) -> Option<Cached> {
        let map = self.map.lock().ok()?;
        map.get(token)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, ctx)| ctx.clone())
    }

    pub fn put(&self, token: TokenHash, ctx: Cached) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= MAX_ENTRIES {
                map.retain(|_, (at, _)| at.elapsed() < TTL);
            }
            map.insert(token, (Instant::now(), ctx));
        }
    }

    /// Records a `last_seen` write in the cached copy.
    pub fn touched(&self, token: &TokenHash, at_ms: i64) {
        if let Ok(mut map) = self.map.lock() {
            if let Some((_, ctx)) = map.get_mut(token) {
                Arc::make_mut(&mut ctx.session).last_seen_ms = at_ms;
            }
        }
    }

    pub fn forget_session(&self, id: SessionId) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, (_, ctx)| ctx.session.id != id);
        }
    }

    /// Drops every cached session of a center (its session policy changed).
    pub fn forget_tenant(&self, tenant: TenantId) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, (_, ctx)| ctx.tenant.id != tenant);
        }
    }

    /// Drops every cached session of a user (password change, MFA reset, revoke-all).
    pub fn forget_user(&self, user: UserId) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, (_, ctx)| ctx.user.id != user);
        }
    }
}
