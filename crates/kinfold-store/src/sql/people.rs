//! The people of a tenant: a staff member's role. One body for both stores.

use async_trait::async_trait;

use super::auth::{void_links, ENROLLMENT_VOID, PASSWORD_RESET_SUPERSEDE};
use super::sessions::end_user_sessions_in;
use super::{append_in, for_update, lock_user, Backend, Tx};
use crate::wall::Wall;
use crate::TenantTx;
use crate::*;

/// How many active administrators the tenant has, their rows locked until commit on
/// PostgreSQL (SQLite's writer is alone), so two demotions cannot both pass the count.
async fn active_admins(tx: &mut Tx, tenant: &str) -> Result<usize> {
    let admins: Vec<(String,)> = sqlx::query_as(&for_update(
        "SELECT id FROM users WHERE tenant_id = $1 AND role = 'administrator' \
         AND deactivated_ms IS NULL",
    ))
    .bind(tenant)
    .fetch_all(&mut **tx)
    .await?;
    Ok(admins.len())
}

/// Refuses to take administration from a user with role `role` when they are the last of
/// `admins` active administrators.
fn keep_an_administrator(role: &str, admins: usize) -> Result<()> {
    if role == Role::Administrator.as_str() && admins <= 1 {
        return Err(StoreError::WrongState(
            "this is the center's last administrator: make someone else an administrator first",
        ));
    }
    Ok(())
}

#[async_trait]
impl PeopleStore for Backend {
    async fn set_role(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        from: Role,
        role: Role,
        at_ms: i64,
    ) -> Result<Vec<Session>> {
        let (scope, audit) = tx.into_parts();
        let t = scope.tenant_id().to_string();
        let u = user.to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let admins = active_admins(&mut tx, &t).await?;
        let current: Option<(String,)> =
            sqlx::query_as("SELECT role FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(&t)
                .bind(&u)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((current,)) = current else {
            return Err(StoreError::NotFound("user"));
        };
        if current != from.as_str() {
            return Err(StoreError::WrongState(crate::STALE_RECORD));
        }
        if role != Role::Administrator {
            keep_an_administrator(&current, admins)?;
        }
        // Over role `from` only: on PostgreSQL a change committed since the read above (the
        // user's row is not locked by it) is seen here, and refused.
        let changed = sqlx::query(
            "UPDATE users SET role = $1 WHERE tenant_id = $2 AND id = $3 AND role = $4",
        )
        .bind(role.as_str())
        .bind(&t)
        .bind(&u)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::WrongState(crate::STALE_RECORD));
        }
        let ended =
            end_user_sessions_in(&mut tx, scope, user, None, EndReason::RoleChanged, at_ms).await?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(ended)
    }

    async fn deactivate(&self, tx: TenantTx<'_>, user: UserId, at_ms: i64) -> Result<Vec<Session>> {
        let (scope, audit) = tx.into_parts();
        let t = scope.tenant_id().to_string();
        let u = user.to_string();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let admins = active_admins(&mut tx, &t).await?;
        lock_user(&mut tx, scope, user).await?;
        let row: Option<(String, Option<i64>)> = sqlx::query_as(
            "SELECT role, deactivated_ms FROM users WHERE tenant_id = $1 AND id = $2",
        )
        .bind(&t)
        .bind(&u)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((role, deactivated)) = row else {
            return Err(StoreError::NotFound("user"));
        };
        if deactivated.is_some() {
            return Err(StoreError::WrongState(
                "this account is already deactivated",
            ));
        }
        keep_an_administrator(&role, admins)?;
        sqlx::query("UPDATE users SET deactivated_ms = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(at_ms)
            .bind(&t)
            .bind(&u)
            .execute(&mut *tx)
            .await?;
        void_links(&mut tx, ENROLLMENT_VOID, scope, user, at_ms).await?;
        void_links(&mut tx, PASSWORD_RESET_SUPERSEDE, scope, user, at_ms).await?;
        let ended =
            end_user_sessions_in(&mut tx, scope, user, None, EndReason::Deactivated, at_ms).await?;
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(ended)
    }

    async fn reactivate(&self, tx: TenantTx<'_>, user: UserId) -> Result<()> {
        let (scope, audit) = tx.into_parts();
        let mut tx = self.tx(Wall::Tenant(scope)).await?;
        let changed = sqlx::query(
            "UPDATE users SET deactivated_ms = NULL \
             WHERE tenant_id = $1 AND id = $2 AND deactivated_ms IS NOT NULL",
        )
        .bind(scope.tenant_id().to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::WrongState("this account is not deactivated"));
        }
        append_in(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(())
    }
}
