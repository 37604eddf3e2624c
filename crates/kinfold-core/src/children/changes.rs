//! Creating and editing a child (A1: administrators; L2: audited as administrative actions),
//! with the sealed fields (D3) checked and sealed before they are stored.

use kinfold_audit::{Draft, Event};
use kinfold_store::{Child, ChildFields, ChildId, ClassroomId, SealedChildFields, TenantScope};
use serde::Serialize;

use crate::children::{slot, status_of, Allergy, ChildInput, ChildPatch, EmergencyContact};
use crate::policy::{self, Action};
use crate::services::Children;
use crate::{validate, Actor, Core, CoreError};

impl Core {
    fn today(&self) -> time::Date {
        time::OffsetDateTime::from_unix_timestamp(self.now_ms() / 1000)
            .map(|t| t.date())
            .unwrap_or(time::Date::MIN)
    }

    async fn classroom_in_tenant(
        &self,
        scope: &TenantScope,
        raw: Option<&str>,
    ) -> Result<Option<ClassroomId>, CoreError> {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let id = ClassroomId::parse(raw)
            .ok_or_else(|| CoreError::invalid("classroom_id", "no such classroom"))?;
        let known = self
            .store()
            .classrooms(scope)
            .await?
            .iter()
            .any(|c| c.id == id && !c.archived);
        if known {
            Ok(Some(id))
        } else {
            Err(CoreError::invalid("classroom_id", "no such classroom"))
        }
    }

    fn check_allergies(list: &[Allergy]) -> Result<(), CoreError> {
        if list.len() > 50 {
            return Err(CoreError::invalid("allergies", "at most 50"));
        }
        for a in list {
            validate::name("allergies", &a.name)?;
        }
        Ok(())
    }

    fn check_contacts(list: &[EmergencyContact]) -> Result<Vec<EmergencyContact>, CoreError> {
        if list.len() > 10 {
            return Err(CoreError::invalid("emergency_contacts", "at most 10"));
        }
        list.iter()
            .map(|c| {
                Ok(EmergencyContact {
                    name: validate::name("emergency_contacts", &c.name)?,
                    relation: validate::name("emergency_contacts", &c.relation)?,
                    phone: validate::phone("emergency_contacts", &c.phone)?,
                })
            })
            .collect()
    }

    async fn seal_json<T: Serialize>(
        &self,
        scope: &TenantScope,
        column: &str,
        row: &str,
        value: &T,
    ) -> Result<Vec<u8>, CoreError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| CoreError::Internal(format!("encoding {column}: {e}")))?;
        self.keys().seal(scope, slot(column, row), &bytes).await
    }
}

