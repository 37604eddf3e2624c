//! Classrooms and the staff assigned to them.

use kinfold_audit::{Draft, Event};
use kinfold_store::{Classroom, ClassroomId, Role, User, UserId};

use crate::children::ChildView;
use crate::policy::{self, Action, Scope};
use crate::services::Classrooms;
use crate::{validate, Actor, Core, CoreError};

impl Core {
    pub(crate) fn admin_draft(&self, actor: &Actor, event: Event) -> Draft {
        let mut d = Draft::new(actor.scope.chain(), self.now_ms(), event);
        d.actor = Some(actor.user.id.to_string());
        d
    }

    pub(crate) fn require_admin_scope(actor: &Actor) -> Result<(), CoreError> {
        match policy::scope(actor.role, Action::Administer) {
            Scope::WholeTenant => Ok(()),
            _ => Err(CoreError::Forbidden("administrators only")),
        }
    }
}

impl Classrooms<'_> {
    /// Classrooms the actor works with: all of them for administrators and front desk, the
    /// assigned ones for teachers. Parents have none.
    pub async fn list_classrooms(&self, actor: &Actor) -> Result<Vec<Classroom>, CoreError> {
        let all = self.store().classrooms(&actor.scope).await?;
        match policy::require(actor, Action::CheckInOut)? {
            Scope::OwnClassrooms => {
                let mine = self
                    .store()
                    .assigned_classrooms(&actor.scope, actor.user.id)
                    .await?;
                Ok(all.into_iter().filter(|c| mine.contains(&c.id)).collect())
            }
            _ => Ok(all),
        }
    }

    pub async fn create_classroom(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<Classroom, CoreError> {
        Core::require_admin_scope(actor)?;
        let name = validate::name("name", name)?;
        let d = self.admin_draft(
            actor,
            Event::ClassroomCreated {
                classroom_id: String::new(),
                name: name.clone(),
            },
        );
        Ok(self
            .store()
            .create_classroom(actor.scope.tx().audit(d), &name, self.now_ms())
            .await?)
    }

    pub async fn assign_teacher(
        &self,
        actor: &Actor,
        user: UserId,
        classroom: ClassroomId,
    ) -> Result<(), CoreError> {
        Core::require_admin_scope(actor)?;
        let u = self
            .store()
            .user(&actor.scope, user)
            .await?
            .ok_or(CoreError::NotFound("user"))?;
        if u.role != Role::Teacher {
            return Err(CoreError::invalid(
                "user_id",
                "only teachers are assigned to classrooms",
            ));
        }
        if !self
            .store()
            .classrooms(&actor.scope)
            .await?
            .iter()
            .any(|c| c.id == classroom)
        {
            return Err(CoreError::NotFound("classroom"));
        }
        let d = self.admin_draft(
            actor,
            Event::StaffAssigned {
                user_id: user.to_string(),
                classroom_id: classroom.to_string(),
            },
        );
        self.store()
            .assign_staff(actor.scope.tx().audit(d), user, classroom)
            .await?;
        self.records_changed(&actor.scope);
        Ok(())
    }

    /// Staff of the tenant with their classrooms (administrators only).
    pub async fn list_staff(
        &self,
        actor: &Actor,
    ) -> Result<Vec<(User, Vec<ClassroomId>)>, CoreError> {
        Core::require_admin_scope(actor)?;
        let mut out = Vec::new();
        for u in self.store().users(&actor.scope).await? {
            if u.role.is_staff() {
                let rooms = self.store().assigned_classrooms(&actor.scope, u.id).await?;
                out.push((u, rooms));
            }
        }
        Ok(out)
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
