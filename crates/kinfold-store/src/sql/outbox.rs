//! The email outbox (E1, E7, O2): one body for both stores, each transaction behind the
//! tenant's wall, or the platform's for the work that spans tenants (which tenants have mail
//! due, which delivery a provider's report is about).

use async_trait::async_trait;
use kinfold_audit::Draft;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{append_in, done, lease_due, Backend, Db, Tx};
use crate::ids::FromDb;
use crate::outbox::*;
use crate::rows::{
    found, message_inserts, ClaimedRow, DeliveryRow, FoundByAddressRow, FoundRow, RecipientRow,
};
use crate::wall::Wall;
use crate::TenantTx;
use crate::{ChildId, ClassroomId, Result, StoreError, TenantId, TenantScope, UserId};

#[async_trait]
impl OutboxStore for Backend {
    async fn audience(
        &self,
        scope: &TenantScope,
        classroom: Option<ClassroomId>,
        child: Option<ChildId>,
    ) -> Result<Vec<Recipient>> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        // Their own address, else their login's; court-restricted links and archived children
        // are left out.
        let rows: Vec<RecipientRow> = sqlx::query_as(
            "SELECT DISTINCT g.id, g.name, COALESCE(NULLIF(g.email, ''), u.email) AS address \
             FROM guardians g \
             JOIN child_guardians cg ON cg.tenant_id = g.tenant_id AND cg.guardian_id = g.id \
             JOIN children c ON c.tenant_id = cg.tenant_id AND c.id = cg.child_id \
             LEFT JOIN users u ON u.tenant_id = g.tenant_id AND u.id = g.user_id \
             WHERE g.tenant_id = $1 AND cg.custody <> 'court_restricted' \
               AND c.status <> 'archived' \
               AND ($2 IS NULL OR c.classroom_id = $2) AND ($3 IS NULL OR c.id = $3) \
               AND COALESCE(NULLIF(g.email, ''), u.email) IS NOT NULL \
             ORDER BY g.id",
        )
        .bind(scope.tenant_id().to_string())
        .bind(classroom.map(|c| c.to_string()))
        .bind(child.map(|c| c.to_string()))
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        rows.into_iter().map(RecipientRow::into_recipient).collect()
    }

    async fn suppressed(&self, scope: &TenantScope, addresses: &[String]) -> Result<Vec<String>> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        let mut q: QueryBuilder<Db> =
            QueryBuilder::new("SELECT address FROM email_suppressions WHERE tenant_id = ");
        q.push_bind(scope.tenant_id().to_string())
            .push(" AND address IN (");
        let mut list = q.separated(", ");
        for a in addresses {
            list.push_bind(a);
        }
        q.push(")");
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let found = q.build_query_scalar().fetch_all(&mut *read).await?;
        done(read).await?;
        Ok(found)
    }

    async fn opted_out(
        &self,
        scope: &TenantScope,
        category: &str,
        recipients: &[String],
    ) -> Result<Vec<String>> {
        if recipients.is_empty() {
            return Ok(Vec::new());
        }
        let mut q: QueryBuilder<Db> =
            QueryBuilder::new("SELECT recipient_id FROM email_opt_outs WHERE tenant_id = ");
        q.push_bind(scope.tenant_id().to_string())
            .push(" AND category = ")
            .push_bind(category)
            .push(" AND recipient_id IN (");
        let mut list = q.separated(", ");
        for r in recipients {
            list.push_bind(r);
        }
        q.push(")");
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let found = q.build_query_scalar().fetch_all(&mut *read).await?;
        done(read).await?;
        Ok(found)
    }

    async fn enqueue_message(
        &self,
        tx: TenantTx<'_>,
        m: NewMessage,
        deliveries: Vec<NewDelivery>,
    ) -> Result<()> {
        let (scope, audit) = tx.into_parts();
        let tenant = scope.tenant_id().to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        insert_message(&mut tx, &tenant, &m, deliveries).await?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn outbox_tenants(&self, now_ms: i64) -> Result<Vec<TenantId>> {
        let mut read = self.read(Wall::Platform).await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT tenant_id FROM email_deliveries \
             WHERE (state IN ('queued', 'deferred') AND next_ms <= $1) \
                OR (state = 'sending' AND lease_until_ms < $1)",
        )
        .bind(now_ms)
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        ids.iter().map(|s| TenantId::from_db(s)).collect()
    }

    async fn claim_deliveries(
        &self,
        tenant: TenantId,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
        log: &(dyn Fn(Interrupted) -> Draft + Send + Sync),
    ) -> Result<Vec<Claimed>> {
        let scope = TenantScope::new(tenant);
        let t = tenant.to_string();
        let mut tx = self.tx(Wall::TenantId(tenant)).await?;
        sqlx::query(
            "UPDATE email_deliveries SET state = 'queued', lease_until_ms = NULL, updated_ms = $1 \
             WHERE tenant_id = $2 AND state = 'sending' AND lease_until_ms < $3 \
             AND handed_ms IS NULL",
        )
        .bind(now_ms)
        .bind(&t)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let lost: Vec<(String, String, String)> = sqlx::query_as(
            "UPDATE email_deliveries SET state = 'failed', lease_until_ms = NULL, updated_ms = $1, \
             response = 'interrupted while sending; not retried (delivery is at-most-once)' \
             WHERE tenant_id = $2 AND state = 'sending' AND lease_until_ms < $3 \
             AND handed_ms IS NOT NULL \
             RETURNING id, header_id, address",
        )
        .bind(now_ms)
        .bind(&t)
        .bind(now_ms)
        .fetch_all(&mut *tx)
        .await?;
        let mut drafts = Vec::with_capacity(lost.len());
        for (id, header_id, address) in lost {
            let id = Uuid::parse_str(&id).map_err(|_| StoreError::Corrupt("delivery id"))?;
            let lost = Interrupted {
                scope: scope.clone(),
                id,
                header_id,
                address,
            };
            drafts.push(log(lost));
        }
        append_in(&mut tx, drafts).await?;
        let lease = Uuid::new_v4();
        let rows: Vec<ClaimedRow> = sqlx::query_as(lease_due())
            .bind(lease_until_ms)
            .bind(now_ms)
            .bind(&t)
            .bind(&t)
            .bind(now_ms)
            .bind(limit)
            .bind(lease.to_string())
            .fetch_all(&mut *tx)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let (category, created_by, body): (String, Option<String>, Vec<u8>) = sqlx::query_as(
                "SELECT category, created_by, body FROM email_messages \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(&t)
            .bind(&r.message_id)
            .fetch_one(&mut *tx)
            .await?;
            out.push(r.into_claimed(&scope, category, created_by, body, lease)?);
        }
        self.commit(tx).await?;
        Ok(out)
    }

    async fn hand_over(
        &self,
        scope: &TenantScope,
        id: Uuid,
        lease: Uuid,
        at_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let n = sqlx::query(
            "UPDATE email_deliveries SET handed_ms = $1 \
             WHERE tenant_id = $2 AND id = $3 AND state = 'sending' AND lease_until_ms >= $1 \
             AND lease_token = $4 AND handed_ms IS NULL",
        )
        .bind(at_ms)
        .bind(scope.tenant_id().to_string())
        .bind(id.to_string())
        .bind(lease.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        self.commit(tx).await?;
        Ok(n == 1)
    }

    async fn finish_delivery(
        &self,
        tx: TenantTx<'_>,
        id: Uuid,
        lease: Uuid,
        o: Outcome,
    ) -> Result<bool> {
        let (scope, audit) = tx.into_parts();
        let t = scope.tenant_id().to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let address: Option<String> = sqlx::query_scalar(
            "UPDATE email_deliveries SET state = $1, response = $2, next_ms = $3, updated_ms = $4, \
             attempts = attempts + 1, lease_until_ms = NULL, lease_token = NULL \
             WHERE tenant_id = $5 AND id = $6 AND state = 'sending' AND lease_token = $7 \
             RETURNING address",
        )
        .bind(o.state.as_str())
        .bind(&o.response)
        .bind(o.next_ms)
        .bind(o.at_ms)
        .bind(&t)
        .bind(id.to_string())
        .bind(lease.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(address) = address else {
            // The lease was lost: nothing was written.
            self.commit(tx).await?;
            return Ok(false);
        };
        if o.state == DeliveryState::Bounced {
            sqlx::query(
                "INSERT INTO email_suppressions (tenant_id, address, reason, at_ms) \
                 VALUES ($1, $2, 'bounce', $3) ON CONFLICT DO NOTHING",
            )
            .bind(&t)
            .bind(address.to_lowercase())
            .bind(o.at_ms)
            .execute(&mut *tx)
            .await?;
        }
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn message_status(&self, scope: &TenantScope, id: Uuid) -> Result<Option<MessageStatus>> {
        let t = scope.tenant_id().to_string();
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let head: Option<(String, Option<String>, i64)> = sqlx::query_as(
            "SELECT category, created_by, created_ms FROM email_messages \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(&t)
        .bind(id.to_string())
        .fetch_optional(&mut *read)
        .await?;
        let Some((category, created_by, created_ms)) = head else {
            done(read).await?;
            return Ok(None);
        };
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT id, recipient_id, address, header_id, state, attempts, response, updated_ms \
             FROM email_deliveries WHERE tenant_id = $1 AND message_id = $2 \
             ORDER BY address COLLATE \"C\", id",
        )
        .bind(&t)
        .bind(id.to_string())
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        Ok(Some(MessageStatus {
            id,
            category,
            created_by: created_by.as_deref().map(UserId::from_db).transpose()?,
            created_ms,
            deliveries: rows
                .into_iter()
                .map(DeliveryRow::into_status)
                .collect::<Result<_>>()?,
        }))
    }

    async fn find_delivery(&self, header_id: Option<&str>, address: &str) -> Result<Option<Found>> {
        let mut read = self.read(Wall::Platform).await?;
        let row: Option<FoundRow> = match header_id {
            Some(h) => {
                sqlx::query_as(
                    "SELECT tenant_id, id, address, header_id, state FROM email_deliveries \
                     WHERE header_id = $1",
                )
                .bind(h)
                .fetch_optional(&mut *read)
                .await?
            }
            None => {
                // The latest delivery to the address that reached the relay, with how many
                // tenants have one: without a Message-ID a report is matched only when one does.
                let r: Option<FoundByAddressRow> = sqlx::query_as(
                    "SELECT tenant_id, id, address, header_id, state, \
                     (SELECT COUNT(DISTINCT tenant_id) FROM email_deliveries \
                        WHERE lower(address) = $1 AND state IN ('delivered', 'bounced')) \
                     FROM email_deliveries \
                     WHERE lower(address) = $1 AND state IN ('delivered', 'bounced') \
                     ORDER BY updated_ms DESC LIMIT 1",
                )
                .bind(address.to_lowercase())
                .fetch_optional(&mut *read)
                .await?;
                r.filter(|r| r.5 == 1).map(|r| (r.0, r.1, r.2, r.3, r.4))
            }
        };
        done(read).await?;
        row.map(found).transpose()
    }

    async fn record_report(&self, tx: TenantTx<'_>, delivery: Uuid, c: ReportChange) -> Result<()> {
        let (scope, audit) = tx.into_parts();
        let t = scope.tenant_id().to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        // A report changes the state only of a delivery that reached the relay.
        let address: Option<String> = sqlx::query_scalar(
            "UPDATE email_deliveries SET \
             state = CASE WHEN state IN ('delivered', 'bounced', 'failed') \
                     THEN COALESCE($1, state) ELSE state END, \
             response = $2, updated_ms = $3 WHERE tenant_id = $4 AND id = $5 RETURNING address",
        )
        .bind(c.state.map(DeliveryState::as_str))
        .bind(&c.response)
        .bind(c.at_ms)
        .bind(&t)
        .bind(delivery.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(address) = address else {
            return Err(StoreError::NotFound("delivery"));
        };
        if let Some(reason) = c.suppress {
            sqlx::query(
                "INSERT INTO email_suppressions (tenant_id, address, reason, at_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&t)
            .bind(address.to_lowercase())
            .bind(reason)
            .bind(c.at_ms)
            .execute(&mut *tx)
            .await?;
        }
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn sending_counts(&self, scope: &TenantScope, since_ms: i64) -> Result<SendingCounts> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let (sent, bounces, complaints): (i64, i64, i64) = sqlx::query_as(
            "SELECT \
             (SELECT COUNT(*) FROM email_deliveries WHERE tenant_id = $1 AND updated_ms >= $2 \
                 AND state IN ('delivered', 'bounced')), \
             (SELECT COUNT(*) FROM email_deliveries WHERE tenant_id = $1 AND updated_ms >= $2 \
                 AND state = 'bounced'), \
             (SELECT COUNT(*) FROM email_suppressions WHERE tenant_id = $1 AND at_ms >= $2 \
                 AND reason = 'complaint')",
        )
        .bind(scope.tenant_id().to_string())
        .bind(since_ms)
        .fetch_one(&mut *read)
        .await?;
        done(read).await?;
        Ok(SendingCounts {
            sent,
            bounces,
            complaints,
        })
    }

    async fn volume_history(
        &self,
        scope: &TenantScope,
        since_ms: i64,
    ) -> Result<(Option<i64>, Vec<(i64, i64)>)> {
        let t = scope.tenant_id().to_string();
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let first: Option<i64> =
            sqlx::query_scalar("SELECT MIN(created_ms) FROM email_messages WHERE tenant_id = $1")
                .bind(&t)
                .fetch_one(&mut *read)
                .await?;
        // Recipients queued per hour; a discarded held message was never sent.
        let hours: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT m.created_ms / 3600000 AS hour, COUNT(*) \
             FROM email_deliveries d JOIN email_messages m \
               ON m.tenant_id = d.tenant_id AND m.id = d.message_id \
             WHERE d.tenant_id = $1 AND m.created_ms >= $2 AND d.state <> 'suppressed' \
               AND NOT (d.state = 'failed' AND d.response LIKE 'discarded%') \
             GROUP BY m.created_ms / 3600000 ORDER BY hour",
        )
        .bind(&t)
        .bind(since_ms)
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        Ok((first, hours))
    }

    async fn resolve_held(
        &self,
        tx: TenantTx<'_>,
        message: Uuid,
        to: DeliveryState,
        response: &str,
        at_ms: i64,
    ) -> Result<u64> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let n = sqlx::query(
            "UPDATE email_deliveries \
             SET state = $1, response = $2, updated_ms = $3, next_ms = $3 \
             WHERE tenant_id = $4 AND message_id = $5 AND state = 'held'",
        )
        .bind(to.as_str())
        .bind(response)
        .bind(at_ms)
        .bind(scope.tenant_id().to_string())
        .bind(message.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            append_in(&mut tx, audit).await?;
        }
        self.commit(tx).await?;
        Ok(n)
    }
}

/// Inserts a message and its deliveries inside the caller's transaction, so a notice enters
/// the outbox with the event that caused it.
pub(crate) async fn insert_message(
    tx: &mut Tx,
    tenant: &str,
    m: &NewMessage,
    deliveries: Vec<NewDelivery>,
) -> Result<()> {
    let (mut message, batches) = message_inserts(tenant, m, &deliveries);
    message
        .build()
        .execute(&mut **tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "message"))?;
    for mut batch in batches {
        batch
            .build()
            .execute(&mut **tx)
            .await
            .map_err(|e| StoreError::from_insert(e, "delivery"))?;
    }
    Ok(())
}