impl Children<'_> {
    /// Administrator: a new child, with its sealed fields, audited in the same transaction.
    pub async fn create_child(&self, actor: &Actor, input: ChildInput) -> Result<Child, CoreError> {
        if policy::scope(actor.role, Action::ManageChild) != policy::Scope::WholeTenant {
            return Err(CoreError::Forbidden("only administrators create children"));
        }
        let fields = ChildFields {
            given_name: validate::name("given_name", &input.given_name)?,
            family_name: validate::name("family_name", &input.family_name)?,
            preferred_name: input
                .preferred_name
                .as_deref()
                .filter(|p| !p.trim().is_empty())
                .map(|p| validate::name("preferred_name", p))
                .transpose()?,
            date_of_birth: validate::date_of_birth(
                "date_of_birth",
                &input.date_of_birth,
                self.today(),
            )?,
            classroom_id: self
                .classroom_in_tenant(&actor.scope, input.classroom_id.as_deref())
                .await?,
            status: status_of(input.enrollment_status.as_deref())?,
            enrolled_on: input
                .enrolled_on
                .as_deref()
                .map(|d| validate::record_date("enrolled_on", d))
                .transpose()?,
            left_on: input
                .left_on
                .as_deref()
                .map(|d| validate::record_date("left_on", d))
                .transpose()?,
        };
        Core::check_allergies(&input.allergies)?;
        let notes = validate::text("medical_notes", &input.medical_notes, 4000)?;
        let contacts = Core::check_contacts(&input.emergency_contacts)?;
        let id = ChildId::new();
        let row = id.to_string();
        let sealed = SealedChildFields {
            allergies: Some(
                self.seal_json(&actor.scope, "allergies", &row, &input.allergies)
                    .await?,
            ),
            medical_notes: Some(
                self.seal_json(&actor.scope, "medical_notes", &row, &notes)
                    .await?,
            ),
            emergency_contacts: Some(
                self.seal_json(&actor.scope, "emergency_contacts", &row, &contacts)
                    .await?,
            ),
        };
        let mut d = Draft::new(
            actor.scope.chain(),
            self.now_ms(),
            Event::ChildCreated {
                child_id: row,
                by: actor.user.id.to_string(),
            },
        );
        d.actor = Some(actor.user.id.to_string());
        let child = self
            .store()
            .create_child(actor.scope.tx().audit(d), id, fields, sealed, self.now_ms())
            .await?;
        self.records_changed(&actor.scope);
        Ok(child)
    }

    /// Changes a child. Administrators change anything; parents only the emergency contacts
    /// of their own children. The admin event names the changed fields, never the values.
    pub async fn update_child(
        &self,
        actor: &Actor,
        id: ChildId,
        patch: ChildPatch,
    ) -> Result<Child, CoreError> {
        let manage = policy::reaches_visible_child(actor.role, Action::ManageChild);
        let contacts_only =
            !manage && policy::reaches_visible_child(actor.role, Action::EditChildContacts);
        let child = self
            .store()
            .child(
                &actor.scope,
                id,
                policy::visibility(actor, Action::ReadChildBasic),
            )
            .await?
            .ok_or(CoreError::NotFound("child"))?;
        if !manage && !contacts_only {
            return Err(CoreError::Forbidden("your role cannot change children"));
        }
        // Made against an earlier version: refused, not merged over someone else's edit.
        CoreError::unless_current(patch.version, child.version)?;
        let touches_other = patch.given_name.is_some()
            || patch.family_name.is_some()
            || patch.preferred_name.is_some()
            || patch.date_of_birth.is_some()
            || patch.classroom_id.is_some()
            || patch.enrollment_status.is_some()
            || patch.enrolled_on.is_some()
            || patch.left_on.is_some()
            || patch.allergies.is_some()
            || patch.medical_notes.is_some();
        if contacts_only && touches_other {
            return Err(CoreError::Forbidden(
                "parents may change emergency contacts only",
            ));
        }
        let row = id.to_string();
        let mut changed: Vec<String> = Vec::new();
        let mut fields = ChildFields {
            given_name: child.given_name.clone(),
            family_name: child.family_name.clone(),
            preferred_name: child.preferred_name.clone(),
            date_of_birth: child.date_of_birth.clone(),
            classroom_id: child.classroom_id,
            status: child.status.clone(),
            enrolled_on: child.enrolled_on.clone(),
            left_on: child.left_on.clone(),
        };
        if let Some(v) = &patch.given_name {
            fields.given_name = validate::name("given_name", v)?;
            changed.push("given_name".into());
        }
        if let Some(v) = &patch.family_name {
            fields.family_name = validate::name("family_name", v)?;
            changed.push("family_name".into());
        }
        if let Some(v) = &patch.preferred_name {
            fields.preferred_name = if v.trim().is_empty() {
                None
            } else {
                Some(validate::name("preferred_name", v)?)
            };
            changed.push("preferred_name".into());
        }
        if let Some(v) = &patch.date_of_birth {
            fields.date_of_birth = validate::date_of_birth("date_of_birth", v, self.today())?;
            changed.push("date_of_birth".into());
        }
        if let Some(v) = &patch.classroom_id {
            fields.classroom_id = self.classroom_in_tenant(&actor.scope, Some(v)).await?;
            changed.push("classroom_id".into());
        }
        if let Some(v) = &patch.enrollment_status {
            fields.status = status_of(Some(v))?;
            changed.push("enrollment_status".into());
        }
        // An empty date clears it (a withdrawal recorded by mistake is taken back).
        let date = |name: &'static str, v: &str| -> Result<Option<String>, CoreError> {
            if v.trim().is_empty() {
                Ok(None)
            } else {
                validate::record_date(name, v).map(Some)
            }
        };
        if let Some(v) = &patch.enrolled_on {
            fields.enrolled_on = date("enrolled_on", v)?;
            changed.push("enrolled_on".into());
        }
        if let Some(v) = &patch.left_on {
            fields.left_on = date("left_on", v)?;
            changed.push("left_on".into());
        }
        let mut sealed = SealedChildFields::default();
        if let Some(list) = &patch.allergies {
            Core::check_allergies(list)?;
            sealed.allergies = Some(
                self.seal_json(&actor.scope, "allergies", &row, list)
                    .await?,
            );
            changed.push("allergies".into());
        }
        if let Some(notes) = &patch.medical_notes {
            let notes = validate::text("medical_notes", notes, 4000)?;
            sealed.medical_notes = Some(
                self.seal_json(&actor.scope, "medical_notes", &row, &notes)
                    .await?,
            );
            changed.push("medical_notes".into());
        }
        if let Some(list) = &patch.emergency_contacts {
            let list = Core::check_contacts(list)?;
            sealed.emergency_contacts = Some(
                self.seal_json(&actor.scope, "emergency_contacts", &row, &list)
                    .await?,
            );
            changed.push("emergency_contacts".into());
        }
        let mut d = Draft::new(
            actor.scope.chain(),
            self.now_ms(),
            Event::ChildUpdated {
                child_id: row,
                by: actor.user.id.to_string(),
                changed,
            },
        );
        d.actor = Some(actor.user.id.to_string());
        let child = self
            .store()
            // Written only over the version read here: an edit that lands between this read
            // and the write is not undone by the fields merged from the read.
            .update_child(
                actor.scope.tx().audit(d),
                id,
                fields,
                sealed,
                self.now_ms(),
                Some(child.version),
            )
            .await?;
        self.records_changed(&actor.scope);
        Ok(child)
    }
}
