//! The throttles' attempt counters (A2), shared by every node and kept across restarts.
//!
//! Each statement is written once and runs on both backends (`$N` parameters, which sqlx binds
//! by number on SQLite too). The one body is compiled for each store by `attempt_store_for!`;
//! the policy (how many, how long) is core's.
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

pub(crate) const GET: &str = "SELECT failures, last_ms FROM auth_attempts WHERE key = $1";
pub(crate) const INSERT: &str = "INSERT INTO auth_attempts (key, failures, last_ms, expires_ms) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING";
pub(crate) const SWAP: &str = "UPDATE auth_attempts SET failures = $2, last_ms = $3, \
     expires_ms = $4 WHERE key = $1 AND failures = $5 AND last_ms = $6";
pub(crate) const CLEAR: &str = "DELETE FROM auth_attempts WHERE key = $1";
pub(crate) const REFUSED: &str =
    "INSERT INTO auth_attempts (key, failures, last_ms, refused, logged_ms, expires_ms) \
     VALUES ($1, 0, $2, 1, $4, $3) ON CONFLICT (key) DO UPDATE \
     SET refused = auth_attempts.refused + 1, expires_ms = excluded.expires_ms \
     RETURNING refused, logged_ms";
pub(crate) const CLAIM_SUMMARY: &str = "UPDATE auth_attempts SET refused = refused - $2, \
     logged_ms = $3 WHERE key = $1 AND logged_ms = $4 AND refused >= $2";
pub(crate) const ONCE_PER: &str = "INSERT INTO auth_attempts (key, failures, last_ms, expires_ms) \
     VALUES ($1, 0, $2, $3) ON CONFLICT (key) DO UPDATE \
     SET last_ms = excluded.last_ms, expires_ms = excluded.expires_ms \
     WHERE auth_attempts.last_ms <= $4";
pub(crate) const PRUNE: &str = "DELETE FROM auth_attempts WHERE expires_ms < $1";

/// Implements [`AttemptStore`] for a store type whose `$pool` field is a sqlx pool: the same
/// statements and the same body on SQLite and PostgreSQL.
macro_rules! attempt_store_for {
    ($store:ty, $pool:ident) => {
        #[async_trait::async_trait]
        impl $crate::attempts::AttemptStore for $store {
            async fn attempts(
                &self,
                key: &$crate::attempts::AttemptKey,
            ) -> $crate::Result<Option<$crate::attempts::Attempts>> {
                let row: Option<(i64, i64)> = sqlx::query_as($crate::attempts::GET)
                    .bind(&key.0[..])
                    .fetch_optional(&self.$pool)
                    .await?;
                Ok(row.map(|(failures, last_ms)| $crate::attempts::Attempts { failures, last_ms }))
            }

            async fn swap_attempts(
                &self,
                key: &$crate::attempts::AttemptKey,
                old: Option<$crate::attempts::Attempts>,
                new: $crate::attempts::Attempts,
                expires_ms: i64,
            ) -> $crate::Result<bool> {
                let done = match old {
                    None => sqlx::query($crate::attempts::INSERT)
                        .bind(&key.0[..])
                        .bind(new.failures)
                        .bind(new.last_ms)
                        .bind(expires_ms)
                        .execute(&self.$pool)
                        .await?
                        .rows_affected(),
                    Some(old) => sqlx::query($crate::attempts::SWAP)
                        .bind(&key.0[..])
                        .bind(new.failures)
                        .bind(new.last_ms)
                        .bind(expires_ms)
                        .bind(old.failures)
                        .bind(old.last_ms)
                        .execute(&self.$pool)
                        .await?
                        .rows_affected(),
                };
                Ok(done == 1)
            }

            async fn clear_attempts(
                &self,
                key: &$crate::attempts::AttemptKey,
            ) -> $crate::Result<()> {
                sqlx::query($crate::attempts::CLEAR)
                    .bind(&key.0[..])
                    .execute(&self.$pool)
                    .await?;
                Ok(())
            }

            async fn note_refused(
                &self,
                key: &$crate::attempts::AttemptKey,
                now_ms: i64,
                every_ms: i64,
                expires_ms: i64,
            ) -> $crate::Result<Option<i64>> {
                let (refused, logged_ms): (i64, i64) = sqlx::query_as($crate::attempts::REFUSED)
                    .bind(&key.0[..])
                    .bind(now_ms)
                    .bind(expires_ms)
                    // A first refusal is summarised at once.
                    .bind(now_ms.saturating_sub(every_ms))
                    .fetch_one(&self.$pool)
                    .await?;
                if now_ms.saturating_sub(logged_ms) < every_ms {
                    return Ok(None);
                }
                let claimed = sqlx::query($crate::attempts::CLAIM_SUMMARY)
                    .bind(&key.0[..])
                    .bind(refused)
                    .bind(now_ms)
                    .bind(logged_ms)
                    .execute(&self.$pool)
                    .await?
                    .rows_affected();
                Ok((claimed == 1).then_some(refused))
            }

            async fn once_per(
                &self,
                key: &$crate::attempts::AttemptKey,
                now_ms: i64,
                window_ms: i64,
            ) -> $crate::Result<bool> {
                let done = sqlx::query($crate::attempts::ONCE_PER)
                    .bind(&key.0[..])
                    .bind(now_ms)
                    .bind(now_ms.saturating_add(window_ms))
                    .bind(now_ms.saturating_sub(window_ms))
                    .execute(&self.$pool)
                    .await?
                    .rows_affected();
                Ok(done == 1)
            }

            async fn prune_attempts(&self, now_ms: i64) -> $crate::Result<u64> {
                Ok(sqlx::query($crate::attempts::PRUNE)
                    .bind(now_ms)
                    .execute(&self.$pool)
                    .await?
                    .rows_affected())
            }
        }
    };
}
pub(crate) use attempt_store_for;
