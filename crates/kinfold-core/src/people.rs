//! The people of a center, for its administrators (`ManageUsers`): inviting staff, sending an
//! invitation again, and changing a staff member's role.
//!
//! An invitation is the enrollment link (A2): the new staff member sets a password and an
//! authenticator on it, and it is emailed through the outbox like every account email. A new
//! invitation voids the one before it. A role change ends the person's sessions, since what a
//! session allowed no longer holds, and a center cannot lose its last administrator, however
//! many administrators act at once (the store checks and locks in one transaction).

use kinfold_audit::Event;
use kinfold_crypto::token::PlainToken;
use kinfold_store::{Role, User, UserId};

use crate::policy::{self, Action};
use crate::services::Tenants;
use crate::tenants::UserDraft;
use crate::{Actor, CoreError};

/// The roles an administrator can give a staff member, in the order the people page lists
/// them. A parent is invited as a parent (from the people page, or from a child's page as that
/// child's guardian) and stays one.
pub const STAFF_ROLES: [Role; 3] = [Role::Administrator, Role::Teacher, Role::FrontDesk];

fn staff_role(field: &'static str, raw: &str) -> Result<Role, CoreError> {
    Role::parse(raw)
        .filter(|r| r.is_staff())
        .ok_or_else(|| CoreError::invalid(field, "administrator, teacher or front_desk"))
}

impl Tenants<'_> {
    /// Invites a staff member with a role, or a parent: creates the account (no password, no
    /// factor yet) and emails the enrollment link. Returns the user and the link, for an
    /// administrator to hand over when the center cannot send email yet. A parent sees no
    /// child until linked to one as a guardian.
    pub async fn invite_person(
        &self,
        actor: &Actor,
        email: &str,
        name: &str,
        role: &str,
    ) -> Result<(User, String), CoreError> {
        policy::require_whole_tenant(actor, Action::ManageUsers)?;
        let role = Role::parse(role).ok_or_else(|| {
            CoreError::invalid("role", "administrator, teacher, front_desk or parent")
        })?;
        self.invite(actor, email, name, role).await
    }

    /// Invites a parent by email (a guardian's account): they set a password on the link (an
    /// authenticator is theirs to add), and then see the children they are linked to.
    pub async fn invite_parent(
        &self,
        actor: &Actor,
        email: &str,
        name: &str,
    ) -> Result<(User, String), CoreError> {
        policy::require_whole_tenant(actor, Action::ManageUsers)?;
        self.invite(actor, email, name, Role::Parent).await
    }

    async fn invite(
        &self,
        actor: &Actor,
        email: &str,
        name: &str,
        role: Role,
    ) -> Result<(User, String), CoreError> {
        let draft = UserDraft {
            email: email.to_owned(),
            name: name.to_owned(),
            role,
            password: None,
        };
        let (user, token) = self
            .create_user(&actor.scope, draft, &actor.user.id.to_string())
            .await?;
        let token = token.ok_or_else(|| CoreError::Internal("no link for an invitation".into()))?;
        Ok((user, self.auth().enrollment_link(&token)))
    }

    /// Sends someone (staff or parent) who has not enrolled yet a new invitation; the old link
    /// stops working. Returns the new link.
    pub async fn resend_invitation(
        &self,
        actor: &Actor,
        user: UserId,
    ) -> Result<String, CoreError> {
        policy::require_whole_tenant(actor, Action::ManageUsers)?;
        let target = self
            .store()
            .user(&actor.scope, user)
            .await?
            .ok_or(CoreError::NotFound("user"))?;
        if target.enrolled() || !target.is_active() {
            return Err(CoreError::WrongState(
                "only people who have not enrolled yet get an invitation; once enrolled, a forgotten password is reset from the sign-in page, and a lost second factor by an administrator's reset",
            ));
        }
        let token: PlainToken = self
            .auth()
            .issue_enrollment(&actor.scope, target.id, &actor.user.id.to_string())
            .await?;
        let link = self.auth().enrollment_link(&token);
        self.email_enrollment(&actor.scope, &target, &link, false)
            .await;
        Ok(link)
    }

    /// Changes a staff member's role; their sessions end. Returns the user as changed. With
    /// `from` (the role the administrator saw), a role changed since is refused
    /// (`WrongState`, 409); either way the change is written only over the role read here, the
    /// one the chain names.
    pub async fn set_role(
        &self,
        actor: &Actor,
        user: UserId,
        role: &str,
        from: Option<&str>,
    ) -> Result<User, CoreError> {
        policy::require_whole_tenant(actor, Action::ManageUsers)?;
        let role = staff_role("role", role)?;
        let target = self
            .store()
            .user(&actor.scope, user)
            .await?
            .ok_or(CoreError::NotFound("user"))?;
        if !target.role.is_staff() {
            return Err(CoreError::invalid(
                "role",
                "a parent's account has no staff role",
            ));
        }
        let from = match from {
            None => None,
            // A form older than the page, which always sends it.
            Some("") => return Err(CoreError::stale()),
            Some(f) => Some(staff_role("from", f)?),
        };
        if from.is_some_and(|f| f != target.role) {
            return Err(CoreError::stale());
        }
        if target.role == role {
            return Ok(target);
        }
        let d = self.admin_draft(
            actor,
            Event::RoleChanged {
                user_id: user.to_string(),
                from: target.role.as_str().to_owned(),
                to: role.as_str().to_owned(),
            },
        );
        self.store()
            .set_role(
                actor.scope.tx().audit(d),
                user,
                target.role,
                role,
                self.now_ms(),
            )
            .await?;
        self.inner.sessions.forget_user(user);
        Ok(User { role, ..target })
    }

    /// Deactivates an account: it cannot sign in, reset its password or enroll, its sessions
    /// end, and its history stays. Not one's own, and not the last administrator.
    pub async fn deactivate(&self, actor: &Actor, user: UserId) -> Result<User, CoreError> {
        policy::require_whole_tenant(actor, Action::ManageUsers)?;
        if user == actor.user.id {
            return Err(CoreError::WrongState(
                "you cannot deactivate your own account; another administrator can",
            ));
        }
        let target = self
            .store()
            .user(&actor.scope, user)
            .await?
            .ok_or(CoreError::NotFound("user"))?;
        let d = self.admin_draft(
            actor,
            Event::UserDeactivated {
                user_id: user.to_string(),
            },
        );
        let now = self.now_ms();
        self.store()
            .deactivate(actor.scope.tx().audit(d), user, now)
            .await?;
        self.inner.sessions.forget_user(user);
        Ok(User {
            deactivated_ms: Some(now),
            ..target
        })
    }

    /// Lets a deactivated account sign in again, with its password and second factor as they
    /// were. Its ended sessions stay ended.
    pub async fn reactivate(&self, actor: &Actor, user: UserId) -> Result<User, CoreError> {
        policy::require_whole_tenant(actor, Action::ManageUsers)?;
        let target = self
            .store()
            .user(&actor.scope, user)
            .await?
            .ok_or(CoreError::NotFound("user"))?;
        let d = self.admin_draft(
            actor,
            Event::UserReactivated {
                user_id: user.to_string(),
            },
        );
        self.store()
            .reactivate(actor.scope.tx().audit(d), user)
            .await?;
        Ok(User {
            deactivated_ms: None,
            ..target
        })
    }
}
