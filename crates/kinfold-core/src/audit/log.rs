//! Reading a tenant's audit trail, its signed checkpoints and its API access log, each decided
//! by the policy table (A1). Each read goes through `Core::settled_store`, which first waits
//! for the audit writer to put into the chain what it holds (on SQLite, the journal's records
//! not yet moved), so a read answered a moment ago is in what an administrator reads.

use kinfold_audit::{Category, Checkpoint, Entry};
use kinfold_store::{AuditQuery, StoredApiAccess};

use crate::policy::{self, Action, Scope};
use crate::services::AuditLog;
use crate::{Actor, CoreError};

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
        Ok(self
            .settled_store()
            .await
            .audit_page(&actor.scope.chain(), &q)
            .await?)
    }

    /// The whole tenant's audit log under `q` (`ReadAudit`, whole tenant): the console's audit
    /// and email delivery log pages.
    pub async fn tenant_audit_entries(
        &self,
        actor: &Actor,
        q: &AuditQuery,
    ) -> Result<Vec<Entry>, CoreError> {
        policy::require_whole_tenant(actor, Action::ReadAudit)?;
        Ok(self
            .settled_store()
            .await
            .audit_page(&actor.scope.chain(), q)
            .await?)
    }

    /// The tenant chain's signed checkpoints, for offline verification (`ReadAudit`, whole
    /// tenant).
    pub async fn audit_checkpoints(&self, actor: &Actor) -> Result<Vec<Checkpoint>, CoreError> {
        policy::require_whole_tenant(actor, Action::ReadAudit)?;
        Ok(self
            .settled_store()
            .await
            .checkpoints(&actor.scope.chain())
            .await?)
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
            .settled_store()
            .await
            .api_access_page(&actor.scope, category, before, limit)
            .await?)
    }
}

/// The deployment's last backup and last restore drill, as the system chain records them
/// (`backup_created`, `backup_drill`): what administrators see on their home page.
#[derive(Debug, Clone, Default)]
pub struct BackupStatus {
    /// When, and which backup.
    pub last_backup: Option<(i64, String)>,
    /// When, which backup, and whether it passed.
    pub last_drill: Option<(i64, String, bool)>,
    /// When and why the last scheduled backup failed, if none has succeeded since.
    pub failed_since: Option<(i64, String)>,
}

impl AuditLog<'_> {
    /// The last backup and drill of the deployment, for administrators (`Administer`). The
    /// system chain holds no tenant's data; only these two kinds are read from it.
    pub async fn backup_status(&self, actor: &Actor) -> Result<BackupStatus, CoreError> {
        policy::require_whole_tenant(actor, Action::Administer)?;
        self.deployment_backup_status().await
    }

    /// [`Self::backup_status`] for the operator's own code (the backup schedule in `serve`).
    pub async fn deployment_backup_status(&self) -> Result<BackupStatus, CoreError> {
        let chain = kinfold_store::Chain::system();
        let mut status = BackupStatus::default();
        // Newest first, a page at a time, until both are found: the home page does not read
        // the whole system chain.
        let mut q = AuditQuery {
            category: Some(Category::System.as_str().to_owned()),
            limit: 100,
            ..AuditQuery::default()
        };
        loop {
            let page = self.settled_store().await.audit_page(&chain, &q).await?;
            for e in &page {
                match serde_json::from_str::<kinfold_audit::Event>(&e.event) {
                    Ok(kinfold_audit::Event::BackupCreated { backup_id, .. })
                        if status.last_backup.is_none() =>
                    {
                        status.last_backup = Some((e.at_ms, backup_id));
                    }
                    Ok(kinfold_audit::Event::BackupDrill {
                        backup_id, passed, ..
                    }) if status.last_drill.is_none() => {
                        status.last_drill = Some((e.at_ms, backup_id, passed));
                    }
                    Ok(kinfold_audit::Event::BackupFailed { detail, .. })
                        if status.last_backup.is_none() && status.failed_since.is_none() =>
                    {
                        status.failed_since = Some((e.at_ms, detail));
                    }
                    _ => {}
                }
            }
            let done = status.last_backup.is_some() && status.last_drill.is_some();
            match page.last() {
                Some(oldest) if !done && page.len() == q.limit as usize => {
                    q.before_seq = Some(oldest.seq);
                }
                _ => return Ok(status),
            }
        }
    }
}

