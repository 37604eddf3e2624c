//! Children: reading through the policy table (A1), opening sealed fields (D3), and the
//! data-access audit events. Creating and editing are in `child_changes.rs`.

pub mod cache;
pub mod changes;
pub mod guardians;
pub use guardians::PickupFields;

use kinfold_store::{Child, ChildId, ChildQuery, ClassroomId, ClientInfo, Pickup, TenantScope};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::keys::Slot;
use crate::policy::{self, Action};
use crate::services::Children;
use crate::{Actor, Core, CoreError};

pub const PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Mild,
    Moderate,
    Severe,
    LifeThreatening,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Mild,
        Severity::Moderate,
        Severity::Severe,
        Severity::LifeThreatening,
    ];

    /// The wire name (`life_threatening`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Mild => "mild",
            Severity::Moderate => "moderate",
            Severity::Severe => "severe",
            Severity::LifeThreatening => "life_threatening",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The name a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Mild => "Mild",
            Severity::Moderate => "Moderate",
            Severity::Severe => "Severe",
            Severity::LifeThreatening => "Life-threatening",
        }
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Allergy {
    pub name: String,
    pub severity: Severity,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyContact {
    pub name: String,
    pub relation: String,
    pub phone: String,
}

/// Sealed values never show in `Debug` output.
macro_rules! redacted_debug {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($t), "(..)"))
            }
        }
    )*};
}
redacted_debug!(Allergy, EmergencyContact, ChildView, ChildInput, ChildPatch);

/// A child as one actor may see it: fields outside the actor's scope are `None` and named in
/// `redacted`.
#[derive(Clone)]
pub struct ChildView {
    /// The record as read, shared with the record cache rather than copied. Its sealed bytes
    /// stay sealed and are never shown: the opened values are the fields below.
    record: crate::children::cache::Record,
    /// Opened sealed fields as the JSON they were sealed as (checked to be JSON when opened):
    /// the API serves them as they are; pages parse them ([`ChildView::opened`]).
    allergies: Option<Box<RawValue>>,
    medical_notes: Option<Box<RawValue>>,
    emergency_contacts: Option<Box<RawValue>>,
    pickups_shown: bool,
    pub redacted: &'static [&'static str],
}

/// A view's opened sealed fields, parsed. `None` where the reader may not see them.
#[derive(Default)]
pub struct OpenedFields {
    pub allergies: Option<Vec<Allergy>>,
    pub medical_notes: Option<String>,
    pub emergency_contacts: Option<Vec<EmergencyContact>>,
}
redacted_debug!(OpenedFields);

fn parse_opened<T: for<'de> Deserialize<'de>>(
    column: &str,
    raw: Option<&RawValue>,
) -> Result<Option<T>, CoreError> {
    raw.map(|r| serde_json::from_str(r.get()))
        .transpose()
        .map_err(|_| CoreError::Internal(format!("stored {column} is malformed")))
}

impl ChildView {
    /// Allergies, as JSON, where the reader may see them.
    pub fn allergies_json(&self) -> Option<&RawValue> {
        self.allergies.as_deref()
    }

    /// Medical notes, as a JSON string, where the reader may see them.
    pub fn medical_notes_json(&self) -> Option<&RawValue> {
        self.medical_notes.as_deref()
    }

    /// Emergency contacts, as JSON, where the reader may see them.
    pub fn emergency_contacts_json(&self) -> Option<&RawValue> {
        self.emergency_contacts.as_deref()
    }

    /// The opened fields, parsed (for pages). A stored value of the wrong shape is an error.
    pub fn opened(&self) -> Result<OpenedFields, CoreError> {
        Ok(OpenedFields {
            allergies: parse_opened("allergies", self.allergies_json())?,
            medical_notes: parse_opened("medical_notes", self.medical_notes_json())?,
            emergency_contacts: parse_opened("emergency_contacts", self.emergency_contacts_json())?,
        })
    }

    /// The child's plain fields.
    pub fn child(&self) -> &Child {
        &self.record.0
    }

    /// The authorized pickups (names and relations), where the reader may see them.
    pub fn authorized_pickups(&self) -> Option<&[Pickup]> {
        self.pickups_shown.then_some(self.record.1.as_slice())
    }
}

