//! The store's statements and bodies, written once and compiled for each backend.
//!
//! Each backend includes this module (`#[path = "../sql/mod.rs"] mod sql;`) beside its
//! `dialect` module, which gives the few things that differ, under the same names on both:
//!
//! - `Db`, `Tx` and `Read`: the sqlx database, a write transaction, and a read handle (a
//!   pooled connection on SQLite; a transaction on PostgreSQL, which needs one to state the
//!   wall);
//! - `Backend::tx(wall)` and `Backend::read(wall)`: how a transaction or a read begins behind
//!   its [`Wall`](crate::wall::Wall) (PostgreSQL's `set_config`; SQLite's single writer);
//! - `done(read)`: how a read ends;
//! - `enter_chain(tx, chain)`: what an audit append does before it reads a chain's head
//!   (PostgreSQL's advisory lock and chain wall; nothing on SQLite, whose writer is alone);
//! - `lock_user(tx, scope, user)`: the user's row lock, so a user's sessions and links change
//!   one writer at a time across nodes (PostgreSQL's `FOR NO KEY UPDATE`; nothing on SQLite);
//! - `for_update(select)`: a SELECT whose rows stay locked until commit (PostgreSQL's
//!   `FOR UPDATE`, which SQLite does not parse);
//! - `enter_token_tenant(conn, find, token)`: behind a token's wall, moving to the wall of the
//!   tenant the token names (PostgreSQL's second `set_config`; nothing on SQLite, so a session
//!   lookup stays one query).
//!
//! Statements use `$N` parameters, which sqlx binds by number on SQLite as on PostgreSQL, and
//! `COLLATE "C"` for byte order, which the SQLite store registers as a collation.
//! Everything here is plain Rust: the body is type-checked, formatted and linted for each
//! backend, and no macro stands between an error and its line.

mod audit_append;
mod auth;
mod mail;
mod sessions;
mod tenants;

pub(crate) use audit_append::append_in;

#[allow(unused_imports)]
use super::dialect::{
    done, enter_chain, enter_token_tenant, for_update, lock_user, Backend, Db, Read, Tx,
};
