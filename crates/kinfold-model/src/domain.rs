//! Records of the center: classrooms, children, guardians, authorized pickups, attendance.
//! Sealed fields travel here as ciphertext; core seals and opens them.

use serde::Serialize;

use crate::ids::{ChildId, ClassroomId, GuardianId, PickupId, TenantId, UserId};

#[derive(Debug, Clone, Serialize)]
pub struct Classroom {
    pub id: ClassroomId,
    pub name: String,
    /// The ages the room is licensed for, when the center has said.
    pub age_group: Option<AgeGroup>,
    /// Licensed capacity: the most children the room may hold.
    pub capacity: Option<u32>,
    /// An archived room keeps its history but takes no children, staff or check-ins.
    pub archived: bool,
    /// Moves on by one with each change of the settings: a change made from an older version
    /// is refused.
    pub version: i64,
}

/// What a classroom's settings may change: its name, age group and licensed capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassroomFields {
    pub name: String,
    pub age_group: Option<AgeGroup>,
    pub capacity: Option<u32>,
}

impl ClassroomFields {
    /// The open (not archived) room these settings describe, under `id`.
    pub fn room(&self, id: ClassroomId) -> Classroom {
        Classroom {
            id,
            name: self.name.clone(),
            age_group: self.age_group,
            capacity: self.capacity,
            archived: false,
            version: 1,
        }
    }

    /// A room with a name only.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            age_group: None,
            capacity: None,
        }
    }
}

/// A classroom's age group, as licensing names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeGroup {
    Infant,
    Toddler,
    Preschool,
    SchoolAge,
}

impl AgeGroup {
    pub const ALL: [AgeGroup; 4] = [
        AgeGroup::Infant,
        AgeGroup::Toddler,
        AgeGroup::Preschool,
        AgeGroup::SchoolAge,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgeGroup::Infant => "infant",
            AgeGroup::Toddler => "toddler",
            AgeGroup::Preschool => "preschool",
            AgeGroup::SchoolAge => "school_age",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// The name a person reads.
    pub fn label(self) -> &'static str {
        match self {
            AgeGroup::Infant => "Infant",
            AgeGroup::Toddler => "Toddler",
            AgeGroup::Preschool => "Preschool",
            AgeGroup::SchoolAge => "School-age",
        }
    }
}

/// The three sealed columns of a child, as stored.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SealedChildFields {
    pub allergies: Option<Vec<u8>>,
    pub medical_notes: Option<Vec<u8>>,
    pub emergency_contacts: Option<Vec<u8>>,
}

impl std::fmt::Debug for SealedChildFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedChildFields(..)")
    }
}

#[derive(Debug, Clone)]
pub struct Child {
    pub id: ChildId,
    pub tenant_id: TenantId,
    pub given_name: String,
    pub family_name: String,
    pub preferred_name: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    pub classroom_id: Option<ClassroomId>,
    pub status: String,
    pub enrolled_on: Option<String>,
    pub left_on: Option<String>,
    pub sealed: SealedChildFields,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Moves on by one with each edit: an edit made from an older version is refused.
    pub version: i64,
}

/// A child's plain fields, for creation and update.
#[derive(Debug, Clone)]
pub struct ChildFields {
    pub given_name: String,
    pub family_name: String,
    pub preferred_name: Option<String>,
    pub date_of_birth: String,
    pub classroom_id: Option<ClassroomId>,
    pub status: String,
    pub enrolled_on: Option<String>,
    pub left_on: Option<String>,
}

/// Which children a query may return. Core derives it from the policy table; the store only
/// executes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Every child of the tenant.
    All,
    /// Children in the classrooms this staff member is assigned to.
    ClassroomsOf(UserId),
    /// Children this user is a guardian of, unless court-restricted.
    GuardianUser(UserId),
    /// No child.
    None,
}

