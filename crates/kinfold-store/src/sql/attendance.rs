//! Check-ins and check-outs: one body for both stores, behind the tenant's wall.

use async_trait::async_trait;
use kinfold_audit::Draft;
use sqlx::QueryBuilder;

use super::{append_in, done, Backend, Db};
use crate::rows::push_visibility;
use crate::wall::Wall;
use crate::*;

#[async_trait]
impl AttendanceStore for Backend {
    async fn record_attendance(
        &self,
        scope: &TenantScope,
        e: AttendanceEvent,
        audit: Vec<Draft>,
        notice: Option<crate::outbox::Notice>,
    ) -> Result<()> {
        let (person_kind, person_id) = match e.person {
            Person::Guardian(g) => ("guardian", g.to_string()),
            Person::AuthorizedPickup(p) => ("authorized_pickup", p.to_string()),
        };
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        sqlx::query(
            "INSERT INTO attendance \
             (tenant_id, id, child_id, kind, day, at_ms, recorded_by, person_kind, person_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(scope.tenant_id().to_string())
        .bind(e.id.to_string())
        .bind(e.child_id.to_string())
        .bind(e.kind.as_str())
        .bind(&e.day)
        .bind(e.at_ms)
        .bind(e.recorded_by.to_string())
        .bind(person_kind)
        .bind(person_id)
        .execute(&mut *tx)
        .await?;
        if let Some(n) = notice {
            let tenant = scope.tenant_id().to_string();
            super::super::outbox::insert_message(&mut tx, &tenant, &n.message, n.deliveries)
                .await?;
        }
        append_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn attendance_day(
        &self,
        scope: &TenantScope,
        day: &str,
        visibility: Visibility,
    ) -> Result<Vec<AttendanceEvent>> {
        let mut b: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT a.id, a.child_id, a.kind, a.day, a.at_ms, a.recorded_by, a.person_kind, \
             a.person_id FROM attendance a \
             JOIN children c ON c.tenant_id = a.tenant_id AND c.id = a.child_id \
             WHERE a.tenant_id = ",
        );
        b.push_bind(scope.tenant_id().to_string())
            .push(" AND a.day = ")
            .push_bind(day.to_owned());
        push_visibility(&mut b, scope, visibility);
        b.push(" ORDER BY a.at_ms, a.id");
        type Row = (String, String, String, String, i64, String, String, String);
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let rows: Vec<Row> = b.build_query_as().fetch_all(&mut *read).await?;
        done(read).await?;
        rows.into_iter()
            .map(|(id, child, kind, day, at_ms, by, pk, pid)| {
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
                })
            })
            .collect()
    }
}
