//! The audit trail as plain data: typed events, their categories and retention, the per-tenant
//! hash chain, signed checkpoints, and verification. The store persists it; nothing here does
//! I/O.

pub mod chain;
pub mod event;

pub use chain::{Checkpoint, Draft, Entry, VerifyError, VerifyReport};
pub use event::{Category, Event};

/// The chain that holds system events (start-up, migrations, keys), which belong to no tenant.
pub const SYSTEM_CHAIN: &str = "system";
