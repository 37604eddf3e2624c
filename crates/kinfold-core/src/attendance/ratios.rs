//! Live ratios: for each room, the children present, the staff clocked in, and the staff the
//! children need, by each present child's age on the day and the center's ratio table (the
//! CFOC 1.1.1.2 table by default, each row editable per center).
//!
//! A room of mixed ages needs the sum of each child's share of a staff member (`1/ratio` of
//! their band), rounded up: 4 toddlers (1 in 4) and 7 three-year-olds (1 in 7) need 2. The
//! group size limit is the strictest of the bands present. The sum is kept in whole units of
//! the least common multiple of the ratios, so no rounding error can move the line by a child.
//!
//! Ratios are measured once the center's staff clock in: on a day when nobody has clocked in
//! anywhere in the center, the board shows the children and the staff they need, but no room
//! is called out of ratio and nobody is alerted (a center that does not use the clock would
//! otherwise be alerted at every first check-in).
//!
//! A check-in or a staff clock-out that leaves a room out of ratio is recorded all the same
//! (the child is there); the desk gets a warning and the administrators an email, at most one
//! per room per 15 minutes, across nodes and restarts.

use std::time::Duration;

use kinfold_audit::Event;
use kinfold_store::{
    AgeBand, AttendanceEvent, Child, Classroom, ClassroomId, ClockKind, RatioRule, StaffEvent,
    TenantScope, UserId,
};

use super::room::DayState;
use crate::policy::{self, Action};
use crate::services::Attendance;
use crate::{Actor, Core, CoreError};

/// A center's ratio table: its own rows where it set them, the default elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatioTable(pub [RatioRule; 5]);

/// A center's ratio table as its settings show it: the table, and the version a change made
/// from it sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatioSettings {
    pub table: RatioTable,
    pub version: i64,
}

impl RatioTable {
    pub fn with(custom: &[RatioRule]) -> Self {
        Self(RatioRule::CFOC.map(|d| {
            custom
                .iter()
                .copied()
                .find(|c| c.band == d.band)
                .unwrap_or(d)
        }))
    }

    pub fn rule(&self, band: AgeBand) -> RatioRule {
        self.0
            .iter()
            .copied()
            .find(|r| r.band == band)
            .unwrap_or(RatioRule::new(band, 1, 1))
    }

    /// Staff needed for children of these bands, and the largest group allowed (the strictest
    /// band's), `None` when there is no child.
    pub fn need(&self, bands: &[AgeBand]) -> (u32, Option<u32>) {
        let rules: Vec<RatioRule> = bands.iter().map(|b| self.rule(*b)).collect();
        let lcm = rules
            .iter()
            .fold(1u64, |l, r| lcm(l, u64::from(r.children_per_staff.max(1))));
        let units: u64 = rules
            .iter()
            .map(|r| lcm / u64::from(r.children_per_staff.max(1)))
            .sum();
        let needed = units.div_ceil(lcm);
        let max_group = rules.iter().map(|r| r.max_group).min();
        (u32::try_from(needed).unwrap_or(u32::MAX), max_group)
    }

