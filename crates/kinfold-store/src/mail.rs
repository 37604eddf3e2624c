//! Sending domains (their DKIM keys, sealed) and recipients' opt-outs (E2).

use async_trait::async_trait;

use crate::{MailDomain, Result, TenantScope};
use crate::{PlatformTx, TenantTx};

#[async_trait]
pub trait MailStore {
    /// Adds a sending domain; `Conflict` when it exists.
    async fn add_mail_domain(&self, domain: MailDomain, tx: PlatformTx) -> Result<()>;
    async fn mail_domains(&self) -> Result<Vec<MailDomain>>;
    /// Records that `recipient` wants no more mail of `category`; true when this is new. A
    /// repeated request changes nothing (the first one's time is kept).
    async fn opt_out(
        &self,
        tx: TenantTx<'_>,
        recipient: &str,
        category: &str,
        at_ms: i64,
    ) -> Result<bool>;
    /// The categories `recipient` has unsubscribed from, in name order.
    async fn opt_outs(&self, scope: &TenantScope, recipient: &str) -> Result<Vec<String>>;
}
