//! Whose rows a transaction may see and write (A5).
//!
//! Every shared statement body opens its transaction or read behind a [`Wall`]. On PostgreSQL
//! the wall is enforced by row-level security (`postgres::wall` states it with `set_config`
//! at the start of the transaction); on SQLite, one file and one writer, the `WHERE tenant_id`
//! in each statement is the wall and the value is not needed.

use kinfold_crypto::token::TokenHash;

use crate::{TenantId, TenantScope};

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

impl Wall<'static> {
    /// The wall a chain lives behind: a tenant chain is named by its tenant's ID; any other
    /// chain (the system chain) is platform data.
    pub(crate) fn of_chain(chain: &str) -> Self {
        match TenantId::parse(chain) {
            Some(id) => Wall::TenantId(id),
            None => Wall::Platform,
        }
    }
}
