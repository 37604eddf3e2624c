//! Staff attendance and ratios: who is clocked in to which room, and how many children each
//! staff member may look after, by age.

use serde::Serialize;

use crate::ids::{ClassroomId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    ClockIn,
    ClockOut,
}

impl ClockKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockKind::ClockIn => "clock_in",
            ClockKind::ClockOut => "clock_out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ClockKind::ClockIn, ClockKind::ClockOut]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A staff member clocking in to a room or out of it.
#[derive(Debug, Clone, Serialize)]
pub struct StaffEvent {
    pub id: uuid::Uuid,
    pub user_id: UserId,
    pub classroom_id: ClassroomId,
    pub kind: ClockKind,
    /// `YYYY-MM-DD` in the center's calendar.
    pub day: String,
    pub at_ms: i64,
    /// The staff member themselves, or the administrator who corrected their record.
    pub recorded_by: UserId,
    /// Why an administrator recorded it for someone else.
    pub reason: Option<String>,
}

/// An age band of the ratio table (CFOC 1.1.1.2's rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeBand {
    /// Up to 12 months.
    Infant,
    /// 13 to 35 months.
    Toddler,
    /// 3 years.
    Three,
    /// 4 and 5 years.
    FourFive,
    /// 6 years and over.
    SchoolAge,
}

impl AgeBand {
    pub const ALL: [AgeBand; 5] = [
        AgeBand::Infant,
        AgeBand::Toddler,
        AgeBand::Three,
        AgeBand::FourFive,
        AgeBand::SchoolAge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgeBand::Infant => "infant",
            AgeBand::Toddler => "toddler",
            AgeBand::Three => "three",
            AgeBand::FourFive => "four_five",
            AgeBand::SchoolAge => "school_age",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }

    /// The name a person reads.
    pub fn label(self) -> &'static str {
        match self {
            AgeBand::Infant => "Up to 12 months",
            AgeBand::Toddler => "13–35 months",
            AgeBand::Three => "3 years",
            AgeBand::FourFive => "4–5 years",
            AgeBand::SchoolAge => "School-age (6 and over)",
        }
    }

    /// The band of a child who is `months` old (whole months).
    pub fn of_months(months: i64) -> Self {
        match months {
            ..=12 => AgeBand::Infant,
            13..=35 => AgeBand::Toddler,
            36..=47 => AgeBand::Three,
            48..=71 => AgeBand::FourFive,
            _ => AgeBand::SchoolAge,
        }
    }
}

/// One row of a ratio table: how many children of the band one staff member may look after,
/// and the largest group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RatioRule {
    pub band: AgeBand,
    pub children_per_staff: u32,
    pub max_group: u32,
}

/// A center's own ratio rows (bands without one follow the default table), and the version of
/// its table: a counter each change moves on by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatioRules {
    pub custom: Vec<RatioRule>,
    pub version: i64,
}

impl RatioRule {
    /// The CFOC 1.1.1.2 table, the default for every center.
    pub const CFOC: [RatioRule; 5] = [
        RatioRule::new(AgeBand::Infant, 3, 6),
        RatioRule::new(AgeBand::Toddler, 4, 8),
        RatioRule::new(AgeBand::Three, 7, 14),
        RatioRule::new(AgeBand::FourFive, 8, 16),
        RatioRule::new(AgeBand::SchoolAge, 12, 24),
    ];

    pub const fn new(band: AgeBand, children_per_staff: u32, max_group: u32) -> Self {
        Self {
            band,
            children_per_staff,
            max_group,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_the_cfoc_rows_at_their_edges() {
        let cases = [
            (0, AgeBand::Infant),
            (12, AgeBand::Infant),
            (13, AgeBand::Toddler),
            (35, AgeBand::Toddler),
            (36, AgeBand::Three),
            (47, AgeBand::Three),
            (48, AgeBand::FourFive),
            (71, AgeBand::FourFive),
            (72, AgeBand::SchoolAge),
        ];
        for (months, band) in cases {
            assert_eq!(AgeBand::of_months(months), band, "{months} months");
        }
        for b in AgeBand::ALL {
            assert_eq!(AgeBand::parse(b.as_str()), Some(b));
        }
    }
}
