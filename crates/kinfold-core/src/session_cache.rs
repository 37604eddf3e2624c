//! A per-node cache of session lookups, living at most 1 s (DESIGN.md: "one lookup, cached for
//! at most 1 s"). Expiry is still checked against the [`Clock`](crate::Clock) on every request;
//! the cache only saves the database round trip. Sessions ended on this node are dropped from
//! it at once; on another node they are refused within the TTL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kinfold_crypto::token::TokenHash;
use kinfold_store::{SessionContext, SessionId, UserId};

pub const TTL: Duration = Duration::from_secs(1);
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct SessionCache {
    map: Mutex<HashMap<TokenHash, (Instant, SessionContext)>>,
}

impl SessionCache {
    pub fn get(&self, token: &TokenHash) -> Option<SessionContext> {
        let map = self.map.lock().ok()?;
        map.get(token)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, ctx)| ctx.clone())
    }

    pub fn put(&self, token: TokenHash, ctx: SessionContext) {
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
                ctx.session.last_seen_ms = at_ms;
            }
        }
    }

    pub fn forget_session(&self, id: SessionId) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, (_, ctx)| ctx.session.id != id);
        }
    }

    /// Drops every cached session of a user (password change, MFA reset, revoke-all).
    pub fn forget_user(&self, user: UserId) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, (_, ctx)| ctx.user.id != user);
        }
    }
}
