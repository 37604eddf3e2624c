//! Corrections: a wrong check-in or check-out time is put right by a new entry with the right
//! time and a reason, never by an edit. The original entry stands; the day's history shows
//! both, and the roster, the ratios and the sign-in sheets read the corrected time.

use kinfold_audit::Event;
use kinfold_store::{AttendanceEvent, ChildId, Correction};

use crate::policy::{self, Action};
use crate::services::Attendance;
use crate::{Actor, CoreError};

impl Attendance<'_> {
    /// Today's entries of one child the actor may check in and out, corrections included, in
    /// the order they were recorded.
    pub async fn child_day(
        &self,
        actor: &Actor,
        child: ChildId,
    ) -> Result<Vec<AttendanceEvent>, CoreError> {
        policy::require(actor, Action::CheckInOut)?;
        let day = self.day_now(&actor.scope).await?;
        let visibility = policy::visibility(actor, Action::CheckInOut);
        Ok(self
            .store()
            .attendance_day(&actor.scope, &day, visibility)
            .await?
            .into_iter()
            .filter(|e| e.child_id == child)
            .collect())
    }

    /// Corrects the time of today's entry `entry` to `time` (`HH:MM` in the center's time
    /// zone), with a reason. The time may not be in the future.
    pub async fn correct(
        &self,
        actor: &Actor,
        child: ChildId,
        entry: uuid::Uuid,
        time: &str,
        reason: &str,
    ) -> Result<AttendanceEvent, CoreError> {
        let reason = crate::validate::reason("reason", reason)?;
        let original = self
            .child_day(actor, child)
            .await?
            .into_iter()
            .find(|e| e.id == entry && e.correction.is_none())
            .ok_or(CoreError::NotFound("attendance entry"))?;
        let tz = self.store().tenant_details(&actor.scope).await?.time_zone;
        let at_ms = at_on_day(&tz, &original.day, time)?;
        if at_ms > self.now_ms() {
            return Err(CoreError::invalid("time", "may not be in the future"));
        }
        let e = AttendanceEvent {
            id: uuid::Uuid::now_v7(),
            at_ms,
            recorded_by: actor.user.id,
            correction: Some(Correction {
                corrects: original.id,
                reason: reason.to_owned(),
            }),
            ..original.clone()
        };
        let d = self.admin_draft(
            actor,
            Event::AttendanceCorrected {
                entry_id: e.id.to_string(),
                corrects: original.id.to_string(),
                child_id: child.to_string(),
                at: super::local_time(&tz, at_ms),
                reason: reason.to_owned(),
            },
        );
        self.store()
            .correct_attendance(actor.scope.tx().audit(d), e.clone())
            .await?;
        Ok(e)
    }
}

/// `HH:MM` on `day` (`YYYY-MM-DD`) in the time zone `tz`, as milliseconds since the epoch.
fn at_on_day(tz: &str, day: &str, time: &str) -> Result<i64, CoreError> {
    let bad = || CoreError::invalid("time", "must be a time as HH:MM");
    let t: jiff::civil::Time = time.trim().parse().map_err(|_| bad())?;
    let d: jiff::civil::Date = day.parse().map_err(|_| bad())?;
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    let zoned = d.to_datetime(t).to_zoned(zone).map_err(|_| bad())?;
    Ok(zoned.timestamp().as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::at_on_day;

    #[test]
    fn times_are_read_on_the_entry_day_in_the_center_time_zone() {
        // 08:05 in Los Angeles on 2026-12-06 is 16:05 UTC.
        assert_eq!(
            at_on_day("America/Los_Angeles", "2026-12-06", "08:05").ok(),
            Some(1_796_573_100_000)
        );
        assert!(at_on_day("UTC", "2026-12-06", "25:00").is_err());
        assert!(at_on_day("UTC", "2026-12-06", "eight").is_err());
        assert!(at_on_day("UTC", "2026-12-06", "").is_err());
    }
}
