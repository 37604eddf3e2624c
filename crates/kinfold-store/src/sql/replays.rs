//! Webhook replay keys (E5): one body for both stores, on platform data (a report is not yet
//! any tenant's when its signature is checked).

use async_trait::async_trait;
use kinfold_crypto::token::TokenHash;

use super::Backend;
use crate::replays::ReplayStore;
use crate::wall::Wall;
use crate::Result;

#[async_trait]
impl ReplayStore for Backend {
    async fn claim_webhook_keys(
        &self,
        provider: &str,
        keys: &[TokenHash],
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.tx(Wall::Platform).await?;
        sqlx::query("DELETE FROM webhook_replays WHERE expires_ms <= $1")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        let mut fresh = true;
        for k in keys {
            let r = sqlx::query(
                "INSERT INTO webhook_replays (provider, key_hash, expires_ms) \
                 VALUES ($1, $2, $3) ON CONFLICT (provider, key_hash) DO NOTHING",
            )
            .bind(provider)
            .bind(k.as_bytes())
            .bind(expires_ms)
            .execute(&mut *tx)
            .await?;
            fresh &= r.rows_affected() == 1;
        }
        if fresh {
            self.commit(tx).await?;
        } else {
            tx.rollback().await?;
        }
        Ok(fresh)
    }

    async fn release_webhook_keys(&self, provider: &str, keys: &[TokenHash]) -> Result<()> {
        let mut tx = self.tx(Wall::Platform).await?;
        for k in keys {
            sqlx::query("DELETE FROM webhook_replays WHERE provider = $1 AND key_hash = $2")
                .bind(provider)
                .bind(k.as_bytes())
                .execute(&mut *tx)
                .await?;
        }
        self.commit(tx).await?;
        Ok(())
    }
}
