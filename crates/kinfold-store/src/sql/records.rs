//! The center's details, classrooms, staff assignments, children and access grants: one body
//! for both stores, each write behind the tenant's wall with its audit entries last.

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::{append_in, done, pickups_json, Backend, Db};
use crate::drafts::name_new_row;
use crate::ids::FromDb;
use crate::rows::{push_visibility, ChildRow, ChildWithPickupsRow, ClassroomRow};
use crate::wall::Wall;
use crate::TenantTx;
use crate::*;

type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

/// Binds a child's plain fields, in the column order both child statements list them.
fn bind_fields<'q>(q: Query<'q>, f: &'q ChildFields) -> Query<'q> {
    q.bind(&f.given_name)
        .bind(&f.family_name)
        .bind(&f.preferred_name)
        .bind(&f.date_of_birth)
        .bind(f.classroom_id.map(|c| c.to_string()))
        .bind(&f.status)
        .bind(&f.enrolled_on)
        .bind(&f.left_on)
}

/// A child or a teacher is placed only in an open room, checked in the placing transaction,
/// which also locks the room's row: a no-op `UPDATE` of an open room, so the same statement
/// on both stores. [`RecordStore::archive_classroom`] locks the row first too, so on
/// PostgreSQL (READ COMMITTED) the two wait for each other and the second sees what the first
/// committed: an archive that commits first leaves this update nothing to match; a placement
/// that commits first is counted by the archive. SQLite's single writer orders them anyway.
async fn placeable(
    conn: &mut <Db as sqlx::Database>::Connection,
    tenant: &str,
    room: Option<ClassroomId>,
) -> Result<()> {
    let Some(room) = room else { return Ok(()) };
    let open = sqlx::query(
        "UPDATE classrooms SET archived_ms = archived_ms WHERE tenant_id = $1 AND id = $2 \
         AND archived_ms IS NULL",
    )
    .bind(tenant)
    .bind(room.to_string())
    .execute(&mut *conn)
    .await?;
    if open.rows_affected() == 0 {
        return Err(StoreError::WrongState("the classroom is archived"));
    }
    Ok(())
}

/// A center's details as read: legal name, postal address, time zone, region, idle timeout,
/// session cap and version.
type DetailsRow = (
    Option<String>,
    Option<String>,
    String,
    String,
    Option<i64>,
    Option<i64>,
    i64,
);

/// The statuses an archive counts as placed in a room: its count and a re-enrolment read
/// this one list.
const COUNTED: [&str; 2] = ["enrolled", "waitlisted"];

fn counts_in_room(status: &str) -> bool {
    COUNTED.contains(&status)
}

