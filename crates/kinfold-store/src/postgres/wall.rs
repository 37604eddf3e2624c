//! The scope of a PostgreSQL transaction (A5). Every transaction starts by stating whose rows
//! it may touch, with `set_config(name, value, true)`: the setting ends with the transaction,
//! so a pooled connection never carries one request's scope into the next.

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

pub(crate) use crate::wall::Wall;
use crate::*;

/// Sets the wall for the rest of the transaction, replacing any earlier one.
pub(crate) async fn set(conn: &mut PgConnection, wall: Wall<'_>) -> Result<()> {
    let (tenant, slug, token, platform) = match wall {
        Wall::Tenant(s) => (s.tenant_id().to_string(), String::new(), String::new(), ""),
        Wall::TenantId(id) => (id.to_string(), String::new(), String::new(), ""),
        Wall::Slug(s) => (String::new(), s.to_owned(), String::new(), ""),
        Wall::Token(t) => (String::new(), String::new(), hex::encode(t.0), ""),
        Wall::Platform => (String::new(), String::new(), String::new(), "on"),
    };
    sqlx::query(
        "SELECT set_config('app.tenant_id', $1, true), set_config('app.tenant_slug', $2, true), \
         set_config('app.token', $3, true), set_config('app.platform', $4, true)",
    )
    .bind(tenant)
    .bind(slug)
    .bind(token)
    .bind(platform)
    .execute(conn)
    .await?;
    Ok(())
}

/// Begins a transaction behind `wall`.
pub(crate) async fn begin(pool: &PgPool, wall: Wall<'_>) -> Result<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await.map_err(StoreError::connecting)?;
    set(&mut tx, wall).await?;
    Ok(tx)
}
