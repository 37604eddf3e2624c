use kinfold_store::{Role, Session, Tenant, TenantScope, User};

/// Who is making a request: resolved from the session cookie once per request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub tenant: Tenant,
    pub user: User,
    pub role: Role,
    pub session: Session,
    pub scope: TenantScope,
}

impl Actor {
    pub fn require_admin(&self) -> Result<(), crate::CoreError> {
        if self.role == Role::Administrator {
            Ok(())
        } else {
            Err(crate::CoreError::Forbidden("administrators only"))
        }
    }
}
