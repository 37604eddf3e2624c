//! Guardians, their links to children, and authorized pickups: one body for both stores, each
//! transaction behind the tenant's wall.

use async_trait::async_trait;

use sqlx::QueryBuilder;

use super::{append_in, done, Backend, Conn, Db};
use crate::drafts::name_new_row;
use crate::ids::FromDb;
use crate::wall::Wall;
use crate::TenantTx;
use crate::*;

/// Children per read of their guardians or pickups: one parameter each, far under both
/// databases' limits.
const IDS_PER_READ: usize = 500;

/// Links a guardian to a child: a new link only, never a change to one (custody changes go
/// through `change_link`, with their version). A link that is already there is a conflict;
/// a child (or guardian) that is not the tenant's is `NotFound(missing)`.
async fn insert_link(
    conn: &mut Conn,
    scope: &TenantScope,
    link: &NewLink,
    missing: &'static str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO child_guardians (tenant_id, child_id, guardian_id, relationship, custody, \
         may_pick_up, primary_contact) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(scope.tenant_id().to_string())
    .bind(link.child.to_string())
    .bind(link.guardian.to_string())
    .bind(&link.relationship)
    .bind(link.custody.as_str())
    .bind(link.may_pick_up)
    .bind(link.primary_contact)
    .execute(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => {
            StoreError::NotFound(missing)
        }
        _ => StoreError::from_insert(e, "link"),
    })?;
    Ok(())
}

/// Pushes `prefix` and the list `(id, id, ...)` of `ids` (never empty: an empty list matches
/// nothing, as `(NULL)`).
fn push_ids(b: &mut QueryBuilder<'_, Db>, prefix: &str, ids: &[ChildId]) {
    b.push(prefix).push("(");
    if ids.is_empty() {
        b.push("NULL");
    }
    let mut list = b.separated(", ");
    for id in ids {
        list.push_bind(id.to_string());
    }
    b.push(")");
}

#[async_trait]
impl GuardianStore for Backend {
    async fn create_guardian(
        &self,
        tx: TenantTx<'_>,
        new: NewGuardian,
        link: NewLink,
        at_ms: i64,
    ) -> Result<Guardian> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        sqlx::query(
            "INSERT INTO guardians (tenant_id, id, user_id, name, email, phone, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(scope.tenant_id().to_string())
        .bind(link.guardian.to_string())
        .bind(new.user_id.map(|u| u.to_string()))
        .bind(&new.name)
        .bind(&new.email)
        .bind(&new.phone)
        .bind(at_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_insert(e, "guardian"))?;
        insert_link(&mut tx, scope, &link, "child").await?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(Guardian {
            id: link.guardian,
            user_id: new.user_id,
            name: new.name,
            email: new.email,
            phone: new.phone,
        })
    }

