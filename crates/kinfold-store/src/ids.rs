//! The tenant scope, which only the store mints, and reading IDs back from rows.

use crate::StoreError;
pub use kinfold_model::{ChildId, ClassroomId, GuardianId, PickupId, SessionId, TenantId, UserId};

/// An ID read back from a row: a value that does not parse is a corrupt row.
pub(crate) trait FromDb: Sized {
    fn from_db(s: &str) -> Result<Self, StoreError>;
}

macro_rules! from_db {
    ($($name:ident),*) => {$(
        impl FromDb for $name {
            fn from_db(s: &str) -> Result<Self, StoreError> {
                Self::parse(s).ok_or(StoreError::Corrupt(stringify!($name)))
            }
        }
    )*};
}

from_db!(
    TenantId,
    UserId,
    SessionId,
    ClassroomId,
    ChildId,
    GuardianId,
    PickupId
);

/// Proof that a request works inside one existing tenant. Only the store mints it, from a
/// tenant it has just read, so every tenant-data method is scoped by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    tenant_id: TenantId,
}

impl TenantScope {
    pub(crate) fn new(tenant_id: TenantId) -> Self {
        Self { tenant_id }
    }

    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }
}
