//! The throttles' attempt counters (A2), shared by every node and kept across restarts.
//!
//! The trait is declared here and implemented once for both stores in `sql/attempts.rs`; the
//! policy (how many, how long) is core's.
//!
//! Counters change only by compare-and-set ([`AttemptStore::swap_attempts`]), so N attempts
//! made at once count as N, on one node or many.

use async_trait::async_trait;

use crate::Result;

/// A throttle key as stored: an HMAC made by core, so no address is kept in the clear.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AttemptKey(pub [u8; 32]);

impl std::fmt::Debug for AttemptKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AttemptKey")
    }
}

/// One counter: failures (or reserved attempts) so far, and the time of the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    pub failures: i64,
    pub last_ms: i64,
}

#[async_trait]
pub trait AttemptStore {
    async fn attempts(&self, key: &AttemptKey) -> Result<Option<Attempts>>;
    /// Writes `new` only if the stored counter is still `old` (`None`: no counter). True when
    /// written; false when another attempt changed it first (read again and retry).
    async fn swap_attempts(
        &self,
        key: &AttemptKey,
        old: Option<Attempts>,
        new: Attempts,
        expires_ms: i64,
    ) -> Result<bool>;
    async fn clear_attempts(&self, key: &AttemptKey) -> Result<()>;
    /// Counts one refused attempt. When no summary was written for this key in the last
    /// `every_ms`, claims one: returns the refused attempts it covers (this one included).
    async fn note_refused(
        &self,
        key: &AttemptKey,
        now_ms: i64,
        every_ms: i64,
        expires_ms: i64,
    ) -> Result<Option<i64>>;
    /// True at most once per `window_ms` for a key, whichever node asks (one email a day).
    async fn once_per(&self, key: &AttemptKey, now_ms: i64, window_ms: i64) -> Result<bool>;
    /// Deletes counters past their expiry; returns how many.
    async fn prune_attempts(&self, now_ms: i64) -> Result<u64>;
}
