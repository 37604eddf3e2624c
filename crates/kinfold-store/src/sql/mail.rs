//! Sending domains and opt-outs: one body for both stores.

use async_trait::async_trait;

use super::{append_in, done, Backend};
use crate::mail::MailStore;
use crate::rows::{self, MailDomainRow};
use crate::wall::Wall;
use crate::{MailDomain, Result, StoreError, TenantScope};
use crate::{PlatformTx, TenantTx};

#[async_trait]
impl MailStore for Backend {
    async fn add_mail_domain(&self, d: MailDomain, tx: PlatformTx) -> Result<()> {
        let audit = tx.into_audit();
        let mut tx = self.tx(Wall::Platform).await?;
        sqlx::query(
            "INSERT INTO mail_domains (domain, rsa_selector, rsa_key, ed25519_selector, \
             ed25519_key, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&d.domain)
        .bind(&d.rsa_selector)
        .bind(&d.rsa_key)
        .bind(&d.ed25519_selector)
        .bind(&d.ed25519_key)
        .bind(d.created_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "sending domain"))?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn mail_domains(&self) -> Result<Vec<MailDomain>> {
        let mut read = self.read(Wall::Platform).await?;
        let rows: Vec<MailDomainRow> = sqlx::query_as(
            "SELECT domain, rsa_selector, rsa_key, ed25519_selector, ed25519_key, created_ms \
             FROM mail_domains ORDER BY domain COLLATE \"C\"",
        )
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        Ok(rows.into_iter().map(rows::mail_domain).collect())
    }

    async fn opt_out(
        &self,
        tx: TenantTx<'_>,
        recipient: &str,
        category: &str,
        at_ms: i64,
    ) -> Result<bool> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let new = sqlx::query(
            "INSERT INTO email_opt_outs (tenant_id, recipient_id, category, at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(scope.tenant_id().to_string())
        .bind(recipient)
        .bind(category)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if new {
            append_in(&mut tx, audit).await?;
        }
        self.commit(tx).await?;
        Ok(new)
    }

    async fn opt_outs(&self, scope: &TenantScope, recipient: &str) -> Result<Vec<String>> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let list = sqlx::query_scalar(
            "SELECT category FROM email_opt_outs WHERE tenant_id = $1 AND recipient_id = $2 \
             ORDER BY category COLLATE \"C\"",
        )
        .bind(scope.tenant_id().to_string())
        .bind(recipient)
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        Ok(list)
    }
}