    /// How many more children of the youngest band present fit with `staff` on duty, before
    /// another staff member is needed or the group size is passed (at most 200).
    pub fn headroom(&self, bands: &[AgeBand], staff: usize) -> Option<u32> {
        let youngest = *bands.iter().min()?;
        let mut more = bands.to_vec();
        let mut fits = 0u32;
        while fits < 200 {
            more.push(youngest);
            let (needed, group) = self.need(&more);
            if needed as usize > staff || group.is_some_and(|g| more.len() > g as usize) {
                break;
            }
            fits += 1;
        }
        Some(fits)
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn lcm(a: u64, b: u64) -> u64 {
    a / gcd(a, b) * b
}

/// A child's age band on `day` (both `YYYY-MM-DD`). A date that does not parse counts as an
/// infant: the strictest row, so a bad record can only ask for more staff, never fewer.
pub fn band_on(date_of_birth: &str, day: &str) -> AgeBand {
    let (Ok(born), Ok(on)) = (
        date_of_birth.parse::<jiff::civil::Date>(),
        day.parse::<jiff::civil::Date>(),
    ) else {
        return AgeBand::Infant;
    };
    match born.until((jiff::Unit::Month, on)) {
        Ok(span) => AgeBand::of_months(i64::from(span.get_months())),
        Err(_) => AgeBand::Infant,
    }
}

/// One room's ratio now.
#[derive(Debug, Clone)]
pub struct RoomRatio {
    pub room: Classroom,
    pub children: u32,
    /// The staff clocked in to the room.
    pub staff: Vec<UserId>,
    /// Staff the present children need.
    pub needed: u32,
    /// The largest group the present children's bands allow.
    pub max_group: Option<u32>,
    /// How many more children of the youngest band present the room takes before it needs
    /// another staff member or passes its group size; `None` when no child is present.
    pub headroom: Option<u32>,
    /// Whether the center's staff clock in today: the ratio is measured only then.
    pub measured: bool,
}

impl RoomRatio {
    /// What is wrong, when the room is out of ratio or over its group size.
    pub fn problem(&self) -> Option<String> {
        if !self.measured {
            return None;
        }
        let staff = self.staff.len();
        if let Some(max) = self.max_group.filter(|m| self.children > *m) {
            return Some(format!(
                "{} children present, above the group size of {max}",
                self.children
            ));
        }
        (staff < self.needed as usize).then(|| {
            format!(
                "{} children present need {} staff; {staff} clocked in",
                self.children, self.needed
            )
        })
    }
}

/// Who is clocked in where, from a day's staff events.
pub(crate) fn clocked_in(events: &[StaffEvent]) -> Vec<(UserId, ClassroomId)> {
    let mut open: Vec<(UserId, ClassroomId)> = Vec::new();
    for e in events {
        open.retain(|(u, _)| *u != e.user_id);
        if e.kind == ClockKind::ClockIn {
            open.push((e.user_id, e.classroom_id));
        }
    }
    open
}

/// The staff on duty in the center today, from the day's staff events.
#[derive(Debug, Clone, Default)]
pub(crate) struct OnDuty {
    pub open: Vec<(UserId, ClassroomId)>,
    /// Whether anyone clocked in today at all.
    pub measured: bool,
}

impl OnDuty {
    pub fn of(events: &[StaffEvent]) -> Self {
        Self {
            open: clocked_in(events),
            measured: !events.is_empty(),
        }
    }
}

pub(crate) fn room_ratio(
    room: &Classroom,
    children: &[Child],
    events: &[AttendanceEvent],
    duty: &OnDuty,
    table: &RatioTable,
    day: &str,
) -> RoomRatio {
    let staff = &duty.open;
    let bands: Vec<AgeBand> = children
        .iter()
        .filter(|c| c.classroom_id == Some(room.id))
        .filter(|c| DayState::of(events, c.id).status == "present")
        .map(|c| band_on(&c.date_of_birth, day))
        .collect();
    let (needed, max_group) = table.need(&bands);
    let on_duty = staff.iter().filter(|(_, r)| *r == room.id).count();
    let headroom = table.headroom(&bands, on_duty);
    RoomRatio {
        room: room.clone(),
        children: u32::try_from(bands.len()).unwrap_or(u32::MAX),
        staff: staff
            .iter()
            .filter(|(_, r)| *r == room.id)
            .map(|(u, _)| *u)
            .collect(),
        needed,
        max_group,
        headroom: headroom.filter(|_| duty.measured),
        measured: duty.measured,
    }
}

impl Core {
    /// The center's ratio table, and its version, as stored.
    pub(crate) async fn ratio_settings_of(
        &self,
        scope: &TenantScope,
    ) -> Result<RatioSettings, CoreError> {
        let stored = self.store().ratio_rules(scope).await?;
        Ok(RatioSettings {
            table: RatioTable::with(&stored.custom),
            version: stored.version,
        })
    }

    /// Alerts the administrators that a room is out of ratio, at most once per room per 15
    /// minutes across nodes and restarts; failures are logged.
    pub(crate) async fn alert_ratio(&self, actor: &Actor, r: &RoomRatio, problem: &str) {
        let window = Duration::from_secs(15 * 60);
        match self
            .once_per("ratio-alert", &r.room.id.to_string(), window)
            .await
        {
            Ok(true) => {
                let text = format!(
                    "{} is out of ratio: {problem}. Send another staff member to the room, or \
                     move children to a room with space. The live board is at /ratios.",
                    crate::mail::literal(&r.room.name)
                );
                let subject = format!("{} is out of ratio", r.room.name);
                self.alert_admins(&actor.scope, &subject, &text).await;
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "the ratio alert could not be recorded"),
        }
    }
}

impl Attendance<'_> {
    /// Every room the actor works with, and its ratio now.
    pub async fn ratios(&self, actor: &Actor) -> Result<Vec<RoomRatio>, CoreError> {
        Ok(self.today(actor).await?.ratios)
    }

    /// The ratios of `rooms` on `day`, from the enrolled children and the day's events the
    /// caller has read: the one place that reads who is on duty and the center's table.
    pub(crate) async fn measure(
        &self,
        scope: &TenantScope,
        day: &str,
        rooms: &[Classroom],
        children: &[Child],
        events: &[AttendanceEvent],
    ) -> Result<Vec<RoomRatio>, CoreError> {
        let duty = OnDuty::of(&self.store().staff_day(scope, day).await?);
        let table = self.ratio_settings_of(scope).await?.table;
        Ok(rooms
            .iter()
            .map(|r| room_ratio(r, children, events, &duty, &table, day))
            .collect())
    }

    /// The center's ratio table and its version (any staff role).
    pub async fn ratio_table(&self, actor: &Actor) -> Result<RatioSettings, CoreError> {
        policy::require(actor, Action::CheckInOut)?;
        self.ratio_settings_of(&actor.scope).await
    }

    /// Sets the center's ratio table (administrators), from version `version` of it when given:
    /// a table changed since is refused (`409 conflict`), never saved over a change the editor
    /// never saw. Each row: 1 to 50 children per staff member, a group of 1 to 200 and no
    /// smaller than one staff member's children. Rows equal to the default are not stored, so
    /// a later change of the default reaches them.
    pub async fn set_ratio_table(
        &self,
        actor: &Actor,
        rows: &[RatioRule],
        version: Option<i64>,
    ) -> Result<RatioSettings, CoreError> {
        Core::require_admin_scope(actor)?;
        let mut custom = Vec::new();
        for d in RatioRule::CFOC {
            let Some(r) = rows.iter().find(|r| r.band == d.band) else {
                continue;
            };
            if !(1..=50).contains(&r.children_per_staff) {
                return Err(CoreError::invalid(
                    field(d.band, false),
                    "children per staff member must be 1 to 50",
                ));
            }
            if !(1..=200).contains(&r.max_group) || r.max_group < r.children_per_staff {
                return Err(CoreError::invalid(
                    field(d.band, true),
                    "the group size must be 1 to 200, and at least the children per staff member",
                ));
            }
            if *r != d {
                custom.push(*r);
            }
        }
        let d = self.admin_draft(
            actor,
            Event::RatioRulesChanged {
                custom_bands: custom.iter().map(|r| r.band.as_str().to_owned()).collect(),
            },
        );
        let version = self
            .store()
            .set_ratio_rules(actor.scope.tx().audit(d), custom.clone(), version)
            .await?;
        Ok(RatioSettings {
            table: RatioTable::with(&custom),
            version,
        })
    }
}

/// The form and API field of a band's column.
pub fn field(band: AgeBand, group: bool) -> &'static str {
    match (band, group) {
        (AgeBand::Infant, false) => "infant_ratio",
        (AgeBand::Infant, true) => "infant_group",
        (AgeBand::Toddler, false) => "toddler_ratio",
        (AgeBand::Toddler, true) => "toddler_group",
        (AgeBand::Three, false) => "three_ratio",
        (AgeBand::Three, true) => "three_group",
        (AgeBand::FourFive, false) => "four_five_ratio",
        (AgeBand::FourFive, true) => "four_five_group",
        (AgeBand::SchoolAge, false) => "school_age_ratio",
        (AgeBand::SchoolAge, true) => "school_age_group",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AgeBand::*;

    #[test]
    fn the_default_table_needs_staff_at_the_exact_child() {
        let t = RatioTable::with(&[]);
        assert_eq!(t.need(&[]), (0, None));
        assert_eq!(t.need(&[Toddler; 4]), (1, Some(8)));
        assert_eq!(t.need(&[Toddler; 5]), (2, Some(8)));
        assert_eq!(t.need(&[Infant; 3]).0, 1);
        assert_eq!(t.need(&[Infant; 4]).0, 2);
        assert_eq!(t.need(&[SchoolAge; 24]).0, 2);
        assert_eq!(t.need(&[SchoolAge; 25]).0, 3);
    }

    #[test]
    fn mixed_ages_add_their_shares_without_rounding_error() {
        let t = RatioTable::with(&[]);
        // 4 toddlers (a whole staff member) and 7 three-year-olds (another): 2, not 3.
        let mut room = vec![Toddler; 4];
        room.extend([Three; 7]);
        assert_eq!(t.need(&room), (2, Some(8)));
        // 1 infant (1/3) + 2 toddlers (1/2) + 1 four-year-old (1/8) = 23/24: one staff member.
        assert_eq!(t.need(&[Infant, Toddler, Toddler, FourFive]).0, 1);
        // ... and one more four-year-old makes 26/24: two.
        assert_eq!(t.need(&[Infant, Toddler, Toddler, FourFive, FourFive]).0, 2);
    }

    #[test]
    fn a_center_row_replaces_the_default_row_only() {
        let t = RatioTable::with(&[RatioRule::new(Toddler, 5, 10)]);
        assert_eq!(t.need(&[Toddler; 5]), (1, Some(10)));
        assert_eq!(t.rule(Infant), RatioRule::CFOC[0]);
    }

    #[test]
    fn headroom_counts_the_children_of_the_youngest_band_that_still_fit() {
        let t = RatioTable::with(&[]);
        assert_eq!(t.headroom(&[], 1), None, "no child: nothing to measure");
        // Two infants and one staff member (1 in 3): one more.
        assert_eq!(t.headroom(&[Infant, Infant], 1), Some(1));
        assert_eq!(t.headroom(&[Infant; 3], 1), Some(0));
        assert_eq!(t.headroom(&[Infant; 4], 1), Some(0), "already out of ratio");
        // Three toddlers and two staff: the group size (8) stops it before the ratio (8).
        assert_eq!(t.headroom(&[Toddler; 3], 2), Some(5));
        assert_eq!(
            t.headroom(&[Toddler; 3], 3),
            Some(5),
            "group size, not staff"
        );
        // Mixed: the youngest band present is the one counted.
        assert_eq!(t.headroom(&[FourFive, Toddler], 1), Some(2));
    }

    #[test]
    fn ages_are_counted_in_whole_months_on_the_day() {
        assert_eq!(band_on("2025-12-06", "2026-12-06"), Infant);
        assert_eq!(band_on("2025-12-05", "2027-01-06"), Toddler);
        assert_eq!(band_on("2023-12-07", "2026-12-06"), Toddler);
        assert_eq!(band_on("2023-12-06", "2026-12-06"), Three);
        assert_eq!(band_on("2020-12-06", "2026-12-06"), SchoolAge);
        assert_eq!(band_on("garbage", "2026-12-06"), Infant);
    }
}