#[async_trait]
impl RecordStore for Backend {
    async fn tenant_details(&self, scope: &TenantScope) -> Result<TenantDetails> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let row: DetailsRow = sqlx::query_as(
            "SELECT legal_name, postal_address, time_zone, region, session_idle_secs, \
             max_sessions, details_version FROM tenants WHERE id = $1",
        )
        .bind(scope.tenant_id().to_string())
        .fetch_one(&mut *read)
        .await?;
        done(read).await?;
        let (legal_name, postal_address, time_zone, region, idle, max, version) = row;
        Ok(TenantDetails {
            legal_name,
            postal_address,
            time_zone,
            region,
            sessions: CenterSessionPolicy {
                idle_timeout_secs: idle,
                max_sessions: max,
            },
            version,
        })
    }

    async fn set_tenant_details(
        &self,
        tx: TenantTx<'_>,
        details: &TenantDetails,
        lower_cap: Option<LowerCap>,
    ) -> Result<(TenantDetails, Vec<Session>)> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE tenants SET legal_name = $1, postal_address = $2, time_zone = $3, region = $4, \
             session_idle_secs = $5, max_sessions = $6, details_version = details_version + 1 \
             WHERE id = $7 AND details_version = $8 RETURNING details_version",
        )
        .bind(&details.legal_name)
        .bind(&details.postal_address)
        .bind(&details.time_zone)
        .bind(&details.region)
        .bind(details.sessions.idle_timeout_secs)
        .bind(details.sessions.max_sessions)
        .bind(scope.tenant_id().to_string())
        .bind(details.version)
        .fetch_optional(&mut *tx)
        .await?;
        // The tenant exists (its scope does): another change came first.
        let version = version.ok_or(StoreError::WrongState(crate::STALE_RECORD))?;
        let mut audit = audit;
        let mut ended = Vec::new();
        if let Some(c) = lower_cap {
            ended = super::sessions::beyond_cap(&mut tx, scope, c.cap, c.at_ms).await?;
            super::sessions::end_evicted(&mut tx, scope, &mut ended, c.at_ms).await?;
            audit.extend(super::sessions::evicted_drafts(
                scope, &ended, c.at_ms, None,
            ));
        }
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        let details = TenantDetails {
            version,
            ..details.clone()
        };
        Ok((details, ended))
    }

    async fn create_classroom(
        &self,
        tx: TenantTx<'_>,
        fields: &ClassroomFields,
        at_ms: i64,
    ) -> Result<Classroom> {
        let (scope, audit) = tx.into_parts();
        let id = ClassroomId::new();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        sqlx::query(
            "INSERT INTO classrooms (tenant_id, id, name, age_group, capacity, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(scope.tenant_id().to_string())
        .bind(id.to_string())
        .bind(&fields.name)
        .bind(fields.age_group.map(AgeGroup::as_str))
        .bind(fields.capacity.map(i64::from))
        .bind(at_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "classroom with this name"))?;
        let audit = name_new_row(audit, &id.to_string());
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(fields.room(id))
    }

    async fn update_classroom(
        &self,
        tx: TenantTx<'_>,
        id: ClassroomId,
        fields: &ClassroomFields,
        expected: Option<i64>,
    ) -> Result<Classroom> {
        let (scope, audit) = tx.into_parts();
        let tenant = scope.tenant_id().to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE classrooms SET name = $3, age_group = $4, capacity = $5, \
             version = version + 1 \
             WHERE tenant_id = $1 AND id = $2 AND archived_ms IS NULL \
             AND version = COALESCE($6, version) RETURNING version",
        )
        .bind(&tenant)
        .bind(id.to_string())
        .bind(&fields.name)
        .bind(fields.age_group.map(AgeGroup::as_str))
        .bind(fields.capacity.map(i64::from))
        .bind(expected)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "classroom with this name"))?;
        let Some(version) = version else {
            // Open, but at another version than the one the change was made from?
            return Err(super::stale_or_gone(
                &mut tx,
                "SELECT 1 FROM classrooms \
                 WHERE tenant_id = $1 AND id = $2 AND archived_ms IS NULL",
                &[tenant, id.to_string()],
                "classroom",
            )
            .await?);
        };
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(Classroom {
            version,
            ..fields.room(id)
        })
    }

    async fn archive_classroom(&self, tx: TenantTx<'_>, id: ClassroomId, at_ms: i64) -> Result<()> {
        let (scope, audit) = tx.into_parts();
        let tenant = scope.tenant_id().to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        // The room's row is locked first (the update), then its children are counted, in
        // one transaction: a placement waiting on the lock then finds the room archived, and
        // one that committed before is counted here (see `placeable`).
        let changed = sqlx::query(
            "UPDATE classrooms SET archived_ms = $3 \
             WHERE tenant_id = $1 AND id = $2 AND archived_ms IS NULL",
        )
        .bind(&tenant)
        .bind(id.to_string())
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound("classroom"));
        }
        let children: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM children WHERE tenant_id = $1 AND classroom_id = $2 \
             AND status IN ($3, $4)",
        )
        .bind(&tenant)
        .bind(id.to_string())
        .bind(COUNTED[0])
        .bind(COUNTED[1])
        .fetch_one(&mut *tx)
        .await?;
        if children > 0 {
            return Err(StoreError::WrongState(
                "the classroom still has children; move them to another room first",
            ));
        }
        sqlx::query("DELETE FROM staff_assignments WHERE tenant_id = $1 AND classroom_id = $2")
            .bind(&tenant)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn classrooms(&self, scope: &TenantScope) -> Result<Vec<Classroom>> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let rows: Vec<ClassroomRow> = sqlx::query_as(
            "SELECT id, name, age_group, capacity, archived_ms, version FROM classrooms \
             WHERE tenant_id = $1 ORDER BY name COLLATE \"C\"",
        )
        .bind(scope.tenant_id().to_string())
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        rows.into_iter().map(ClassroomRow::into_classroom).collect()
    }

    async fn assign_staff(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        classroom: ClassroomId,
    ) -> Result<()> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        // Only into an open room, its row locked against a concurrent archive (`placeable`);
        // an assignment that exists already changes nothing and writes no entry.
        let tenant = scope.tenant_id().to_string();
        placeable(&mut tx, &tenant, Some(classroom)).await?;
        let added = sqlx::query(
            "INSERT INTO staff_assignments (tenant_id, user_id, classroom_id) \
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(&tenant)
        .bind(user.to_string())
        .bind(classroom.to_string())
        .execute(&mut *tx)
        .await?;
        if added.rows_affected() == 0 {
            return Ok(());
        }
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn unassign_staff(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        classroom: ClassroomId,
    ) -> Result<()> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let gone = sqlx::query(
            "DELETE FROM staff_assignments WHERE tenant_id = $1 AND user_id = $2 \
             AND classroom_id = $3",
        )
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .bind(classroom.to_string())
        .execute(&mut *tx)
        .await?;
        if gone.rows_affected() == 0 {
            return Err(StoreError::NotFound("staff assignment"));
        }
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn staff_assignments(&self, scope: &TenantScope) -> Result<Vec<(UserId, ClassroomId)>> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT user_id, classroom_id FROM staff_assignments WHERE tenant_id = $1 \
             ORDER BY user_id, classroom_id",
        )
        .bind(scope.tenant_id().to_string())
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        rows.iter()
            .map(|(u, c)| Ok((UserId::from_db(u)?, ClassroomId::from_db(c)?)))
            .collect()
    }

    async fn assigned_classrooms(
        &self,
        scope: &TenantScope,
        user: UserId,
    ) -> Result<Vec<ClassroomId>> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT classroom_id FROM staff_assignments WHERE tenant_id = $1 AND user_id = $2 \
             ORDER BY classroom_id",
        )
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        rows.iter().map(|r| ClassroomId::from_db(r)).collect()
    }

    async fn create_child(
        &self,
        tx: TenantTx<'_>,
        id: ChildId,
        fields: ChildFields,
        sealed: SealedChildFields,
        at_ms: i64,
    ) -> Result<Child> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        placeable(&mut tx, &scope.tenant_id().to_string(), fields.classroom_id).await?;
        let q = sqlx::query(
            "INSERT INTO children (given_name, family_name, preferred_name, date_of_birth, \
             classroom_id, status, enrolled_on, left_on, tenant_id, id, allergies, medical_notes, \
             emergency_contacts, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        );
        bind_fields(q, &fields)
            .bind(scope.tenant_id().to_string())
            .bind(id.to_string())
            .bind(&sealed.allergies)
            .bind(&sealed.medical_notes)
            .bind(&sealed.emergency_contacts)
            .bind(at_ms)
            .bind(at_ms)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_insert(e, "child"))?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(Child {
            id,
            tenant_id: scope.tenant_id(),
            given_name: fields.given_name,
            family_name: fields.family_name,
            preferred_name: fields.preferred_name,
            date_of_birth: fields.date_of_birth,
            classroom_id: fields.classroom_id,
            status: fields.status,
            enrolled_on: fields.enrolled_on,
            left_on: fields.left_on,
            sealed,
            created_ms: at_ms,
            updated_ms: at_ms,
            version: 1,
        })
    }

    async fn update_child(
        &self,
        tx: TenantTx<'_>,
        id: ChildId,
        fields: ChildFields,
        sealed: SealedChildFields,
        at_ms: i64,
        expected: Option<i64>,
    ) -> Result<Child> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        // A withdrawn child may stay in an archived room. A move must be into an open room,
        // and so must a child who starts counting in their room again (re-enrolled or
        // waitlisted): an archive counts exactly those, so both lock the room (`placeable`).
        let before: Option<(Option<String>, String)> = sqlx::query_as(
            "SELECT classroom_id, status FROM children WHERE tenant_id = $1 AND id = $2",
        )
        .bind(scope.tenant_id().to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let existed = before.is_some();
        let (old_room, old_status) = before.unwrap_or_default();
        let moved = fields.classroom_id.map(|c| c.to_string()) != old_room;
        let joins = counts_in_room(&fields.status) && !counts_in_room(&old_status);
        if moved || joins {
            placeable(&mut tx, &scope.tenant_id().to_string(), fields.classroom_id).await?;
        }
        let q = sqlx::query(
            "UPDATE children SET given_name = $1, family_name = $2, preferred_name = $3, \
             date_of_birth = $4, classroom_id = $5, status = $6, enrolled_on = $7, left_on = $8, \
             allergies = COALESCE($9, allergies), medical_notes = COALESCE($10, medical_notes), \
             emergency_contacts = COALESCE($11, emergency_contacts), \
             updated_ms = $12, version = version + 1 \
             WHERE tenant_id = $13 AND id = $14 AND version = COALESCE($15, version)",
        );
        let r = bind_fields(q, &fields)
            .bind(&sealed.allergies)
            .bind(&sealed.medical_notes)
            .bind(&sealed.emergency_contacts)
            .bind(at_ms)
            .bind(scope.tenant_id().to_string())
            .bind(id.to_string())
            .bind(expected)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() != 1 {
            // The row was there when read above: it has moved on since the version expected.
            return Err(if existed {
                StoreError::WrongState(crate::STALE_RECORD)
            } else {
                StoreError::NotFound("child")
            });
        }
        // Read back before the audit append, which on PostgreSQL may leave the transaction
        // behind another chain's wall.
        let row: ChildRow =
            sqlx::query_as("SELECT * FROM children WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id().to_string())
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        row.into_child()
    }

    async fn child(
        &self,
        scope: &TenantScope,
        id: ChildId,
        visibility: Visibility,
    ) -> Result<Option<Child>> {
        let mut b: QueryBuilder<Db> =
            QueryBuilder::new("SELECT c.* FROM children c WHERE c.tenant_id = ");
        b.push_bind(scope.tenant_id().to_string())
            .push(" AND c.id = ")
            .push_bind(id.to_string());
        push_visibility(&mut b, scope, visibility);
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let row: Option<ChildRow> = b.build_query_as().fetch_optional(&mut *read).await?;
        done(read).await?;
        row.map(ChildRow::into_child).transpose()
    }

    async fn children(&self, scope: &TenantScope, q: &ChildQuery) -> Result<Vec<Child>> {
        let mut b: QueryBuilder<Db> =
            QueryBuilder::new("SELECT c.* FROM children c WHERE c.tenant_id = ");
        b.push_bind(scope.tenant_id().to_string());
        push_visibility(&mut b, scope, q.visibility);
        if let Some(c) = q.classroom_id {
            b.push(" AND c.classroom_id = ").push_bind(c.to_string());
        }
        if let Some(s) = &q.status {
            b.push(" AND c.status = ").push_bind(s.clone());
        }
        if let Some(after) = q.after {
            b.push(" AND c.id > ").push_bind(after.to_string());
        }
        b.push(" ORDER BY c.id LIMIT ")
            .push_bind(i64::from(q.limit));
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let rows: Vec<ChildRow> = b.build_query_as().fetch_all(&mut *read).await?;
        done(read).await?;
        rows.into_iter().map(ChildRow::into_child).collect()
    }

    async fn child_with_pickups(
        &self,
        scope: &TenantScope,
        id: ChildId,
        visibility: Visibility,
    ) -> Result<Option<(Child, Vec<Pickup>)>> {
        let mut b: QueryBuilder<Db> = QueryBuilder::new("SELECT c.*, ");
        b.push(pickups_json())
            .push(" AS pickups FROM children c WHERE c.tenant_id = ")
            .push_bind(scope.tenant_id().to_string())
            .push(" AND c.id = ")
            .push_bind(id.to_string());
        push_visibility(&mut b, scope, visibility);
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let row: Option<ChildWithPickupsRow> =
            b.build_query_as().fetch_optional(&mut *read).await?;
        done(read).await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(row.into_parts(id)?))
    }

    async fn create_grant(&self, tx: TenantTx<'_>, g: AccessGrant) -> Result<()> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        sqlx::query(
            "INSERT INTO access_grants (tenant_id, id, operator, reason, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(scope.tenant_id().to_string())
        .bind(g.id.to_string())
        .bind(&g.operator)
        .bind(&g.reason)
        .bind(g.created_ms)
        .bind(g.expires_ms)
        .execute(&mut *tx)
        .await?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn grants(&self, scope: &TenantScope) -> Result<Vec<AccessGrant>> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT id, operator, reason, created_ms, expires_ms FROM access_grants \
             WHERE tenant_id = $1 ORDER BY created_ms DESC",
        )
        .bind(scope.tenant_id().to_string())
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        rows.into_iter()
            .map(|(id, operator, reason, created_ms, expires_ms)| {
                Ok(AccessGrant {
                    id: uuid::Uuid::parse_str(&id).map_err(|_| StoreError::Corrupt("grant id"))?,
                    operator,
                    reason,
                    created_ms,
                    expires_ms,
                })
            })
            .collect()
    }
}