#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChildInput {
    pub given_name: String,
    pub family_name: String,
    #[serde(default)]
    pub preferred_name: Option<String>,
    pub date_of_birth: String,
    #[serde(default)]
    pub classroom_id: Option<String>,
    #[serde(default)]
    pub enrollment_status: Option<String>,
    #[serde(default)]
    pub enrolled_on: Option<String>,
    #[serde(default)]
    pub left_on: Option<String>,
    #[serde(default)]
    pub allergies: Vec<Allergy>,
    #[serde(default)]
    pub medical_notes: String,
    #[serde(default)]
    pub emergency_contacts: Vec<EmergencyContact>,
}

/// A partial update: only the fields present change.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChildPatch {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub preferred_name: Option<String>,
    pub date_of_birth: Option<String>,
    pub classroom_id: Option<String>,
    pub enrollment_status: Option<String>,
    pub enrolled_on: Option<String>,
    pub left_on: Option<String>,
    pub allergies: Option<Vec<Allergy>>,
    pub medical_notes: Option<String>,
    pub emergency_contacts: Option<Vec<EmergencyContact>>,
    /// The record's `version` as the editor read it. When given, the edit is refused
    /// (`409 conflict`) if the record changed since, rather than undoing that change.
    #[serde(default)]
    pub version: Option<i64>,
}

/// The enrollment of a child who attends: on the rosters, checked in and out.
pub const ENROLLED: &str = "enrolled";

pub const STATUSES: [&str; 4] = [ENROLLED, "waitlisted", "withdrawn", "archived"];

pub(crate) fn slot<'a>(column: &'a str, row: &'a str) -> Slot<'a> {
    Slot {
        table: "children",
        column,
        row,
    }
}

impl Core {
    /// Opens a sealed JSON field and checks that it is JSON, without building its values: the
    /// API serves it as it is.
    async fn open_raw(
        &self,
        scope: &TenantScope,
        column: &str,
        row: &str,
        sealed: Option<&[u8]>,
        empty: &str,
    ) -> Result<Box<RawValue>, CoreError> {
        let malformed = || CoreError::Internal(format!("stored {column} is malformed"));
        let text = match sealed {
            Some(s) => {
                let bytes = self.keys().open(scope, slot(column, row), s).await?;
                String::from_utf8(bytes).map_err(|_| malformed())?
            }
            None => empty.to_owned(),
        };
        RawValue::from_string(text).map_err(|_| malformed())
    }

    /// A child's allergies, opened (an empty list when none were ever sealed). The caller
    /// records the read.
    pub(crate) async fn open_allergies(
        &self,
        scope: &TenantScope,
        c: &Child,
    ) -> Result<Vec<Allergy>, CoreError> {
        let row = c.id.to_string();
        let raw = self
            .open_raw(
                scope,
                "allergies",
                &row,
                c.sealed.allergies.as_deref(),
                "[]",
            )
            .await?;
        Ok(parse_opened("allergies", Some(&raw))?.unwrap_or_default())
    }

    /// Opens the sealed fields a reader may see; the rest are left out and named in
    /// `redacted`. Returns the view and the names of the fields opened.
    pub(crate) async fn open_view(
        &self,
        scope: &TenantScope,
        record: crate::children::cache::Record,
        medical: bool,
        contacts: bool,
    ) -> Result<(ChildView, &'static [&'static str]), CoreError> {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let row: &str = record.0.id.0.hyphenated().encode_lower(&mut text);
        let sealed = &record.0.sealed;
        let mut allergies = None;
        let mut medical_notes = None;
        let mut emergency_contacts = None;
        // The fields opened (and audited), and the fields named as left out.
        let (opened, redacted): (&[&str], &[&str]) = match (medical, contacts) {
            (true, true) => (&["allergies", "medical_notes", "emergency_contacts"], &[]),
            (true, false) => (
                &["allergies", "medical_notes"],
                &["emergency_contacts", "authorized_pickups"],
            ),
            (false, true) => (&["emergency_contacts"], &["allergies", "medical_notes"]),
            (false, false) => (
                &[],
                &[
                    "allergies",
                    "medical_notes",
                    "emergency_contacts",
                    "authorized_pickups",
                ],
            ),
        };
        if medical {
            allergies = Some(
                self.open_raw(scope, "allergies", row, sealed.allergies.as_deref(), "[]")
                    .await?,
            );
            medical_notes = Some(
                self.open_raw(
                    scope,
                    "medical_notes",
                    row,
                    sealed.medical_notes.as_deref(),
                    "\"\"",
                )
                .await?,
            );
        }
        if contacts {
            emergency_contacts = Some(
                self.open_raw(
                    scope,
                    "emergency_contacts",
                    row,
                    sealed.emergency_contacts.as_deref(),
                    "[]",
                )
                .await?,
            );
        }
        let view = ChildView {
            record,
            allergies,
            medical_notes,
            emergency_contacts,
            pickups_shown: contacts,
            redacted,
        };
        Ok((view, opened))
    }
}

