//! The JSON of a child: its basic fields, and the whole record as one reader may see it. The
//! hottest read, so it is serialized straight from the record, without an intermediate `Value`
//! and without `#[serde(flatten)]` (which goes through a map). The answers own what they
//! describe and serialize through these borrowed bodies.

use kinfold_core::children::{Allergy, ChildView, EmergencyContact};
use kinfold_model::{Child, ChildId, ClassroomId, PickupId};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

// Serialized straight from the record, without an intermediate `Value`.
/// A child's basic fields.
#[derive(ToSchema)]
#[schema(as = Child)]
pub struct ChildBody<'a> {
    #[schema(value_type = uuid::Uuid)]
    id: ChildId,
    given_name: &'a str,
    family_name: &'a str,
    preferred_name: Option<&'a str>,
    /// `YYYY-MM-DD`.
    date_of_birth: &'a str,
    #[schema(value_type = Option<uuid::Uuid>)]
    classroom_id: Option<ClassroomId>,
    enrollment_status: &'a str,
    enrolled_on: Option<&'a str>,
    left_on: Option<&'a str>,
    /// The record's version: send it back as `version` with a change, and the change is
    /// refused (`409 conflict`) if someone else's landed first.
    version: i64,
}

impl ChildBody<'_> {
    /// Writes the fields into a struct being serialized, so a larger body can start with them
    /// (`#[serde(flatten)]` would go through a map, slower on the hottest read).
    fn write<S: SerializeStruct>(&self, s: &mut S) -> Result<(), S::Error> {
        s.serialize_field("id", &self.id)?;
        s.serialize_field("given_name", self.given_name)?;
        s.serialize_field("family_name", self.family_name)?;
        s.serialize_field("preferred_name", &self.preferred_name)?;
        s.serialize_field("date_of_birth", self.date_of_birth)?;
        s.serialize_field("classroom_id", &self.classroom_id)?;
        s.serialize_field("enrollment_status", self.enrollment_status)?;
        s.serialize_field("enrolled_on", &self.enrolled_on)?;
        s.serialize_field("left_on", &self.left_on)?;
        s.serialize_field("version", &self.version)
    }
}

impl Serialize for ChildBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Child", 10)?;
        self.write(&mut s)?;
        s.end()
    }
}

pub fn child_json(c: &Child) -> ChildBody<'_> {
    ChildBody {
        id: c.id,
        given_name: &c.given_name,
        family_name: &c.family_name,
        preferred_name: c.preferred_name.as_deref(),
        date_of_birth: &c.date_of_birth,
        classroom_id: c.classroom_id,
        enrollment_status: &c.status,
        enrolled_on: c.enrolled_on.as_deref(),
        left_on: c.left_on.as_deref(),
        version: c.version,
    }
}

/// Someone other than a guardian who may pick the child up, with a passphrase.
#[derive(Serialize, ToSchema)]
#[schema(as = AuthorizedPickup)]
pub struct PickupOut<'a> {
    #[schema(value_type = uuid::Uuid)]
    id: PickupId,
    name: &'a str,
    relation: &'a str,
    /// The photo ID the desk asks to see; empty when none is noted.
    photo_id: &'a str,
    /// Send it back as `version` with an edit: one made since is refused.
    version: i64,
}

// The `serde` attributes here only tell the schema what the hand-written `Serialize` below does.
/// A child as one reader may see it: the fields the role may not see are left out (not null)
/// and named in `redacted`.
#[derive(ToSchema)]
#[schema(as = ChildView)]
pub struct ViewBody<'a> {
    #[serde(flatten)]
    child: ChildBody<'a>,
    // Served as the JSON they were sealed as.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<Allergy>)]
    allergies: Option<&'a serde_json::value::RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    medical_notes: Option<&'a serde_json::value::RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<EmergencyContact>)]
    emergency_contacts: Option<&'a serde_json::value::RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<PickupOut>)]
    authorized_pickups: Option<Vec<PickupOut<'a>>>,
    /// The fields left out for your role.
    #[schema(value_type = Vec<String>)]
    redacted: &'a [&'static str],
}

impl Serialize for ViewBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ChildView", 15)?;
        self.child.write(&mut s)?;
        // A field the reader may not see is left out, not null.
        if let Some(a) = self.allergies {
            s.serialize_field("allergies", a)?;
        }
        if let Some(m) = self.medical_notes {
            s.serialize_field("medical_notes", m)?;
        }
        if let Some(e) = self.emergency_contacts {
            s.serialize_field("emergency_contacts", e)?;
        }
        if let Some(p) = &self.authorized_pickups {
            s.serialize_field("authorized_pickups", p)?;
        }
        s.serialize_field("redacted", self.redacted)?;
        s.end()
    }
}

pub fn view_json(v: &ChildView) -> ViewBody<'_> {
    ViewBody {
        child: child_json(v.child()),
        allergies: v.allergies_json(),
        medical_notes: v.medical_notes_json(),
        emergency_contacts: v.emergency_contacts_json(),
        authorized_pickups: v.authorized_pickups().map(|list| {
            list.iter()
                .map(|p| PickupOut {
                    id: p.id,
                    name: &p.name,
                    relation: &p.relation,
                    photo_id: &p.photo_id,
                    version: p.version,
                })
                .collect()
        }),
        redacted: v.redacted,
    }
}

/// A child record, answered as [`ChildBody`] (schema `Child`).
pub struct ChildOut(pub Child);

impl Serialize for ChildOut {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        child_json(&self.0).serialize(serializer)
    }
}

/// A page of children, answered as `Page<Child>`: each item written as it is read.
pub struct ChildrenPage {
    pub children: Vec<Child>,
    pub next_cursor: Option<String>,
}

struct Items<'a>(&'a [Child]);

impl Serialize for Items<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(child_json))
    }
}

impl Serialize for ChildrenPage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Page", 2)?;
        s.serialize_field("items", &Items(&self.children))?;
        s.serialize_field("next_cursor", &self.next_cursor)?;
        s.end()
    }
}

/// A child as one reader may see it, answered as [`ViewBody`] (schema `ChildView`).
pub struct ViewOut(pub ChildView);

impl Serialize for ViewOut {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        view_json(&self.0).serialize(serializer)
    }
}
