//! Sending domains (their DKIM keys, sealed) and recipients' opt-outs in PostgreSQL.

use kinfold_audit::Draft;

use super::audit;
use super::wall::{self, Wall};
use super::PgStore;
use crate::*;

pub(super) async fn add_mail_domain(s: &PgStore, d: MailDomain, audit: Vec<Draft>) -> Result<()> {
    let mut tx = wall::begin(&s.pool, Wall::Platform).await?;
    sqlx::query(
        "INSERT INTO mail_domains (domain, rsa_selector, rsa_key, ed25519_selector, ed25519_key, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
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
    audit::append_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn mail_domains(s: &PgStore) -> Result<Vec<MailDomain>> {
    let rows: Vec<rows::MailDomainRow> = sqlx::query_as(
        "SELECT domain, rsa_selector, rsa_key, ed25519_selector, ed25519_key, created_ms \
         FROM mail_domains ORDER BY domain",
    )
    .fetch_all(&s.pool)
    .await?;
    Ok(rows.into_iter().map(rows::mail_domain).collect())
}

pub(super) async fn opt_out(
    s: &PgStore,
    scope: &TenantScope,
    recipient: &str,
    category: &str,
    at_ms: i64,
    audit: Vec<Draft>,
) -> Result<bool> {
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
    let r = sqlx::query(
        "INSERT INTO email_opt_outs (tenant_id, recipient_id, category, at_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(scope.tenant_id().to_string())
    .bind(recipient)
    .bind(category)
    .bind(at_ms)
    .execute(&mut *tx)
    .await?;
    let new = r.rows_affected() == 1;
    if new {
        audit::append_in(&mut tx, audit).await?;
    }
    tx.commit().await?;
    Ok(new)
}

pub(super) async fn opt_outs(
    s: &PgStore,
    scope: &TenantScope,
    recipient: &str,
) -> Result<Vec<String>> {
    let mut tx = wall::begin(&s.pool, Wall::Tenant(scope)).await?;
    let list = sqlx::query_scalar("SELECT category FROM email_opt_outs WHERE tenant_id = $1 AND recipient_id = $2 ORDER BY category COLLATE \"C\"")
        .bind(scope.tenant_id().to_string())
        .bind(recipient)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(list)
}
