//! Sending domains (their DKIM keys, sealed) and recipients' opt-outs in SQLite.

use kinfold_audit::Draft;

use super::{audit, SqliteStore};
use crate::*;

pub(super) async fn add_mail_domain(
    s: &SqliteStore,
    d: MailDomain,
    audit: Vec<Draft>,
) -> Result<()> {
    let mut tx = s.begin().await?;
    sqlx::query(
        "INSERT INTO mail_domains (domain, rsa_selector, rsa_key, ed25519_selector, ed25519_key, created_ms) \
         VALUES (?, ?, ?, ?, ?, ?)",
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

pub(super) async fn mail_domains(s: &SqliteStore) -> Result<Vec<MailDomain>> {
    let rows: Vec<rows::MailDomainRow> = sqlx::query_as(
        "SELECT domain, rsa_selector, rsa_key, ed25519_selector, ed25519_key, created_ms \
         FROM mail_domains ORDER BY domain",
    )
    .fetch_all(&s.reader)
    .await?;
    Ok(rows.into_iter().map(rows::mail_domain).collect())
}

pub(super) async fn opt_out(
    s: &SqliteStore,
    scope: &TenantScope,
    recipient: &str,
    category: &str,
    at_ms: i64,
    audit: Vec<Draft>,
) -> Result<bool> {
    let mut tx = s.begin().await?;
    let r = sqlx::query(
        "INSERT INTO email_opt_outs (tenant_id, recipient_id, category, at_ms) VALUES (?, ?, ?, ?) \
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
    s: &SqliteStore,
    scope: &TenantScope,
    recipient: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT category FROM email_opt_outs WHERE tenant_id = ? AND recipient_id = ? ORDER BY category")
        .bind(scope.tenant_id().to_string())
        .bind(recipient)
        .fetch_all(&s.reader)
        .await?)
}