    async fn link_guardian(&self, tx: TenantTx<'_>, link: NewLink) -> Result<()> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        insert_link(&mut tx, scope, &link, "child or guardian").await?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn guardians(&self, scope: &TenantScope) -> Result<Vec<(Guardian, i64)>> {
        type Row = (
            String,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            i64,
        );
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT g.id, g.user_id, g.name, g.email, g.phone, \
             (SELECT COUNT(*) FROM child_guardians cg \
             WHERE cg.tenant_id = g.tenant_id AND cg.guardian_id = g.id) \
             FROM guardians g WHERE g.tenant_id = $1 ORDER BY g.name COLLATE \"C\", g.id",
        )
        .bind(scope.tenant_id().to_string())
        .fetch_all(&mut *read)
        .await?;
        done(read).await?;
        rows.into_iter()
            .map(|(id, user_id, name, email, phone, n)| {
                let user_id = user_id.as_deref().map(UserId::from_db).transpose()?;
                Ok((
                    Guardian {
                        id: GuardianId::from_db(&id)?,
                        user_id,
                        name,
                        email,
                        phone,
                    },
                    n,
                ))
            })
            .collect()
    }

    async fn guardians_of(
        &self,
        scope: &TenantScope,
        children: &[ChildId],
    ) -> Result<Vec<(ChildId, GuardianLink)>> {
        type Row = (
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            String,
            String,
            bool,
            bool,
            i64,
        );
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let mut rows: Vec<Row> = Vec::new();
        for chunk in children.chunks(IDS_PER_READ) {
            let mut b = QueryBuilder::new(
                "SELECT cg.child_id, g.id, g.user_id, g.name, g.email, g.phone, cg.relationship, \
                 cg.custody, cg.may_pick_up, cg.primary_contact, cg.version \
                 FROM child_guardians cg \
                 JOIN guardians g ON g.tenant_id = cg.tenant_id AND g.id = cg.guardian_id \
                 WHERE cg.tenant_id = ",
            );
            b.push_bind(scope.tenant_id().to_string());
            push_ids(&mut b, " AND cg.child_id IN ", chunk);
            b.push(" ORDER BY cg.child_id, cg.primary_contact DESC, g.name COLLATE \"C\"");
            rows.extend(b.build_query_as::<Row>().fetch_all(&mut *read).await?);
        }
        done(read).await?;
        rows.into_iter()
            .map(
                |(
                    child,
                    id,
                    user_id,
                    name,
                    email,
                    phone,
                    relationship,
                    custody,
                    may_pick_up,
                    primary_contact,
                    version,
                )| {
                    let link = GuardianLink {
                        guardian: Guardian {
                            id: GuardianId::from_db(&id)?,
                            user_id: user_id.as_deref().map(UserId::from_db).transpose()?,
                            name,
                            email,
                            phone,
                        },
                        relationship,
                        custody: Custody::parse(&custody).ok_or(StoreError::Corrupt("custody"))?,
                        may_pick_up,
                        primary_contact,
                        version,
                    };
                    Ok((ChildId::from_db(&child)?, link))
                },
            )
            .collect()
    }

    async fn add_pickup(&self, tx: TenantTx<'_>, new: NewPickup, at_ms: i64) -> Result<Pickup> {
        let (scope, audit) = tx.into_parts();
        let id = PickupId::new();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        sqlx::query(
            "INSERT INTO authorized_pickups \
             (tenant_id, id, child_id, name, relation, photo_id, passphrase_hash, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(scope.tenant_id().to_string())
        .bind(id.to_string())
        .bind(new.child.to_string())
        .bind(&new.name)
        .bind(&new.relation)
        .bind(&new.photo_id)
        .bind(&new.passphrase_hash)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        let audit = name_new_row(audit, &id.to_string());
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(Pickup {
            id,
            child_id: new.child,
            name: new.name,
            relation: new.relation,
            photo_id: new.photo_id,
            version: 1,
        })
    }

    async fn change_link(&self, tx: TenantTx<'_>, change: LinkChange) -> Result<()> {
        let (scope, audit) = tx.into_parts();
        let tenant = scope.tenant_id().to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let (changed, what) = match change {
            // Written over the version the change was made from only.
            LinkChange::Set {
                child,
                guardian,
                custody,
                may_pick_up,
                expected,
            } => {
                let r = sqlx::query(
                    "UPDATE child_guardians SET custody = $1, may_pick_up = $2, \
                     version = version + 1 \
                     WHERE tenant_id = $3 AND child_id = $4 AND guardian_id = $5 \
                     AND version = COALESCE($6, version)",
                )
                .bind(custody.as_str())
                .bind(may_pick_up)
                .bind(&tenant)
                .bind(child.to_string())
                .bind(guardian.to_string())
                .bind(expected)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() == 0 {
                    return Err(link_stale_or_gone(&mut tx, tenant, child, guardian).await?);
                }
                (r, "guardian")
            }
            // Taken away from the version the change was made from only: unlinked from an
            // older view, a court restriction set since would go with the link.
            LinkChange::Unlink {
                child,
                guardian,
                expected,
            } => {
                let r = sqlx::query(
                    "DELETE FROM child_guardians \
                     WHERE tenant_id = $1 AND child_id = $2 AND guardian_id = $3 \
                     AND version = COALESCE($4, version)",
                )
                .bind(&tenant)
                .bind(child.to_string())
                .bind(guardian.to_string())
                .bind(expected)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() == 0 {
                    return Err(link_stale_or_gone(&mut tx, tenant, child, guardian).await?);
                }
                (r, "guardian")
            }
            // Removed from the version the removal was made from only, as an unlink is.
            LinkChange::RemovePickup {
                child,
                pickup,
                expected,
            } => {
                let r = sqlx::query(
                    "DELETE FROM authorized_pickups \
                     WHERE tenant_id = $1 AND child_id = $2 AND id = $3 \
                     AND version = COALESCE($4, version)",
                )
                .bind(&tenant)
                .bind(child.to_string())
                .bind(pickup.to_string())
                .bind(expected)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() == 0 {
                    return Err(pickup_stale_or_gone(&mut tx, tenant, child, pickup).await?);
                }
                (r, "authorized pickup")
            }
            // The passphrase's hash is replaced only when a new one is given. Written over the
            // version the edit was made from only.
            LinkChange::EditPickup(edit) => {
                let r = sqlx::query(
                    "UPDATE authorized_pickups SET name = $1, relation = $2, photo_id = $3, \
                     passphrase_hash = COALESCE($4, passphrase_hash), version = version + 1 \
                     WHERE tenant_id = $5 AND child_id = $6 AND id = $7 \
                     AND version = COALESCE($8, version)",
                )
                .bind(&edit.name)
                .bind(&edit.relation)
                .bind(&edit.photo_id)
                .bind(&edit.passphrase_hash)
                .bind(&tenant)
                .bind(edit.child.to_string())
                .bind(edit.pickup.to_string())
                .bind(edit.expected)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() == 0 {
                    return Err(
                        pickup_stale_or_gone(&mut tx, tenant, edit.child, edit.pickup).await?,
                    );
                }
                (r, "authorized pickup")
            }
        };
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound(what));
        }
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn pickups_of(&self, scope: &TenantScope, children: &[ChildId]) -> Result<Vec<Pickup>> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let mut rows: Vec<(String, String, String, String, String, i64)> = Vec::new();
        for chunk in children.chunks(IDS_PER_READ) {
            let mut b = QueryBuilder::new(
                "SELECT id, child_id, name, relation, photo_id, version FROM authorized_pickups \
                 WHERE tenant_id = ",
            );
            b.push_bind(scope.tenant_id().to_string());
            push_ids(&mut b, " AND child_id IN ", chunk);
            b.push(" ORDER BY child_id, name COLLATE \"C\"");
            rows.extend(b.build_query_as().fetch_all(&mut *read).await?);
        }
        done(read).await?;
        rows.into_iter()
            .map(|(id, child, name, relation, photo_id, version)| {
                Ok(Pickup {
                    id: PickupId::from_db(&id)?,
                    child_id: ChildId::from_db(&child)?,
                    name,
                    relation,
                    photo_id,
                    version,
                })
            })
            .collect()
    }

    async fn pickup_passphrase_hash(
        &self,
        scope: &TenantScope,
        child: ChildId,
        pickup: PickupId,
    ) -> Result<Option<(String, i64)>> {
        let mut read = self.read(Wall::Tenant(scope)).await?;
        let hash: Option<(String, i64)> = sqlx::query_as(
            "SELECT passphrase_hash, version FROM authorized_pickups \
             WHERE tenant_id = $1 AND child_id = $2 AND id = $3",
        )
        .bind(scope.tenant_id().to_string())
        .bind(child.to_string())
        .bind(pickup.to_string())
        .fetch_optional(&mut *read)
        .await?;
        done(read).await?;
        Ok(hash)
    }
}

/// A guardian link change that matched no row: made from an older version, or the link is gone.
async fn link_stale_or_gone(
    tx: &mut super::Conn,
    tenant: String,
    child: ChildId,
    guardian: GuardianId,
) -> Result<StoreError> {
    super::stale_or_gone(
        tx,
        "SELECT 1 FROM child_guardians \
         WHERE tenant_id = $1 AND child_id = $2 AND guardian_id = $3",
        &[tenant, child.to_string(), guardian.to_string()],
        "guardian",
    )
    .await
}

/// After a compare-and-write on an authorized pickup that matched no row: stale, or gone.
async fn pickup_stale_or_gone(
    tx: &mut super::Conn,
    tenant: String,
    child: ChildId,
    pickup: PickupId,
) -> Result<StoreError> {
    super::stale_or_gone(
        tx,
        "SELECT 1 FROM authorized_pickups WHERE tenant_id = $1 AND child_id = $2 AND id = $3",
        &[tenant, child.to_string(), pickup.to_string()],
        "authorized pickup",
    )
    .await
}
