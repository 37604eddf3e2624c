//! The platform call the HTTP layer makes (readiness; CSP reports are [`crate::csp`]), and the proof
//! that handlers reach the store only through a service, each decided by the policy table
//! (A1).
//!
//! Outside this crate the store is out of reach, and there is no role check beside the table
//! (issue 12 item 9); these two must not compile:
//!
//! ```compile_fail,E0624
//! fn handler(core: &kinfold_core::Core) {
//!     let _ = core.store();
//! }
//! ```
//!
//! ```compile_fail,E0599
//! fn handler(actor: &kinfold_core::Actor) {
//!     let _ = actor.require_admin();
//! }
//! ```
//!
//! while the same shape with a public method does:
//!
//! ```
//! fn handler(core: &kinfold_core::Core, actor: &kinfold_core::Actor) {
//!     let _ = (core.settings(), &actor.role);
//! }
//! ```

use crate::{Core, CoreError};

impl Core {
    /// Whether the database is reachable and migrated (`/readyz`).
    pub async fn ready(&self) -> Result<bool, CoreError> {
        Ok(self.store().ready().await?)
    }
}
