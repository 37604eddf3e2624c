//! End-to-end tests of the `kinfold` binary: the demo as a new user runs it, start-up checks,
//! the encrypted data directory, `audit verify` against tampering, and TLS.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;
mod outbox;
mod pitr;
mod postgres;
mod s3_proxy;

mod access;
mod audit_verify;
mod backup;
mod backup_pg;
mod backup_s3;
mod commands;
mod data_dir;
mod demo;
mod drill_stop;
mod durability;
mod failover;
mod faults;
mod s3_credentials;
mod sync_wait;
mod tls;
