//! Staff attendance: staff clock in to a room and out of it. A clock-in is the staff member's
//! own: nobody records one for someone else but an administrator, and then only with a reason
//! (a correction, kept as a new entry beside the original, never an edit). A clock-out that
//! leaves the room out of ratio is recorded, and warns like a check-in does.

use kinfold_audit::Event;
use kinfold_store::{ClassroomId, ClockKind, Role, StaffEvent, UserId};

use super::ratios::{clocked_in, RoomRatio};
use crate::policy::{self, Action};
use crate::services::Attendance;
use crate::{Actor, CoreError};

/// A staff event as recorded, and the room's ratio when the room is now out of it.
#[derive(Debug, Clone)]
pub struct Clocked {
    pub event: StaffEvent,
    pub out_of_ratio: Option<RoomRatio>,
}

/// Where a staff member stands today.
#[derive(Debug, Clone, Default)]
pub struct StaffDay {
    /// The room they are clocked in to now.
    pub room: Option<ClassroomId>,
}

impl Attendance<'_> {
    /// Clocks the actor in to (or out of) `room`. Teachers clock in to their own rooms only;
    /// front desk and administrators to any open room. Parents have no clock.
    pub async fn clock(
        &self,
        actor: &Actor,
        room: ClassroomId,
        kind: ClockKind,
    ) -> Result<Clocked, CoreError> {
        self.clock_event(actor, actor.user.id, room, kind, None)
            .await
    }

    /// An administrator's correction: clocks `user` in to or out of `room`, with the reason.
    pub async fn clock_for(
        &self,
        actor: &Actor,
        user: UserId,
        room: ClassroomId,
        kind: ClockKind,
        reason: &str,
    ) -> Result<Clocked, CoreError> {
        crate::Core::require_admin_scope(actor)?;
        let reason = crate::validate::reason("reason", reason)?;
        let staff = self
            .store()
            .users(&actor.scope)
            .await?
            .into_iter()
            .find(|u| u.id == user)
            .ok_or(CoreError::NotFound("user"))?;
        if !staff.role.is_staff() || !staff.is_active() {
            return Err(CoreError::invalid(
                "user_id",
                "only staff whose account is active clock in",
            ));
        }
        self.clock_event(actor, user, room, kind, Some(reason.to_owned()))
            .await
    }

    async fn clock_event(
        &self,
        actor: &Actor,
        user: UserId,
        room: ClassroomId,
        kind: ClockKind,
        reason: Option<String>,
    ) -> Result<Clocked, CoreError> {
        if actor.role == Role::Parent {
            return Err(CoreError::Forbidden("your role does not allow this"));
        }
        // Clocking in needs an open room the actor works in; clocking out of a room one is in
        // stays possible even if it was archived or unassigned since.
        let rooms = self.classrooms().list_classrooms(actor).await?;
        let found = rooms.iter().find(|r| r.id == room);
        if kind == ClockKind::ClockIn && found.is_none() {
            return Err(CoreError::NotFound("classroom"));
        }
        let day = self.day_now(&actor.scope).await?;
        let e = StaffEvent {
            id: uuid::Uuid::now_v7(),
            user_id: user,
            classroom_id: room,
            kind,
            day: day.clone(),
            at_ms: self.now_ms(),
            recorded_by: actor.user.id,
            reason: reason.clone(),
        };
        let (user_id, classroom_id) = (user.to_string(), room.to_string());
        let event = match kind {
            ClockKind::ClockIn => Event::StaffClockedIn {
                user_id,
                classroom_id,
                reason,
            },
            ClockKind::ClockOut => Event::StaffClockedOut {
                user_id,
                classroom_id,
                reason,
            },
        };
        let d = self.admin_draft(actor, event);
        self.store()
            .record_staff(actor.scope.tx().audit(d), e.clone())
            .await?;
        let out_of_ratio = match (kind, found) {
            (ClockKind::ClockOut, Some(r)) => after_commit(self.ratio_warning(actor, r).await),
            _ => None,
        };
        Ok(Clocked {
            event: e,
            out_of_ratio,
        })
    }

    /// The room's ratio now, when it is out of ratio (and then the administrators are
    /// alerted). Called after the change is committed: see [`after_commit`].
    pub(crate) async fn ratio_warning(
        &self,
        actor: &Actor,
        room: &kinfold_store::Classroom,
    ) -> Result<Option<RoomRatio>, CoreError> {
        let day = self.day_now(&actor.scope).await?;
        // The actor's view covers the whole room: a teacher only records in their own rooms,
        // front desk and administrators see every child.
        let visibility = policy::visibility(actor, Action::CheckInOut);
        let events = self
            .store()
            .attendance_day(&actor.scope, &day, visibility)
            .await?;
        let children = self.attending(actor, Some(room.id), &events).await?;
        let measured = self
            .measure(
                &actor.scope,
                &day,
                std::slice::from_ref(room),
                &children,
                &events,
            )
            .await?;
        let Some(ratio) = measured.into_iter().next() else {
            return Ok(None);
        };
        match ratio.problem() {
            Some(problem) => {
                self.alert_ratio(actor, &ratio, &problem).await;
                Ok(Some(ratio))
            }
            None => Ok(None),
        }
    }

    /// Where the actor stands today: the room they are clocked in to.
    pub async fn my_day(&self, actor: &Actor) -> Result<StaffDay, CoreError> {
        policy::require(actor, Action::CheckInOut)?;
        let day = self.day_now(&actor.scope).await?;
        let events: Vec<StaffEvent> = self
            .store()
            .staff_day(&actor.scope, &day)
            .await?
            .into_iter()
            .filter(|e| e.user_id == actor.user.id)
            .collect();
        let room = clocked_in(&events).first().map(|(_, r)| *r);
        Ok(StaffDay { room })
    }
}

/// A ratio check made after the change it follows was committed: a failure is logged and gives
/// no warning, never the answer, which would tell the desk "nothing was saved" (or "try
/// again") about a check-in or clock-out that stands. The ratio board shows the room as it is.
pub(crate) fn after_commit<T>(checked: Result<Option<T>, CoreError>) -> Option<T> {
    checked.unwrap_or_else(|e| {
        tracing::error!(error = %e.detail(), "a room's ratio could not be checked after a committed change");
        None
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A ratio check that fails after a committed change gives no warning and no error: the
    /// answer stays the change's own.
    #[test]
    fn a_ratio_check_that_fails_after_a_commit_is_no_answer() {
        let failed: Result<Option<u8>, CoreError> = Err(CoreError::Busy {
            retry_after_secs: 1,
        });
        assert_eq!(after_commit(failed), None);
        assert_eq!(after_commit(Ok(Some(3u8))), Some(3));
        assert_eq!(after_commit::<u8>(Ok(None)), None);
    }
}