#[derive(Debug, Clone)]
pub struct ChildQuery {
    pub visibility: Visibility,
    pub classroom_id: Option<ClassroomId>,
    pub status: Option<String>,
    /// Keyset pagination: children with an ID above this one.
    pub after: Option<ChildId>,
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Guardian {
    pub id: GuardianId,
    pub user_id: Option<UserId>,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewGuardian {
    pub user_id: Option<UserId>,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Custody {
    Full,
    Shared,
    /// A court order: refused at pickup, and sees nothing of the child.
    CourtRestricted,
}

impl Custody {
    pub fn as_str(self) -> &'static str {
        match self {
            Custody::Full => "full",
            Custody::Shared => "shared",
            Custody::CourtRestricted => "court_restricted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Custody::Full, Custody::Shared, Custody::CourtRestricted]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GuardianLink {
    pub guardian: Guardian,
    pub relationship: String,
    pub custody: Custody,
    pub may_pick_up: bool,
    pub primary_contact: bool,
    /// Moves on by one with each change of custody or pickup permission: a change made from
    /// an older version is refused.
    pub version: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pickup {
    pub id: PickupId,
    pub child_id: ChildId,
    pub name: String,
    pub relation: String,
    /// The photo ID the desk asks to see ("Driver's licence"); empty when none is noted.
    pub photo_id: String,
    /// Moves on by one with each edit: an edit made from an older version is refused.
    pub version: i64,
}

/// A guardian's link to a child.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub child: ChildId,
    pub guardian: GuardianId,
    pub relationship: String,
    pub custody: Custody,
    pub may_pick_up: bool,
    pub primary_contact: bool,
}

/// A change to who may take a child: a guardian's custody and pickup permission, a guardian
/// unlinked, an authorized pickup removed or edited.
#[derive(Debug, Clone)]
pub enum LinkChange {
    Set {
        child: ChildId,
        guardian: GuardianId,
        custody: Custody,
        may_pick_up: bool,
        /// The link's version the change was made from: one made since is refused. `None`
        /// changes whatever is there.
        expected: Option<i64>,
    },
    Unlink {
        child: ChildId,
        guardian: GuardianId,
        /// The link's version the unlink was made from: a link changed since is kept (a
        /// custody change, such as a court restriction, would otherwise go unseen with it).
        /// `None` unlinks whatever is there.
        expected: Option<i64>,
    },
    RemovePickup {
        child: ChildId,
        pickup: PickupId,
        /// The pickup's version the removal was made from: one edited since is kept (its new
        /// name or passphrase would otherwise go unseen with it). `None` removes it as it is.
        expected: Option<i64>,
    },
    /// An authorized pickup edited in place.
    EditPickup(PickupEdit),
}

/// An authorized pickup's new name, relation and photo ID, and, when it is replaced, the
/// argon2id of their new passphrase.
#[derive(Clone)]
pub struct PickupEdit {
    pub child: ChildId,
    pub pickup: PickupId,
    pub name: String,
    pub relation: String,
    pub photo_id: String,
    pub passphrase_hash: Option<String>,
    /// The version the edit was made from: one made since is refused. `None` edits whatever
    /// is there.
    pub expected: Option<i64>,
}

impl std::fmt::Debug for PickupEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PickupEdit")
            .field("child", &self.child)
            .field("pickup", &self.pickup)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct NewPickup {
    pub child: ChildId,
    pub name: String,
    pub relation: String,
    pub photo_id: String,
    /// argon2id of the verify-only passphrase.
    pub passphrase_hash: String,
}

impl std::fmt::Debug for NewPickup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPickup")
            .field("child", &self.child)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttendanceKind {
    CheckIn,
    CheckOut,
}

impl AttendanceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AttendanceKind::CheckIn => "check_in",
            AttendanceKind::CheckOut => "check_out",
        }
    }
}

/// Who dropped off or picked up the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Person {
    Guardian(GuardianId),
    AuthorizedPickup(PickupId),
}

#[derive(Debug, Clone, Serialize)]
pub struct AttendanceEvent {
    pub id: uuid::Uuid,
    pub child_id: ChildId,
    pub kind: AttendanceKind,
    /// `YYYY-MM-DD` in the center's calendar.
    pub day: String,
    pub at_ms: i64,
    pub recorded_by: UserId,
    pub person: Person,
    /// How the record named `person` when the entry was written; `None` on entries written
    /// before it was kept, which are shown under the person's current name.
    pub named_as: Option<NamedAs>,
    /// A correction: the entry whose time this one corrects (its own `at_ms` is the right
    /// time), and why. An original entry has neither.
    pub correction: Option<Correction>,
}

/// Who dropped off or picked up, as the child's record named them at that moment: a later
/// rename, or the person's removal from the record, does not change the day's history or the
/// sign-in sheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedAs {
    pub name: String,
    /// The relationship, as recorded ("Mother"; "Aunt, authorized pickup").
    pub relation: String,
}

/// What a correction entry corrects, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Correction {
    pub corrects: uuid::Uuid,
    pub reason: String,
}

/// Every stored column that holds a value sealed with a tenant data key. Rotation reseals each
/// of them, and a key version is retired only when none of them holds a value under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    ChildAllergies,
    ChildMedicalNotes,
    ChildEmergencyContacts,
    UserTotp,
    /// A TOTP secret offered to a signed-in user, until confirmed.
    UserPendingTotp,
    /// A TOTP secret offered on an enrollment link (the row in the AAD is the user).
    EnrollmentTotp,
    /// An outbox message: subject and bodies, which may hold reset and enrollment links.
    MessageBody,
}

impl SealedColumn {
    pub const ALL: [SealedColumn; 7] = [
        SealedColumn::ChildAllergies,
        SealedColumn::ChildMedicalNotes,
        SealedColumn::ChildEmergencyContacts,
        SealedColumn::UserTotp,
        SealedColumn::UserPendingTotp,
        SealedColumn::EnrollmentTotp,
        SealedColumn::MessageBody,
    ];

    /// The (table, column) names bound into the AAD.
    pub fn aad_names(self) -> (&'static str, &'static str) {
        match self {
            SealedColumn::ChildAllergies => ("children", "allergies"),
            SealedColumn::ChildMedicalNotes => ("children", "medical_notes"),
            SealedColumn::ChildEmergencyContacts => ("children", "emergency_contacts"),
            SealedColumn::UserTotp => ("users", "totp_secret"),
            SealedColumn::UserPendingTotp => ("users", "pending_totp"),
            SealedColumn::EnrollmentTotp => ("users", "enrollment_totp"),
            SealedColumn::MessageBody => ("email_messages", "body"),
        }
    }
}

/// One sealed value as stored (ciphertext only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    /// The row's key in its table (an ID; for enrollment links, the token hash in hex), which
    /// orders the pages and names the row to replace.
    pub key: String,
    /// The row bound into the AAD (for enrollment links, the user).
    pub aad_row: String,
    pub sealed: Vec<u8>,
}

/// A break-glass grant: an operator may read this tenant's data until `expires_ms`.
#[derive(Debug, Clone, Serialize)]
pub struct AccessGrant {
    pub id: uuid::Uuid,
    pub operator: String,
    pub reason: String,
    pub created_ms: i64,
    pub expires_ms: i64,
}
