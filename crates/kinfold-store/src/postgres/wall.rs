//! The scope of a PostgreSQL transaction (A5). Every transaction starts by stating whose rows
//! it may touch, with `set_config(name, value, true)`: the setting ends with the transaction,
//! so a pooled connection never carries one request's scope into the next.

use kinfold_crypto::token::TokenHash;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::*;

/// Whose rows a transaction may see and write.
#[derive(Clone, Copy)]
pub(crate) enum Wall<'a> {
    /// One tenant's rows.
    Tenant(&'a TenantScope),
    /// One tenant's rows, by ID, for work that spans tenants one at a time (the audit writer).
    TenantId(TenantId),
    /// The tenant with this slug (sign-in), and nothing else.
    Slug(&'a str),
    /// The session, enrollment or MFA challenge that this token opens.
    Token(&'a TokenHash),
    /// Operator work across tenants: the tenant list and the audit chains.
    Platform,
}

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
    let mut tx = pool.begin().await?;
    set(&mut tx, wall).await?;
    Ok(tx)
}
