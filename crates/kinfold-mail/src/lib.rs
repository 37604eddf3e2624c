//! Email to families (E1-E7): sending domains and their DKIM keys, the DNS records to publish,
//! message composition, and signing. The outbox, transports, unsubscribe and bounce handling
//! build on this.

pub mod bench;
pub mod compose;
pub mod dkim;
pub mod doctor;
mod error;
pub mod footer;
pub mod reports;
pub mod sink;
pub mod transport;
pub mod unsubscribe;
pub mod verify;
pub mod zone;

pub use error::MailError;
