//! Sign-in throttling.
//!
//! - Per account, and per (account, IP): after a few failures (password or MFA), each further
//!   attempt must wait a delay that doubles with every failure, up to a cap. There is no hard
//!   lock: the delay is bounded, so an attacker cannot keep the real user out for long, and the
//!   (account, IP) delay grows faster than the account-wide one.
//! - Per IP, a generous token bucket (governor): a center's whole staff shares one public IP,
//!   so 60 sign-ins a minute pass before slowing.
//!
//! State is per node, in memory; a restart clears it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    /// Failures per (account, IP) allowed before delays start.
    pub free_per_account_ip: u32,
    /// Failures per account (any IP) allowed before delays start.
    pub free_per_account: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Failures are forgotten after this long without a new one.
    pub forget_after: Duration,
    pub per_ip_per_minute: u32,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            free_per_account_ip: 3,
            free_per_account: 10,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            forget_after: Duration::from_secs(15 * 60),
            per_ip_per_minute: 60,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last_ms: i64,
}

pub struct Throttle {
    settings: ThrottleSettings,
    failures: Mutex<HashMap<String, Failures>>,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl Throttle {
    pub fn new(settings: ThrottleSettings) -> Self {
        let per_ip = NonZeroU32::new(settings.per_ip_per_minute)
            .map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        Self {
            settings,
            failures: Mutex::new(HashMap::new()),
            per_ip,
        }
    }

    fn keys(account: &str, ip: Option<&str>) -> (String, String) {
        (
            format!("a\n{account}"),
            format!("ai\n{account}\n{}", ip.unwrap_or("-")),
        )
    }

    fn delay_ms(&self, f: Option<Failures>, free: u32, now_ms: i64) -> i64 {
        let Some(f) = f else { return 0 };
        if now_ms - f.last_ms > crate::clock::ms(self.settings.forget_after) || f.count < free {
            return 0;
        }
        let doublings = (f.count - free).min(20);
        let delay = self
            .settings
            .base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.settings.max_delay);
        (f.last_ms + crate::clock::ms(delay) - now_ms).max(0)
    }

    /// Ok, or the seconds to wait.
    pub fn check(&self, account: &str, ip: Option<&str>, now_ms: i64) -> Result<(), u64> {
        if let (Some(limiter), Some(addr)) =
            (&self.per_ip, ip.and_then(|i| i.parse::<IpAddr>().ok()))
        {
            if let Err(not_until) = limiter.check_key(&addr) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return Err(wait.as_secs().max(1));
            }
        }
        let (a, ai) = Self::keys(account, ip);
        let map = self.failures.lock().map_err(|_| 1u64)?;
        let wait = self
            .delay_ms(
                map.get(&ai).copied(),
                self.settings.free_per_account_ip,
                now_ms,
            )
            .max(self.delay_ms(map.get(&a).copied(), self.settings.free_per_account, now_ms));
        if wait > 0 {
            Err(u64::try_from((wait + 999) / 1000).unwrap_or(1))
        } else {
            Ok(())
        }
    }

    pub fn failed(&self, account: &str, ip: Option<&str>, now_ms: i64) {
        let (a, ai) = Self::keys(account, ip);
        let forget = crate::clock::ms(self.settings.forget_after);
        if let Ok(mut map) = self.failures.lock() {
            for k in [a, ai] {
                let f = map.entry(k).or_insert(Failures {
                    count: 0,
                    last_ms: now_ms,
                });
                if now_ms - f.last_ms > forget {
                    f.count = 0;
                }
                f.count = f.count.saturating_add(1);
                f.last_ms = now_ms;
            }
            if map.len() > 100_000 {
                map.retain(|_, f| now_ms - f.last_ms <= forget);
            }
        }
    }

    pub fn succeeded(&self, account: &str, ip: Option<&str>) {
        let (a, ai) = Self::keys(account, ip);
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&a);
            map.remove(&ai);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_then_forgets() {
        let t = Throttle::new(ThrottleSettings::default());
        let ip = Some("10.0.0.1");
        let mut now = 1_000_000;
        for _ in 0..3 {
            assert!(t.check("acct", ip, now).is_ok());
            t.failed("acct", ip, now);
        }
        assert_eq!(t.check("acct", ip, now), Err(1));
        assert!(
            t.check("acct", Some("10.0.0.2"), now).is_ok(),
            "another IP is not slowed yet"
        );
        now += 1_000;
        t.failed("acct", ip, now);
        assert_eq!(t.check("acct", ip, now), Err(2));
        now += 16 * 60 * 1000;
        assert!(t.check("acct", ip, now).is_ok(), "failures are forgotten");
        t.succeeded("acct", ip);
    }

    #[test]
    fn delay_is_capped() {
        let t = Throttle::new(ThrottleSettings {
            per_ip_per_minute: 0,
            ..Default::default()
        });
        for _ in 0..50 {
            t.failed("acct", None, 0);
        }
        assert_eq!(t.check("acct", None, 0), Err(60));
        assert!(t.check("acct", None, 60_000).is_ok(), "no hard lock");
    }
}
