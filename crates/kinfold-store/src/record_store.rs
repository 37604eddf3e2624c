//! The center's records: the traits, declared once; their one body is in `sql/`.

use async_trait::async_trait;

use crate::TenantTx;
use crate::*;

/// The center's details, classrooms, staff assignments, children and access grants. Every
/// method is scoped to one tenant. Guardians and attendance are their own traits below, so
/// each trait's body stays one file (`sql/records.rs`, `sql/guardians.rs`,
/// `sql/attendance.rs`).
#[async_trait]
pub trait RecordStore: Send + Sync {
    async fn tenant_details(&self, scope: &TenantScope) -> Result<TenantDetails>;
    /// Writes the center's details over `details.version` only, and returns them at their
    /// new version; a tenant at another version is `WrongState` ([`crate::STALE_RECORD`]) and
    /// nothing changes. With `lower_cap`, ends the sessions beyond it in the same transaction
    /// (each with its `session_evicted` entry) and returns them.
    async fn set_tenant_details(
        &self,
        tx: TenantTx<'_>,
        details: &TenantDetails,
        lower_cap: Option<LowerCap>,
    ) -> Result<(TenantDetails, Vec<Session>)>;

    async fn create_classroom(
        &self,
        tx: TenantTx<'_>,
        fields: &ClassroomFields,
        at_ms: i64,
    ) -> Result<Classroom>;
    /// Changes a room's settings and moves its version on by one; an archived room is
    /// `NotFound`, a taken name a `Conflict`. With `expected`, a room at another version is
    /// `WrongState` ([`crate::STALE_RECORD`]) and nothing changes.
    async fn update_classroom(
        &self,
        tx: TenantTx<'_>,
        id: ClassroomId,
        fields: &ClassroomFields,
        expected: Option<i64>,
    ) -> Result<Classroom>;
    /// Archives a room and ends its staff assignments, in one transaction with the check that
    /// no enrolled or waitlisted child is placed in it (`WrongState` if one is).
    async fn archive_classroom(&self, tx: TenantTx<'_>, id: ClassroomId, at_ms: i64) -> Result<()>;
    /// Every classroom, archived ones included (flagged), by name.
    async fn classrooms(&self, scope: &TenantScope) -> Result<Vec<Classroom>>;
    async fn assign_staff(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        classroom: ClassroomId,
    ) -> Result<()>;
    /// `NotFound` if the user was not assigned to the room.
    async fn unassign_staff(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        classroom: ClassroomId,
    ) -> Result<()>;
    /// Every staff assignment of the tenant, as (user, classroom), in one query.
    async fn staff_assignments(&self, scope: &TenantScope) -> Result<Vec<(UserId, ClassroomId)>>;
    async fn assigned_classrooms(
        &self,
        scope: &TenantScope,
        user: UserId,
    ) -> Result<Vec<ClassroomId>>;

    /// Creates a child under an ID chosen by the caller (the sealed fields are bound to it).
    async fn create_child(
        &self,
        tx: TenantTx<'_>,
        id: ChildId,
        fields: ChildFields,
        sealed: SealedChildFields,
        at_ms: i64,
    ) -> Result<Child>;
    /// Replaces the plain fields, and the sealed ones given as `Some`, and moves the child's
    /// `version` on by one. With `expected`, only if the record is still that version:
    /// otherwise `WrongState` ([`crate::STALE_RECORD`]) and nothing changes.
    async fn update_child(
        &self,
        tx: TenantTx<'_>,
        id: ChildId,
        fields: ChildFields,
        sealed: SealedChildFields,
        at_ms: i64,
        expected: Option<i64>,
    ) -> Result<Child>;
    /// One child, if `visibility` allows it.
    async fn child(
        &self,
        scope: &TenantScope,
        id: ChildId,
        visibility: Visibility,
    ) -> Result<Option<Child>>;
    async fn children(&self, scope: &TenantScope, query: &ChildQuery) -> Result<Vec<Child>>;
    /// One child with its authorized pickups, in one round trip.
    async fn child_with_pickups(
        &self,
        scope: &TenantScope,
        id: ChildId,
        visibility: Visibility,
    ) -> Result<Option<(Child, Vec<Pickup>)>>;

    async fn create_grant(&self, tx: TenantTx<'_>, grant: AccessGrant) -> Result<()>;
    /// Grants, newest first.
    async fn grants(&self, scope: &TenantScope) -> Result<Vec<AccessGrant>>;
}

/// The children's guardians, their links to children, and authorized pickups.
#[async_trait]
pub trait GuardianStore: Send + Sync {
    /// A new guardian, with the ID `link.guardian`, and its link to `link.child`, with the
    /// transaction's audit entries: one transaction, so a refused link leaves no guardian.
    async fn create_guardian(
        &self,
        tx: TenantTx<'_>,
        new: NewGuardian,
        link: NewLink,
        at_ms: i64,
    ) -> Result<Guardian>;
    /// Links an existing guardian to another child, with the transaction's audit entries: a
    /// new link only (one already there is a conflict; its terms change through
    /// `change_link`).
    async fn link_guardian(&self, tx: TenantTx<'_>, link: NewLink) -> Result<()>;
    /// Every guardian of the tenant, with the number of children linked.
    async fn guardians(&self, scope: &TenantScope) -> Result<Vec<(Guardian, i64)>>;
    /// A child's guardians, the primary contact first, then by name.
    async fn child_guardians(
        &self,
        scope: &TenantScope,
        child: ChildId,
    ) -> Result<Vec<GuardianLink>> {
        let links = self.guardians_of(scope, &[child]).await?;
        Ok(links.into_iter().map(|(_, link)| link).collect())
    }
    /// The guardians of each of `children` (a room's, a sheet's), in one read: each with its
    /// child, ordered by child, then as [`Self::child_guardians`].
    async fn guardians_of(
        &self,
        scope: &TenantScope,
        children: &[ChildId],
    ) -> Result<Vec<(ChildId, GuardianLink)>>;
    async fn add_pickup(&self, tx: TenantTx<'_>, new: NewPickup, at_ms: i64) -> Result<Pickup>;
    /// A child's authorized pickups, by name.
    async fn pickups(&self, scope: &TenantScope, child: ChildId) -> Result<Vec<Pickup>> {
        self.pickups_of(scope, &[child]).await
    }
    /// The authorized pickups of each of `children`, in one read, ordered by child, then name.
    async fn pickups_of(&self, scope: &TenantScope, children: &[ChildId]) -> Result<Vec<Pickup>>;
    /// Changes a guardian's link (custody, pickup permission), unlinks a guardian, or removes
    /// an authorized pickup, with the audit entry, in one transaction. `NotFound` when the
    /// link or pickup is not the child's in this tenant.
    async fn change_link(&self, tx: TenantTx<'_>, change: LinkChange) -> Result<()>;
    /// The stored passphrase hash of a child's authorized pickup, and the pickup's version
    /// (what a check-out verified with it names to [`AttendanceStore::record_attendance`]).
    async fn pickup_passphrase_hash(
        &self,
        scope: &TenantScope,
        child: ChildId,
        pickup: PickupId,
    ) -> Result<Option<(String, i64)>>;
}

/// Check-ins and check-outs.
#[async_trait]
pub trait AttendanceStore: Send + Sync {
    /// Records a check-in or check-out with its audit entry and, when given, the notice to
    /// its guardians (E1: the message enters the outbox in the same transaction).
    /// `WrongState` when the child is already checked in on the event's day (a check-in), or
    /// not checked in (a check-out): the state is read and written in one transaction, so two
    /// desks racing for one child cannot both succeed.
    ///
    /// `verified` is the version of the person's record on the child (the guardian's link, or
    /// the authorized pickup) that the caller's checks were made on: custody, permission to
    /// pick up, the passphrase. It is compared in the same transaction, the row held until
    /// commit, so a court restriction or a new passphrase saved while the desk was checking is
    /// never checked past: the write is refused (`WrongState`, [`PERSON_CHANGED`]) and nothing
    /// is written.
    async fn record_attendance(
        &self,
        tx: TenantTx<'_>,
        event: AttendanceEvent,
        notice: Option<crate::outbox::Notice>,
        verified: i64,
    ) -> Result<()>;
    /// Writes a correction entry (`event.correction` set) with its audit entry. `NotFound` when
    /// the entry it corrects is not an original entry of the same child, day and kind.
    async fn correct_attendance(&self, tx: TenantTx<'_>, event: AttendanceEvent) -> Result<()>;
    /// Whether `child` has an open check-in on `day`: one lookup on the index that allows one
    /// (what a check-in or check-out answers early with; its write checks again).
    async fn checked_in(&self, scope: &TenantScope, child: ChildId, day: &str) -> Result<bool>;
    /// The events of the days `from` to `to` (`YYYY-MM-DD`, both included) for the children
    /// `visibility` allows, in time order.
    async fn attendance_days(
        &self,
        scope: &TenantScope,
        from: &str,
        to: &str,
        visibility: Visibility,
    ) -> Result<Vec<AttendanceEvent>>;
    /// A day's events for the children `visibility` allows, in time order.
    async fn attendance_day(
        &self,
        scope: &TenantScope,
        day: &str,
        visibility: Visibility,
    ) -> Result<Vec<AttendanceEvent>> {
        self.attendance_days(scope, day, day, visibility).await
    }
}

/// Staff clock-ins and clock-outs, and the center's ratio table.
#[async_trait]
pub trait StaffStore: Send + Sync {
    /// Records a staff member clocking in or out, with its audit entry. `WrongState` when they
    /// are already clocked in on the event's day (a clock-in), or not clocked in to the
    /// event's room (a clock-out): read and written in one transaction, and the partial unique
    /// index `staff_attendance_open` is the last wall.
    async fn record_staff(&self, tx: TenantTx<'_>, event: StaffEvent) -> Result<()>;
    /// A day's staff events, in time order.
    async fn staff_day(&self, scope: &TenantScope, day: &str) -> Result<Vec<StaffEvent>>;
    /// The center's own ratio rows (bands without a row follow the default table), and the
    /// table's version, read together.
    async fn ratio_rules(&self, scope: &TenantScope) -> Result<RatioRules>;
    /// Replaces the center's ratio rows, with the audit entry, in one transaction, written
    /// only over version `expected` of the table (`None`: whatever is there; another version:
    /// `WrongState(STALE_RECORD)`, nothing written). Returns the new version.
    async fn set_ratio_rules(
        &self,
        tx: TenantTx<'_>,
        rules: Vec<RatioRule>,
        expected: Option<i64>,
    ) -> Result<i64>;
}

/// The people of a tenant: changing a role.
#[async_trait]
pub trait PeopleStore: Send + Sync {
    /// Sets a staff member's role, ends their sessions (what a session allowed no longer
    /// holds), and writes the audit entry, in one transaction. `WrongState` when it would
    /// leave the tenant without an administrator: the administrators' rows are locked first
    /// (PostgreSQL), so two administrators demoting each other at once cannot both succeed.
    /// Written over role `from` only (the one the audit entry names): a role changed since is
    /// `WrongState` ([`crate::STALE_RECORD`]). Returns the sessions ended.
    async fn set_role(
        &self,
        tx: TenantTx<'_>,
        user: UserId,
        from: Role,
        role: Role,
        at_ms: i64,
    ) -> Result<Vec<Session>>;
    /// Deactivates an account: it cannot sign in, its sessions end, its unused enrollment and
    /// reset links die, all in one transaction with the audit entry. `WrongState` for the
    /// last active administrator (checked under the administrators' row locks), or an account
    /// already deactivated. Returns the sessions ended.
    async fn deactivate(&self, tx: TenantTx<'_>, user: UserId, at_ms: i64) -> Result<Vec<Session>>;
    /// Lets a deactivated account sign in again (with its password and second factor as they
    /// were), with the audit entry. `WrongState` when it is not deactivated.
    async fn reactivate(&self, tx: TenantTx<'_>, user: UserId) -> Result<()>;
}
