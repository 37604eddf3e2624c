//! Staff clock-ins and clock-outs, and each center's ratio table: one body for both stores,
//! behind the tenant's wall.

use async_trait::async_trait;

use super::{append_in, done, Backend};
use crate::ids::FromDb;
use crate::wall::Wall;
use crate::TenantTx;
use crate::*;

const ALREADY_IN: &str = "you are already clocked in: clock out first";
const NOT_IN: &str = "not clocked in to this room";

#[async_trait]
impl StaffStore for Backend {
    async fn record_staff(&self, tx: TenantTx<'_>, e: StaffEvent) -> Result<()> {
        let (scope, audit) = tx.into_parts();
        let tenant = scope.tenant_id().to_string();
        let user = e.user_id.to_string();
        let room = e.classroom_id.to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        if e.kind == ClockKind::ClockOut {
            let closed = sqlx::query(
                "UPDATE staff_attendance SET is_open = FALSE WHERE tenant_id = $1 \
                 AND user_id = $2 AND classroom_id = $3 AND day = $4 AND is_open",
            )
            .bind(&tenant)
            .bind(&user)
            .bind(&room)
            .bind(&e.day)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if closed == 0 {
                return Err(StoreError::WrongState(NOT_IN));
            }
        }
        let written = sqlx::query(
            "INSERT INTO staff_attendance (tenant_id, id, user_id, classroom_id, kind, day, \
             at_ms, recorded_by, reason, is_open) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (tenant_id, user_id, day) WHERE is_open DO NOTHING",
        )
        .bind(&tenant)
        .bind(e.id.to_string())
        .bind(&user)
        .bind(&room)
        .bind(e.kind.as_str())
        .bind(&e.day)
        .bind(e.at_ms)
        .bind(e.recorded_by.to_string())
        .bind(e.reason.as_deref())
        .bind(e.kind == ClockKind::ClockIn)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "staff attendance event"))?
        .rows_affected();
        if written == 0 {
            return Err(StoreError::WrongState(ALREADY_IN));
        }
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn staff_day(&self, scope: &TenantScope, day: &str) -> Result<Vec<StaffEvent>> {
        type Row = (
            String,
            String,
            String,
            String,
            String,
            i64,
            String,
            Option<String>,
        );
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, user_id, classroom_id, kind, day, at_ms, recorded_by, reason \
             FROM staff_attendance WHERE tenant_id = $1 AND day = $2 ORDER BY at_ms, id",
        )
        .bind(scope.tenant_id().to_string())
        .bind(day)
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        rows.into_iter()
            .map(|(id, user, room, kind, day, at_ms, by, reason)| {
                Ok(StaffEvent {
                    id: uuid::Uuid::parse_str(&id)
                        .map_err(|_| StoreError::Corrupt("staff attendance id"))?,
                    user_id: UserId::from_db(&user)?,
                    classroom_id: ClassroomId::from_db(&room)?,
                    kind: ClockKind::parse(&kind).ok_or(StoreError::Corrupt("clock kind"))?,
                    day,
                    at_ms,
                    recorded_by: UserId::from_db(&by)?,
                    reason,
                })
            })
            .collect()
    }

    async fn ratio_rules(&self, scope: &TenantScope) -> Result<RatioRules> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        // The version and the rows in one statement: a table read is never half of one change.
        let rows: Vec<(i64, Option<String>, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT t.ratios_version, r.band, r.children_per_staff, r.max_group \
             FROM tenants t LEFT JOIN ratio_rules r ON r.tenant_id = t.id \
             WHERE t.id = $1 ORDER BY r.band",
        )
        .bind(scope.tenant_id().to_string())
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        let version = rows
            .first()
            .map(|r| r.0)
            .ok_or(StoreError::NotFound("tenant"))?;
        let custom = rows
            .into_iter()
            .filter_map(|(_, band, per, max)| Some((band?, per?, max?)))
            .map(|(band, per, max)| {
                let corrupt = || StoreError::Corrupt("ratio rule");
                Ok(RatioRule {
                    band: AgeBand::parse(&band).ok_or_else(corrupt)?,
                    children_per_staff: u32::try_from(per).map_err(|_| corrupt())?,
                    max_group: u32::try_from(max).map_err(|_| corrupt())?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(RatioRules { custom, version })
    }

    async fn set_ratio_rules(
        &self,
        tx: TenantTx<'_>,
        rules: Vec<RatioRule>,
        expected: Option<i64>,
    ) -> Result<i64> {
        let (scope, audit) = tx.into_parts();
        let tenant = scope.tenant_id().to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        // Written over the version the change was made from only; the tenant's row is the
        // table's lock, so two changes at once are one after the other.
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE tenants SET ratios_version = ratios_version + 1 \
             WHERE id = $1 AND ratios_version = COALESCE($2, ratios_version) \
             RETURNING ratios_version",
        )
        .bind(&tenant)
        .bind(expected)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(version) = version else {
            return Err(super::stale_or_gone(
                &mut tx,
                "SELECT 1 FROM tenants WHERE id = $1",
                std::slice::from_ref(&tenant),
                "tenant",
            )
            .await?);
        };
        sqlx::query("DELETE FROM ratio_rules WHERE tenant_id = $1")
            .bind(&tenant)
            .execute(&mut *tx)
            .await?;
        for r in rules {
            sqlx::query(
                "INSERT INTO ratio_rules (tenant_id, band, children_per_staff, max_group) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&tenant)
            .bind(r.band.as_str())
            .bind(i64::from(r.children_per_staff))
            .bind(i64::from(r.max_group))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_insert(e, "ratio rule"))?;
        }
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(version)
    }
}