/// A refused pickup, as the administrators' home page lists it.
#[derive(Debug, Clone)]
pub struct RefusedPickup {
    pub at_ms: i64,
    pub child_id: kinfold_store::ChildId,
    /// The child's name, or empty when the child's record is gone.
    pub child_name: String,
    pub reason: String,
}

impl AuditLog<'_> {
    /// Refused pickups since `since_ms`, newest first, for administrators (`Administer`): read
    /// from the tenant's chain, where each one is an admin event. At most 50.
    pub async fn refused_pickups(
        &self,
        actor: &Actor,
        since_ms: i64,
    ) -> Result<Vec<RefusedPickup>, CoreError> {
        policy::require_whole_tenant(actor, Action::Administer)?;
        let mut out = Vec::new();
        for e in self.recent(actor, "pickup_refused", since_ms, 50).await? {
            if let Ok(kinfold_audit::Event::PickupRefused { child_id, reason }) =
                serde_json::from_str(&e.event)
            {
                if let Some(id) = kinfold_store::ChildId::parse(&child_id) {
                    out.push((e.at_ms, id, reason));
                }
            }
        }
        out.truncate(50);
        let mut refused = Vec::with_capacity(out.len());
        for (at_ms, child_id, reason) in out {
            let child = self
                .store()
                .child(&actor.scope, child_id, kinfold_store::Visibility::All)
                .await?;
            refused.push(RefusedPickup {
                at_ms,
                child_id,
                child_name: child
                    .map(|c| format!("{} {}", c.given_name, c.family_name))
                    .unwrap_or_default(),
                reason,
            });
        }
        Ok(refused)
    }
}

/// A message the volume check held, still waiting for an administrator.
#[derive(Debug, Clone)]
pub struct HeldMessage {
    pub at_ms: i64,
    pub message_id: String,
    /// Deliveries still held.
    pub held: usize,
}

impl AuditLog<'_> {
    /// The tenant's admin entries of `kind` since `since_ms`, newest first, at most `max`,
    /// read a page at a time (the admin category is busy: every check-in is in it).
    async fn recent(
        &self,
        actor: &Actor,
        kind: &str,
        since_ms: i64,
        max: usize,
    ) -> Result<Vec<Entry>, CoreError> {
        let mut q = AuditQuery {
            category: Some(Category::Admin.as_str().to_owned()),
            since_ms: Some(since_ms),
            limit: 200,
            ..AuditQuery::default()
        };
        let mut out = Vec::new();
        loop {
            let page = self
                .settled_store()
                .await
                .audit_page(&actor.scope.chain(), &q)
                .await?;
            out.extend(page.iter().filter(|e| e.kind == kind).cloned());
            match page.last() {
                Some(oldest) if out.len() < max && page.len() == q.limit as usize => {
                    q.before_seq = Some(oldest.seq);
                }
                _ => break,
            }
        }
        out.truncate(max);
        Ok(out)
    }

    /// Messages held in the last 7 days that still have held deliveries, for administrators
    /// who resolve them.
    pub async fn held_messages(&self, actor: &Actor) -> Result<Vec<HeldMessage>, CoreError> {
        policy::require_whole_tenant(actor, Action::ResolveHeldMessages)?;
        let since = self.now_ms() - 7 * 24 * 3_600_000;
        let mut out = Vec::new();
        for e in self.recent(actor, "sending_held", since, 20).await? {
            let Ok(kinfold_audit::Event::SendingHeld { message_id, .. }) =
                serde_json::from_str(&e.event)
            else {
                continue;
            };
            let Ok(id) = uuid::Uuid::parse_str(&message_id) else {
                continue;
            };
            if let Some(status) = self.store().message_status(&actor.scope, id).await? {
                let held = status
                    .deliveries
                    .iter()
                    .filter(|d| d.state == kinfold_store::outbox::DeliveryState::Held)
                    .count();
                if held > 0 {
                    out.push(HeldMessage {
                        at_ms: e.at_ms,
                        message_id,
                        held,
                    });
                }
            }
        }
        Ok(out)
    }
}
