//! Check-ins and check-outs: one body for both stores, behind the tenant's wall.

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::{append_in, done, for_share, Backend, Db};
use crate::ids::FromDb;
use crate::rows::push_visibility;
use crate::wall::Wall;
use crate::TenantTx;
use crate::*;

/// What a desk is told when the child is already in: the same words core uses when it sees
/// this before writing, so a desk that loses a race reads the same answer.
const ALREADY_IN: &str = "the child is already checked in";
/// What a desk is told when there is no open check-in to end.
const NOT_IN: &str = "the child is not checked in today";
/// The version of a guardian's link to a child, and of an authorized pickup of a child.
const GUARDIAN_LINK: &str = "SELECT version FROM child_guardians \
     WHERE tenant_id = $1 AND child_id = $2 AND guardian_id = $3";
const PICKUP: &str =
    "SELECT version FROM authorized_pickups WHERE tenant_id = $1 AND child_id = $2 AND id = $3";

#[async_trait]
impl AttendanceStore for Backend {
    /// The state check and the write are one transaction, and the partial unique index
    /// `attendance_open` (one open check-in per child and day) is the last wall: of two desks
    /// checking one child in at once, or out at once, exactly one succeeds and the other gets
    /// `WrongState`, never a database error.
    async fn record_attendance(
        &self,
        tx: TenantTx<'_>,
        e: AttendanceEvent,
        notice: Option<crate::outbox::Notice>,
        verified: i64,
    ) -> Result<()> {
        let (scope, audit) = tx.into_parts();
        let (person_kind, person_id, record) = match e.person {
            Person::Guardian(g) => ("guardian", g.to_string(), GUARDIAN_LINK),
            Person::AuthorizedPickup(p) => ("authorized_pickup", p.to_string(), PICKUP),
        };
        let tenant = scope.tenant_id().to_string();
        let child = e.child_id.to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        // The person's record as the caller checked it, held until commit (PostgreSQL's share
        // lock; SQLite's single writer): a change saved since, or one waiting, refuses this.
        let now: Option<i64> = sqlx::query_scalar(&for_share(record))
            .bind(&tenant)
            .bind(&child)
            .bind(&person_id)
            .fetch_optional(&mut *tx)
            .await?;
        if now != Some(verified) {
            return Err(StoreError::WrongState(crate::PERSON_CHANGED));
        }
        if e.kind == AttendanceKind::CheckOut {
            // Ends the open check-in; none means the child is not in. On PostgreSQL a second
            // check-out waits for the first's row lock, then finds the row closed.
            let closed = sqlx::query(
                "UPDATE attendance SET is_open = FALSE \
                 WHERE tenant_id = $1 AND child_id = $2 AND day = $3 AND is_open",
            )
            .bind(&tenant)
            .bind(&child)
            .bind(&e.day)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if closed == 0 {
                return Err(StoreError::WrongState(NOT_IN));
            }
        }
        // A check-in is written open; when an open one exists (or is being written by another
        // transaction, which this one waits for), the index's conflict inserts nothing.
        let (name, relation) = named_as(&e);
        let written = sqlx::query(
            "INSERT INTO attendance (tenant_id, id, child_id, kind, day, at_ms, recorded_by, \
             person_kind, person_id, is_open, person_name, person_relation) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (tenant_id, child_id, day) WHERE is_open DO NOTHING",
        )
        .bind(&tenant)
        .bind(e.id.to_string())
        .bind(&child)
        .bind(e.kind.as_str())
        .bind(&e.day)
        .bind(e.at_ms)
        .bind(e.recorded_by.to_string())
        .bind(person_kind)
        .bind(person_id)
        .bind(e.kind == AttendanceKind::CheckIn)
        .bind(name)
        .bind(relation)
        .execute(&mut *tx)
        .await
        // The open index is this statement's arbiter, so it never raises; any other unique
        // key (an event ID written twice) is a conflict too, not a failure.
        .map_err(|e| StoreError::from_insert(e, "attendance event"))?
        .rows_affected();
        if written == 0 {
            return Err(StoreError::WrongState(ALREADY_IN));
        }
        if let Some(n) = notice {
            // The backend's own outbox insert, in this transaction.
            super::insert_message(&mut tx, &tenant, &n.message, n.deliveries).await?;
        }
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    /// A correction is written beside the entry it corrects, which must be an original entry
    /// of the same child, day and kind in this tenant; it is never open.
    async fn correct_attendance(&self, tx: TenantTx<'_>, e: AttendanceEvent) -> Result<()> {
        let (scope, audit) = tx.into_parts();
        let Some(c) = &e.correction else {
            return Err(StoreError::WrongState("not a correction"));
        };
        let tenant = scope.tenant_id().to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let original: Option<(String, String, String)> = sqlx::query_as(
            "SELECT child_id, day, kind FROM attendance \
             WHERE tenant_id = $1 AND id = $2 AND corrects IS NULL",
        )
        .bind(&tenant)
        .bind(c.corrects.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let fits = original.is_some_and(|(child, day, kind)| {
            child == e.child_id.to_string() && day == e.day && kind == e.kind.as_str()
        });
        if !fits {
            return Err(StoreError::NotFound("attendance entry"));
        }
        let (person_kind, person_id) = match e.person {
            Person::Guardian(g) => ("guardian", g.to_string()),
            Person::AuthorizedPickup(p) => ("authorized_pickup", p.to_string()),
        };
        let (name, relation) = named_as(&e);
        sqlx::query(
            "INSERT INTO attendance (tenant_id, id, child_id, kind, day, at_ms, recorded_by, \
             person_kind, person_id, is_open, corrects, reason, person_name, person_relation) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&tenant)
        .bind(e.id.to_string())
        .bind(e.child_id.to_string())
        .bind(e.kind.as_str())
        .bind(&e.day)
        .bind(e.at_ms)
        .bind(e.recorded_by.to_string())
        .bind(person_kind)
        .bind(person_id)
        .bind(false)
        .bind(c.corrects.to_string())
        .bind(&c.reason)
        .bind(name)
        .bind(relation)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "attendance correction"))?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn checked_in(&self, scope: &TenantScope, child: ChildId, day: &str) -> Result<bool> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT at_ms FROM attendance WHERE tenant_id = $1 AND child_id = $2 AND day = $3 \
             AND is_open",
        )
        .bind(scope.tenant_id().to_string())
        .bind(child.to_string())
        .bind(day)
        .fetch_optional(&mut *read)
        .await?;
        done(read).await?;
        Ok(open.is_some())
    }