impl Children<'_> {
    /// The children the actor may see, basic fields only (no sealed field is opened).
    pub async fn list_children(
        &self,
        actor: &Actor,
        classroom: Option<&str>,
        status: Option<&str>,
        cursor: Option<ChildId>,
        limit: Option<u32>,
    ) -> Result<Vec<Child>, CoreError> {
        policy::require(actor, Action::ReadChildBasic)?;
        let classroom_id = match classroom.filter(|c| !c.is_empty()) {
            Some(c) => Some(
                ClassroomId::parse(c)
                    .ok_or_else(|| CoreError::invalid("classroom_id", "not a classroom ID"))?,
            ),
            None => None,
        };
        if let Some(s) = status.filter(|s| !STATUSES.contains(s)) {
            return Err(CoreError::invalid(
                "status",
                format!("`{s}` is not one of {}", STATUSES.join(", ")),
            ));
        }
        let q = ChildQuery {
            visibility: policy::visibility(actor, Action::ReadChildBasic),
            classroom_id,
            status: status.map(str::to_owned),
            after: cursor,
            limit: limit.unwrap_or(PAGE).clamp(1, MAX_PAGE),
        };
        Ok(self.store().children(&actor.scope, &q).await?)
    }

    /// One child as the actor may see it. Outside the actor's scope: not found (404), so IDs
    /// cannot be probed. Opening sealed fields records a `child_record_read` event.
    pub async fn child_view(
        &self,
        actor: &Actor,
        id: ChildId,
        client: &std::sync::Arc<ClientInfo>,
    ) -> Result<ChildView, CoreError> {
        let visibility = policy::visibility(actor, Action::ReadChildBasic);
        let key = (actor.scope.tenant_id(), id, visibility);
        let record = match self.inner.records.get(&key) {
            Some(hit) => hit,
            None => {
                let record = std::sync::Arc::new(
                    self.store()
                        .child_with_pickups(&actor.scope, id, visibility)
                        .await?
                        .ok_or(CoreError::NotFound("child"))?,
                );
                self.inner.records.put(key, record.clone());
                record
            }
        };
        let medical = policy::reaches_visible_child(actor.role, Action::ReadChildMedical);
        let contacts = policy::reaches_visible_child(actor.role, Action::ReadChildContacts);
        let (view, opened) = self
            .open_view(&actor.scope, record, medical, contacts)
            .await?;
        if !opened.is_empty() {
            let note = crate::audit::ReadNote {
                tenant: actor.scope.tenant_id(),
                actor: actor.user.id,
                client: client.clone(),
                child: view.child().id,
                fields: opened,
                at_ms: self.now_ms(),
            };
            self.audit().record_read(note).await?;
        }
        Ok(view)
    }
}

pub(crate) fn status_of(raw: Option<&str>) -> Result<String, CoreError> {
    let s = raw.unwrap_or(ENROLLED);
    if STATUSES.contains(&s) {
        Ok(s.to_owned())
    } else {
        Err(CoreError::invalid(
            "enrollment_status",
            format!("must be one of {}", STATUSES.join(", ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opened_field_of_the_wrong_shape_is_an_error_not_an_empty_list() {
        let raw = |t: &str| RawValue::from_string(t.to_owned()).ok();
        let good = raw(r#"[{"name":"Peanuts","severity":"life_threatening"}]"#);
        let parsed = parse_opened::<Vec<Allergy>>("allergies", good.as_deref());
        assert!(matches!(parsed, Ok(Some(ref a)) if a.len() == 1));
        for bad in [
            r#"{"name":"Peanuts"}"#,
            r#"[{"name":"P","severity":"mild","x":1}]"#,
            "7",
        ] {
            let got = parse_opened::<Vec<Allergy>>("allergies", raw(bad).as_deref());
            assert!(
                matches!(got, Err(CoreError::Internal(ref m)) if m == "stored allergies is malformed"),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_opened::<String>("medical_notes", None),
            Ok(None)
        ));
    }
}
