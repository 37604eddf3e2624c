//! The throttles' attempt counters (A2): one body for both stores. The counters are behind no
//! wall (an attempt may name no tenant), so each statement runs on its own, outside a
//! transaction, and changes a counter only by compare-and-set.

use async_trait::async_trait;

use super::Backend;
use crate::attempts::{AttemptKey, AttemptStore, Attempts};
use crate::Result;

#[async_trait]
impl AttemptStore for Backend {
    async fn attempts(&self, key: &AttemptKey) -> Result<Option<Attempts>> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT failures, last_ms FROM auth_attempts WHERE key = $1")
                .bind(&key.0[..])
                .fetch_optional(self.unwalled())
                .await?;
        Ok(row.map(|(failures, last_ms)| Attempts { failures, last_ms }))
    }

    async fn swap_attempts(
        &self,
        key: &AttemptKey,
        old: Option<Attempts>,
        new: Attempts,
        expires_ms: i64,
    ) -> Result<bool> {
        let done = match old {
            None => sqlx::query(
                "INSERT INTO auth_attempts (key, failures, last_ms, expires_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
            )
            .bind(&key.0[..])
            .bind(new.failures)
            .bind(new.last_ms)
            .bind(expires_ms)
            .execute(self.unwalled())
            .await?
            .rows_affected(),
            Some(old) => sqlx::query(
                "UPDATE auth_attempts SET failures = $2, last_ms = $3, expires_ms = $4 \
                 WHERE key = $1 AND failures = $5 AND last_ms = $6",
            )
            .bind(&key.0[..])
            .bind(new.failures)
            .bind(new.last_ms)
            .bind(expires_ms)
            .bind(old.failures)
            .bind(old.last_ms)
            .execute(self.unwalled())
            .await?
            .rows_affected(),
        };
        Ok(done == 1)
    }

    async fn clear_attempts(&self, key: &AttemptKey) -> Result<()> {
        sqlx::query("DELETE FROM auth_attempts WHERE key = $1")
            .bind(&key.0[..])
            .execute(self.unwalled())
            .await?;
        Ok(())
    }

    async fn note_refused(
        &self,
        key: &AttemptKey,
        now_ms: i64,
        every_ms: i64,
        expires_ms: i64,
    ) -> Result<Option<i64>> {
        let (refused, logged_ms): (i64, i64) = sqlx::query_as(
            "INSERT INTO auth_attempts (key, failures, last_ms, refused, logged_ms, expires_ms) \
             VALUES ($1, 0, $2, 1, $4, $3) ON CONFLICT (key) DO UPDATE \
             SET refused = auth_attempts.refused + 1, expires_ms = excluded.expires_ms \
             RETURNING refused, logged_ms",
        )
        .bind(&key.0[..])
        .bind(now_ms)
        .bind(expires_ms)
        // A first refusal is summarised at once.
        .bind(now_ms.saturating_sub(every_ms))
        .fetch_one(self.unwalled())
        .await?;
        if now_ms.saturating_sub(logged_ms) < every_ms {
            return Ok(None);
        }
        // Whoever moves `logged_ms` on first writes the summary; the count it covers is taken
        // off, so refusals made meanwhile go to the next one.
        let claimed = sqlx::query(
            "UPDATE auth_attempts SET refused = refused - $2, logged_ms = $3 \
             WHERE key = $1 AND logged_ms = $4 AND refused >= $2",
        )
        .bind(&key.0[..])
        .bind(refused)
        .bind(now_ms)
        .bind(logged_ms)
        .execute(self.unwalled())
        .await?
        .rows_affected();
        Ok((claimed == 1).then_some(refused))
    }

    async fn once_per(&self, key: &AttemptKey, now_ms: i64, window_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO auth_attempts (key, failures, last_ms, expires_ms) \
             VALUES ($1, 0, $2, $3) ON CONFLICT (key) DO UPDATE \
             SET last_ms = excluded.last_ms, expires_ms = excluded.expires_ms \
             WHERE auth_attempts.last_ms <= $4",
        )
        .bind(&key.0[..])
        .bind(now_ms)
        .bind(now_ms.saturating_add(window_ms))
        .bind(now_ms.saturating_sub(window_ms))
        .execute(self.unwalled())
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    async fn prune_attempts(&self, now_ms: i64) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM auth_attempts WHERE expires_ms < $1")
                .bind(now_ms)
                .execute(self.unwalled())
                .await?
                .rows_affected(),
        )
    }
}
