//! Classrooms and the staff assigned to them.

use kinfold_audit::{Draft, Event};
use kinfold_store::{AgeGroup, Classroom, ClassroomFields, ClassroomId, Role, User, UserId};

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
    /// assigned ones for teachers. Parents have none. Archived rooms are left out.
    pub async fn list_classrooms(&self, actor: &Actor) -> Result<Vec<Classroom>, CoreError> {
        let all = self.store().classrooms(&actor.scope).await?;
        let open = all.into_iter().filter(|c| !c.archived);
        match policy::require(actor, Action::CheckInOut)? {
            Scope::OwnClassrooms => {
                let mine = self
                    .store()
                    .assigned_classrooms(&actor.scope, actor.user.id)
                    .await?;
                Ok(open.filter(|c| mine.contains(&c.id)).collect())
            }
            _ => Ok(open.collect()),
        }
    }

    /// Every classroom, archived ones included, for administrators.
    pub async fn all_classrooms(&self, actor: &Actor) -> Result<Vec<Classroom>, CoreError> {
        Core::require_admin_scope(actor)?;
        Ok(self.store().classrooms(&actor.scope).await?)
    }

    /// One classroom, archived or not, for administrators; another tenant's ID is not found.
    pub async fn classroom(&self, actor: &Actor, id: ClassroomId) -> Result<Classroom, CoreError> {
        self.all_classrooms(actor)
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(CoreError::NotFound("classroom"))
    }

    pub async fn create_classroom(
        &self,
        actor: &Actor,
        fields: &ClassroomFields,
    ) -> Result<Classroom, CoreError> {
        Core::require_admin_scope(actor)?;
        let fields = checked(fields)?;
        let d = self.admin_draft(
            actor,
            Event::ClassroomCreated {
                classroom_id: String::new(),
                name: fields.name.clone(),
            },
        );
        let room = self
            .store()
            .create_classroom(actor.scope.tx().audit(d), &fields, self.now_ms())
            .await?;
        self.records_changed(&actor.scope);
        Ok(room)
    }

    /// Renames a room, or sets its age group or capacity. The audit entry names what changed.
    /// With `version` (the room's, as the caller read it), a room changed since is refused
    /// (`WrongState`, 409) rather than saved over a change the caller never saw.
    pub async fn update_classroom(
        &self,
        actor: &Actor,
        id: ClassroomId,
        fields: &ClassroomFields,
        version: Option<i64>,
    ) -> Result<Classroom, CoreError> {
        let before = self.classroom(actor, id).await?;
        let fields = checked(fields)?;
        CoreError::unless_current(version, before.version)?;
        let mut changed = Vec::new();
        if before.name != fields.name {
            changed.push("name".to_owned());
        }
        if before.age_group != fields.age_group {
            changed.push("age_group".to_owned());
        }
        if before.capacity != fields.capacity {
            changed.push("capacity".to_owned());
        }
        if changed.is_empty() {
            return Ok(before);
        }
        let d = self.admin_draft(
            actor,
            Event::ClassroomUpdated {
                classroom_id: id.to_string(),
                name: fields.name.clone(),
                changed,
            },
        );
        let room = self
            .store()
            // Over the version read above, so the entry names what this write changed.
            .update_classroom(actor.scope.tx().audit(d), id, &fields, Some(before.version))
            .await?;
        self.records_changed(&actor.scope);
        Ok(room)
    }

    /// Archives a room with no enrolled or waitlisted child in it; its staff are unassigned.
    pub async fn archive_classroom(&self, actor: &Actor, id: ClassroomId) -> Result<(), CoreError> {
        let room = self.classroom(actor, id).await?;
        let d = self.admin_draft(
            actor,
            Event::ClassroomArchived {
                classroom_id: id.to_string(),
                name: room.name,
            },
        );
        self.store()
            .archive_classroom(actor.scope.tx().audit(d), id, self.now_ms())
            .await?;
        self.records_changed(&actor.scope);
        Ok(())
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
        if self.classroom(actor, classroom).await?.archived {
            return Err(CoreError::WrongState("the classroom is archived"));
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

    /// Ends a teacher's assignment to a room. Their sessions and history stay.
    pub async fn unassign_teacher(
        &self,
        actor: &Actor,
        user: UserId,
        classroom: ClassroomId,
    ) -> Result<(), CoreError> {
        Core::require_admin_scope(actor)?;
        let d = self.admin_draft(
            actor,
            Event::StaffUnassigned {
                user_id: user.to_string(),
                classroom_id: classroom.to_string(),
            },
        );
        self.store()
            .unassign_staff(actor.scope.tx().audit(d), user, classroom)
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
        let assignments = self.store().staff_assignments(&actor.scope).await?;
        let mut out = Vec::new();
        for u in self.store().users(&actor.scope).await? {
            if u.role.is_staff() && u.is_active() {
                let rooms = assignments
                    .iter()
                    .filter(|(user, _)| *user == u.id)
                    .map(|(_, room)| *room)
                    .collect();
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

/// The most children a room may be licensed for.
pub const MAX_CAPACITY: u32 = 200;

fn capacity_error() -> CoreError {
    CoreError::invalid("capacity", format!("must be 1 to {MAX_CAPACITY} children"))
}

/// A room's settings as they are stored: the name checked like every name, the capacity
/// within 1 to [`MAX_CAPACITY`].
fn checked(f: &ClassroomFields) -> Result<ClassroomFields, CoreError> {
    let name = validate::name("name", &f.name)?;
    if let Some(c) = f.capacity {
        if c == 0 || c > MAX_CAPACITY {
            return Err(capacity_error());
        }
    }
    Ok(ClassroomFields {
        name,
        age_group: f.age_group,
        capacity: f.capacity,
    })
}

/// An age group as a form sends it: empty is none; anything else must be one of the four.
pub fn age_group_field(raw: &str) -> Result<Option<AgeGroup>, CoreError> {
    match raw.trim() {
        "" => Ok(None),
        g => AgeGroup::parse(g).map(Some).ok_or_else(|| {
            CoreError::invalid(
                "age_group",
                "must be infant, toddler, preschool or school_age",
            )
        }),
    }
}

/// A capacity as a form sends it: empty is none; anything else a whole number of children.
pub fn capacity_field(raw: &str) -> Result<Option<u32>, CoreError> {
    crate::validate::whole_number("capacity", raw).map_err(|_| capacity_error())
}
