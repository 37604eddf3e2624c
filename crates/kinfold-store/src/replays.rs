//! Replay keys of signed webhooks (E5), kept in the store so every node and every restart
//! refuses a replay. The statements and the body are written once: `replay_store_for!`
//! compiles them for each store, given how that store opens a transaction on platform data
//! (a report is not yet any tenant's when its signature is checked).

use async_trait::async_trait;
use kinfold_crypto::token::TokenHash;

use crate::Result;

#[async_trait]
pub trait ReplayStore {
    /// Takes a signed webhook's replay keys (hashes) for `provider` until `expires_ms`, and
    /// forgets keys whose time has passed (`now_ms`). True when every key was new: the first
    /// caller, on any node, wins. False for a replay, which takes nothing: its transaction
    /// rolls back, so what it brought along (an event ID Mailgun does not sign) is not kept.
    async fn claim_webhook_keys(
        &self,
        provider: &str,
        keys: &[TokenHash],
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool>;

    /// Forgets replay keys, for a webhook that could not be applied (the provider retries).
    async fn release_webhook_keys(&self, provider: &str, keys: &[TokenHash]) -> Result<()>;
}

pub(crate) const PURGE: &str = "DELETE FROM webhook_replays WHERE expires_ms <= $1";
pub(crate) const CLAIM: &str =
    "INSERT INTO webhook_replays (provider, key_hash, expires_ms) VALUES ($1, $2, $3) \
     ON CONFLICT (provider, key_hash) DO NOTHING";
pub(crate) const RELEASE: &str =
    "DELETE FROM webhook_replays WHERE provider = $1 AND key_hash = $2";

/// Implements [`ReplayStore`] for `$store`, whose method `$platform_tx` begins a transaction
/// on platform data.
macro_rules! replay_store_for {
    ($store:ty, $platform_tx:ident) => {
        #[async_trait::async_trait]
        impl $crate::replays::ReplayStore for $store {
            async fn claim_webhook_keys(
                &self,
                provider: &str,
                keys: &[kinfold_crypto::token::TokenHash],
                expires_ms: i64,
                now_ms: i64,
            ) -> $crate::Result<bool> {
                let mut tx = self.$platform_tx().await?;
                sqlx::query($crate::replays::PURGE)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                let mut fresh = true;
                for k in keys {
                    let r = sqlx::query($crate::replays::CLAIM)
                        .bind(provider)
                        .bind(k.as_bytes())
                        .bind(expires_ms)
                        .execute(&mut *tx)
                        .await?;
                    fresh &= r.rows_affected() == 1;
                }
                if fresh {
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                }
                Ok(fresh)
            }

            async fn release_webhook_keys(
                &self,
                provider: &str,
                keys: &[kinfold_crypto::token::TokenHash],
            ) -> $crate::Result<()> {
                let mut tx = self.$platform_tx().await?;
                for k in keys {
                    sqlx::query($crate::replays::RELEASE)
                        .bind(provider)
                        .bind(k.as_bytes())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
pub(crate) use replay_store_for;
