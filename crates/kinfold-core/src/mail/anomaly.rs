//! The volume anomaly check (E6).
//!
//! Each tenant's hourly volume (recipients queued in that hour) is compared with a baseline
//! learned from its own history: one exponentially weighted mean and variance per hour of the
//! week (168 slots), folded hour by hour, empty hours included. A message that would take the
//! current hour past `mean + sigmas * stddev` (and past `growth * mean`, and past a floor) is
//! held. Until a tenant has `baseline_after` of history (a week), only a fixed ceiling applies,
//! so a new center's first announcements are never held.
//!
//! The baseline is recomputed from the outbox when a message is queued: a few hundred hourly
//! counts, no state to keep in step.

const HOURS_PER_WEEK: usize = 168;
const ALPHA: f64 = 0.3;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    mean: f64,
    var: f64,
    samples: u32,
}

impl Slot {
    fn fold(&mut self, x: f64) {
        if self.samples == 0 {
            self.mean = x;
            self.var = 0.0;
        } else {
            let diff = x - self.mean;
            self.mean += ALPHA * diff;
            self.var = (1.0 - ALPHA) * (self.var + ALPHA * diff * diff);
        }
        self.samples = self.samples.saturating_add(1);
    }
}

/// Tuning, from `MailSettings`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Hours of history before the baseline applies.
    pub baseline_after_hours: i64,
    /// Recipients per hour allowed without a baseline.
    pub ceiling: i64,
    /// Recipients per hour never held, whatever the baseline.
    pub floor: i64,
    pub sigmas: f64,
    pub growth: f64,
}

/// What the check decided for the current hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub hold: bool,
    /// The hour's volume with the new message.
    pub volume: i64,
    /// The most the hour may carry.
    pub limit: i64,
    /// Whether the limit came from the learned baseline (else the fixed ceiling).
    pub learned: bool,
}

/// `history`: (hour number, recipients) for past hours with any volume, ascending;
/// `first_hour`: the hour of the tenant's first message; `now_hour`: the current hour;
/// `volume`: this hour's volume including the new message.
pub fn check(
    history: &[(i64, i64)],
    first_hour: Option<i64>,
    now_hour: i64,
    volume: i64,
    l: &Limits,
) -> Verdict {
    let learned = first_hour.is_some_and(|f| now_hour - f >= l.baseline_after_hours);
    if !learned {
        return Verdict {
            hold: volume > l.ceiling,
            volume,
            limit: l.ceiling,
            learned,
        };
    }
    let mut slots = [Slot::default(); HOURS_PER_WEEK];
    let start = first_hour.unwrap_or(now_hour);
    let mut counts = history.iter().peekable();
    for hour in start..now_hour {
        let mut x = 0;
        while let Some((h, n)) = counts.peek() {
            if *h < hour {
                counts.next();
            } else {
                if *h == hour {
                    x = *n;
                }
                break;
            }
        }
        if let Some(s) = slots.get_mut(slot_of(hour)) {
            s.fold(x as f64);
        }
    }
    let s = slots.get(slot_of(now_hour)).copied().unwrap_or_default();
    let learned_limit = (s.mean + l.sigmas * s.var.sqrt()).max(l.growth * s.mean);
    let limit = (learned_limit.ceil() as i64).max(l.floor);
    Verdict {
        hold: volume > limit,
        volume,
        limit,
        learned,
    }
}

fn slot_of(hour: i64) -> usize {
    usize::try_from(hour.rem_euclid(HOURS_PER_WEEK as i64)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        baseline_after_hours: 168,
        ceiling: 1000,
        floor: 20,
        sigmas: 4.0,
        growth: 3.0,
    };

    #[test]
    fn a_new_center_gets_the_ceiling_only() {
        let v = check(&[], None, 1000, 400, &L);
        assert!(!v.hold && !v.learned, "{v:?}");
        let v = check(&[(990, 50)], Some(990), 1000, 1001, &L);
        assert!(v.hold && v.limit == 1000, "{v:?}");
    }

    #[test]
    fn a_spike_over_the_weekly_pattern_is_held() {
        // Three weeks: 60 recipients every Monday 09:00 (hour-of-week slot 9), quiet otherwise.
        let first = 168 * 100;
        let history: Vec<(i64, i64)> = (0..3).map(|w| (first + 9 + 168 * w, 60)).collect();
        let monday_9 = first + 9 + 168 * 3;
        let usual = check(&history, Some(first), monday_9, 65, &L);
        assert!(!usual.hold && usual.learned, "the usual Monday: {usual:?}");
        let spike = check(&history, Some(first), monday_9, 400, &L);
        assert!(spike.hold, "{spike:?}");
        // The same 65 at 03:00, an hour that is always quiet, is past the floor: held.
        let night = check(&history, Some(first), first + 3 + 168 * 3, 65, &L);
        assert!(night.hold, "{night:?}");
        // A handful at night stays under the floor.
        let few = check(&history, Some(first), first + 3 + 168 * 3, 5, &L);
        assert!(!few.hold, "{few:?}");
    }
}