    async fn attendance_days(
        &self,
        scope: &TenantScope,
        from: &str,
        to: &str,
        visibility: Visibility,
    ) -> Result<Vec<AttendanceEvent>> {
        let mut b: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT a.id, a.child_id, a.kind, a.day, a.at_ms, a.recorded_by, a.person_kind, \
             a.person_id, a.corrects, a.reason, a.person_name, a.person_relation \
             FROM attendance a \
             JOIN children c ON c.tenant_id = a.tenant_id AND c.id = a.child_id \
             WHERE a.tenant_id = ",
        );
        b.push_bind(scope.tenant_id().to_string())
            .push(" AND a.day >= ")
            .push_bind(from.to_owned())
            .push(" AND a.day <= ")
            .push_bind(to.to_owned());
        push_visibility(&mut b, scope, visibility);
        b.push(" ORDER BY a.at_ms, a.id");
        type Row = (
            String,
            String,
            String,
            String,
            i64,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            String,
            String,
        );
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let rows: Vec<Row> = b.build_query_as().fetch_all(&mut *read).await?;
        done(read).await?;
        rows.into_iter()
            .map(
                |(id, child, kind, day, at_ms, by, pk, pid, corrects, reason, name, relation)| {
                    let correction = match corrects {
                        Some(c) => Some(Correction {
                            corrects: uuid::Uuid::parse_str(&c)
                                .map_err(|_| StoreError::Corrupt("corrected attendance id"))?,
                            reason: reason.unwrap_or_default(),
                        }),
                        None => None,
                    };
                    Ok(AttendanceEvent {
                        id: uuid::Uuid::parse_str(&id)
                            .map_err(|_| StoreError::Corrupt("attendance id"))?,
                        child_id: ChildId::from_db(&child)?,
                        kind: if kind == "check_in" {
                            AttendanceKind::CheckIn
                        } else {
                            AttendanceKind::CheckOut
                        },
                        day,
                        at_ms,
                        recorded_by: UserId::from_db(&by)?,
                        person: if pk == "guardian" {
                            Person::Guardian(GuardianId::from_db(&pid)?)
                        } else {
                            Person::AuthorizedPickup(PickupId::from_db(&pid)?)
                        },
                        // Empty on entries written before the name was kept.
                        named_as: (!name.is_empty()).then_some(NamedAs { name, relation }),
                        correction,
                    })
                },
            )
            .collect()
    }
}

/// The name and relationship an entry is written with (empty when none was given).
fn named_as(e: &AttendanceEvent) -> (&str, &str) {
    e.named_as
        .as_ref()
        .map_or(("", ""), |n| (n.name.as_str(), n.relation.as_str()))
}
