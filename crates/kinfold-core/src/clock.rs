//! Time. Every expiry, retention and deadline reads a [`Clock`], so tests move time instead of
//! sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock tests move by hand. It starts at the real time, except late in the UTC day (from
/// 18:00), when it starts eight hours earlier: a test that moves it on by minutes or hours then
/// stays on one calendar day in a UTC center ("checked in today"), whenever the suite runs.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

const HOUR_MS: i64 = 3_600_000;
/// From this hour of the UTC day, a new [`ManualClock`] starts [`EARLIER`] back.
const LATE_FROM: i64 = 18 * HOUR_MS;
const EARLIER: i64 = 8 * HOUR_MS;

impl Default for ManualClock {
    fn default() -> Self {
        Self(AtomicI64::new(start_at(SystemClock.now_ms())))
    }
}

fn start_at(now: i64) -> i64 {
    if now.rem_euclid(24 * HOUR_MS) >= LATE_FROM {
        now - EARLIER
    } else {
        now
    }
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(
            i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
            Ordering::SeqCst,
        );
    }

    pub fn set_ms(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whenever a suite starts, its clock has at least six hours of the UTC day ahead of it.
    #[test]
    fn a_new_manual_clock_has_hours_of_its_day_ahead() {
        let day = 24 * HOUR_MS;
        let midnight = 20_000 * day;
        for minute in 0..24 * 60 {
            let now = midnight + minute * 60_000;
            let start = start_at(now);
            assert!(start <= now && now - start <= EARLIER);
            assert!(
                day - start.rem_euclid(day) >= 6 * HOUR_MS,
                "started at minute {minute}"
            );
        }
    }
}
