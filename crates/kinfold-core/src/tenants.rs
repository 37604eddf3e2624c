//! Tenants (the centers) and their users.

use kinfold_audit::{Draft, Event};
use kinfold_crypto::password::{self, Password};
use kinfold_crypto::token::PlainToken;
use kinfold_store::{NewTenant, NewUser, Role, Tenant, TenantScope, User};

use crate::{validate, Core, CoreError};

/// A user to create. Staff get an enrollment link; a password is optional for them (they set
/// it through the link) and required for parents.
#[derive(Debug)]
pub struct UserDraft {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: Option<Password>,
}

impl Core {
    /// Creates a tenant with its first data key. Operator command.
    pub async fn create_tenant(
        &self,
        slug: &str,
        name: &str,
    ) -> Result<(Tenant, TenantScope), CoreError> {
        let slug = validate::slug("slug", slug)?;
        let name = validate::name("name", name)?;
        let now = self.now_ms();
        let event = Draft::new("", now, Event::TenantCreated { slug: slug.clone() });
        let (tenant, scope) = self
            .store()
            .create_tenant(
                NewTenant {
                    slug,
                    name,
                    created_ms: now,
                },
                vec![event],
            )
            .await?;
        self.keys().ensure_data_key(&scope).await?;
        Ok((tenant, scope))
    }

    pub async fn tenant(&self, slug: &str) -> Result<(Tenant, TenantScope), CoreError> {
        self.store()
            .tenant_by_slug(slug)
            .await?
            .ok_or(CoreError::NotFound("tenant"))
    }

    /// Creates a user. `by` is who did it ("operator", or an administrator's user ID). Returns
    /// the user and, for staff, a single-use enrollment token.
    pub async fn create_user(
        &self,
        scope: &TenantScope,
        draft: UserDraft,
        by: &str,
    ) -> Result<(User, Option<PlainToken>), CoreError> {
        let email = validate::email("email", &draft.email)?;
        let name = validate::name("name", &draft.name)?;
        let password_hash = match draft.password {
            Some(p) => {
                password::check_new(&p, &[&email, &name]).map_err(CoreError::WeakPassword)?;
                Some(self.hash_password(p).await?)
            }
            None if draft.role.is_staff() => None,
            None => {
                return Err(CoreError::invalid(
                    "password",
                    "a parent account needs a password",
                ))
            }
        };
        let now = self.now_ms();
        let event = Draft::new(
            scope.chain(),
            now,
            Event::UserCreated {
                user_id: String::new(),
                role: draft.role.as_str().into(),
                by: by.into(),
            },
        );
        let user = self
            .store()
            .create_user(
                scope,
                NewUser {
                    email,
                    name,
                    role: draft.role,
                    password_hash,
                    created_ms: now,
                },
                vec![event],
            )
            .await?;
        let link = if user.role.is_staff() {
            Some(self.issue_enrollment(scope, user.id, by).await?)
        } else {
            None
        };
        Ok((user, link))
    }
}
