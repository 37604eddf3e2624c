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
//! - `LEGACY` and `DIALECT`: the store's migration set from before the unified one, and how
//!   the unified one is rendered for it (`migrate.rs`).
//!
//! Statements use `$N` parameters, which sqlx binds by number on SQLite as on PostgreSQL, and
//! `COLLATE "C"` for byte order, which the SQLite store registers as a collation.
//! Everything here is plain Rust: the body is type-checked, formatted and linted for each
//! backend, and no macro stands between an error and its line.

mod audit_append;
mod mail;
mod migrate;

pub(crate) use audit_append::append_in;
pub(crate) use migrate::migrate;

#[allow(unused_imports)]
use super::dialect::{done, enter_chain, Backend, Db, Read, Tx, DIALECT, LEGACY};
