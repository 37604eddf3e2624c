//! Replay keys of signed webhooks (E5), kept in the store so every node and every restart
//! refuses a replay. The trait is declared here and implemented once for both stores in
//! `sql/replays.rs`.

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
