//! The reads behind administrators' pages, each decided by the policy table (A1): the tenant's
//! users, its audit log, checkpoints and API access log; and the two calls the HTTP layer makes
//! for the platform (readiness, CSP reports). Handlers reach the store only through [`Core`].
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

use kinfold_audit::{Category, Checkpoint, Entry};
use kinfold_store::{AuditQuery, Classroom, StoredApiAccess, User};

use crate::children::ChildView;
use crate::policy::{self, Action, Scope};
use crate::services::{AuditLog, Classrooms, Tenants};
use crate::{Actor, Core, CoreError};

impl Core {
    /// Whether the database is reachable and migrated (`/readyz`).
    pub async fn ready(&self) -> Result<bool, CoreError> {
        Ok(self.store().ready().await?)
    }

    /// Keeps a (redacted) CSP violation report.
    pub async fn record_csp_report(&self, report: String) -> Result<(), CoreError> {
        Ok(self
            .store()
            .insert_csp_report(self.now_ms(), report)
            .await?)
    }
}

impl Tenants<'_> {
    /// The tenant's users (`ManageUsers`).
    pub async fn list_users(&self, actor: &Actor) -> Result<Vec<User>, CoreError> {
        policy::require_whole_tenant(actor, Action::ManageUsers)?;
        Ok(self.store().users(&actor.scope).await?)
    }
}

impl AuditLog<'_> {
    /// The tenant's audit log under `q`, newest first (`ReadAudit`): the whole tenant's where
    /// the role reaches it; for `Own`, only the actor's own access events, whatever `q` asks.
    pub async fn audit_entries(
        &self,
        actor: &Actor,
        mut q: AuditQuery,
    ) -> Result<Vec<Entry>, CoreError> {
        if policy::require(actor, Action::ReadAudit)? != Scope::WholeTenant {
            q.category = Some(Category::Access.as_str().to_owned());
            q.actor = Some(actor.user.id.to_string());
        }
        Ok(self.store().audit_page(&actor.scope.chain(), &q).await?)
    }

    /// The whole tenant's audit log under `q` (`ReadAudit`, whole tenant): the console's audit
    /// and email delivery log pages.
    pub async fn tenant_audit_entries(
        &self,
        actor: &Actor,
        q: &AuditQuery,
    ) -> Result<Vec<Entry>, CoreError> {
        policy::require_whole_tenant(actor, Action::ReadAudit)?;
        Ok(self.store().audit_page(&actor.scope.chain(), q).await?)
    }

    /// The tenant chain's signed checkpoints, for offline verification (`ReadAudit`, whole
    /// tenant).
    pub async fn audit_checkpoints(&self, actor: &Actor) -> Result<Vec<Checkpoint>, CoreError> {
        policy::require_whole_tenant(actor, Action::ReadAudit)?;
        Ok(self.store().checkpoints(&actor.scope.chain()).await?)
    }

    /// The API access log (L4), newest first (`ReadAudit`, whole tenant).
    pub async fn api_access_page(
        &self,
        actor: &Actor,
        category: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<StoredApiAccess>, Option<i64>), CoreError> {
        policy::require_whole_tenant(actor, Action::ReadAudit)?;
        Ok(self
            .store()
            .api_access_page(&actor.scope, category, before, limit)
            .await?)
    }
}

impl Classrooms<'_> {
    /// The classroom of a child the actor already reads (the view is the proof): its name is
    /// one of the child's basic fields. Other classrooms stay out of reach.
    pub async fn child_classroom(
        &self,
        actor: &Actor,
        view: &ChildView,
    ) -> Result<Option<Classroom>, CoreError> {
        let Some(id) = view.child().classroom_id else {
            return Ok(None);
        };
        Ok(self
            .store()
            .classrooms(&actor.scope)
            .await?
            .into_iter()
            .find(|c| c.id == id))
    }
}
