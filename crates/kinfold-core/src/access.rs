//! Least privilege for the people who run the platform (A3). Operator commands manage
//! tenants but read no tenant data, except under a break-glass grant: time-boxed, with a
//! reason, bound to the operator it names, written to the tenant's audit chain and listed to
//! its administrators. A read under no grant of one's own is refused and audited.

use std::time::Duration;

use kinfold_audit::{Draft, Event};
use kinfold_store::{AccessGrant, ChildId, TenantScope, Visibility};

use crate::children::ChildView;
use crate::clock::ms;
use crate::services::OperatorAccess;
use crate::{validate, Actor, CoreError};

/// The longest grant an operator can give themselves.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

impl OperatorAccess<'_> {
    pub async fn grant_access(
        &self,
        scope: &TenantScope,
        operator: &str,
        reason: &str,
        ttl: Duration,
    ) -> Result<AccessGrant, CoreError> {
        let operator = validate::name("operator", operator)?;
        let reason = validate::text("reason", reason, 500)?;
        if reason.chars().count() < 10 {
            return Err(CoreError::invalid(
                "reason",
                "say why, in at least 10 characters",
            ));
        }
        if ttl.is_zero() || ttl > MAX_TTL {
            return Err(CoreError::invalid("ttl", "must be between 1 s and 24 h"));
        }
        let now = self.now_ms();
        let grant = AccessGrant {
            id: uuid::Uuid::now_v7(),
            operator,
            reason,
            created_ms: now,
            expires_ms: now + ms(ttl),
        };
        let expires_at = crate::auth::rfc3339_ms(grant.expires_ms);
        let mut d = Draft::new(
            scope.chain(),
            now,
            Event::BreakGlassGranted {
                grant_id: grant.id.to_string(),
                operator: grant.operator.clone(),
                reason: grant.reason.clone(),
                expires_at,
            },
        );
        d.actor = Some(format!("operator:{}", grant.operator));
        self.store()
            .create_grant(scope.tx().audit(d), grant.clone())
            .await?;
        tracing::warn!(tenant = %scope.tenant_id(), operator = %grant.operator, "break-glass access granted");
        Ok(grant)
    }

    /// The active grant issued to `operator` on this tenant, if any. A grant is bound to the
    /// operator named when it was issued: another operator's grant is not theirs to use.
    pub async fn active_grant(
        &self,
        scope: &TenantScope,
        operator: &str,
    ) -> Result<Option<AccessGrant>, CoreError> {
        let now = self.now_ms();
        Ok(self
            .store()
            .grants(scope)
            .await?
            .into_iter()
            .find(|g| g.operator == operator && g.created_ms <= now && now < g.expires_ms))
    }

    /// Administrators see every grant ever given on their tenant.
    pub async fn list_grants(&self, actor: &Actor) -> Result<Vec<AccessGrant>, CoreError> {
        crate::policy::require_whole_tenant(actor, crate::policy::Action::ReadAccessGrants)?;
        Ok(self.store().grants(&actor.scope).await?)
    }

    /// An operator reads one child under an active grant; the read is audited with the grant.
    pub async fn operator_child_view(
        &self,
        scope: &TenantScope,
        operator: &str,
        child: ChildId,
    ) -> Result<ChildView, CoreError> {
        // A name that is no valid name (an invisible character in a look-alike) is refused
        // like one without a grant, and audited the same way, its characters escaped.
        let (operator, invalid) = match validate::name("operator", operator) {
            Ok(name) => (name, None),
            Err(e) => (
                operator
                    .chars()
                    .take(100)
                    .flat_map(char::escape_debug)
                    .collect(),
                Some(e),
            ),
        };
        let grant = match invalid {
            None => self.active_grant(scope, &operator).await?,
            Some(_) => None,
        };
        let Some(grant) = grant else {
            // Refused reads are audited too: an operator trying another's grant, or none, is
            // what the tenant's administrators should see.
            let mut d = Draft::new(
                scope.chain(),
                self.now_ms(),
                Event::OperatorReadRefused {
                    operator: operator.clone(),
                    child_id: child.to_string(),
                },
            );
            d.actor = Some(format!("operator:{operator}"));
            self.store().append_audit(scope.tx().audit(d)).await?;
            tracing::warn!(tenant = %scope.tenant_id(), operator = %operator, "operator read refused: no active grant issued to this operator");
            if let Some(e) = invalid {
                return Err(e);
            }
            return Err(CoreError::Forbidden(
                "no active break-glass grant for this operator on this tenant; run `kinfold access grant` first",
            ));
        };
        let record = self
            .store()
            .child_with_pickups(scope, child, Visibility::All)
            .await?
            .ok_or(CoreError::NotFound("child"))?;
        let (view, opened) = self
            .open_view(scope, std::sync::Arc::new(record), true, true)
            .await?;
        let mut d = Draft::new(
            scope.chain(),
            self.now_ms(),
            Event::OperatorRead {
                grant_id: grant.id.to_string(),
                operator: operator.clone(),
                child_id: view.child().id.to_string(),
                fields: opened.iter().map(|f| f.to_string()).collect(),
            },
        );
        d.actor = Some(format!("operator:{operator}"));
        self.store().append_audit(scope.tx().audit(d)).await?;
        Ok(view)
    }
}
