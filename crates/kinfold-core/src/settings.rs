//! Settings the services read. The binary builds them from config (TOML + `KINFOLD_*`).

use std::time::Duration;

use kinfold_store::CenterSessionPolicy;

#[derive(Debug, Clone)]
pub struct Settings {
    /// A4: a session idle this long is refused.
    pub session_idle_timeout: Duration,
    /// A4 / NIST SP 800-63B AAL2: staff re-authenticate after this long.
    pub session_max_lifetime_staff: Duration,
    pub session_max_lifetime_parent: Duration,
    pub max_sessions_per_user: u32,
    /// How long an `mfa_token` lives, and how many codes it may try.
    pub mfa_token_ttl: Duration,
    pub mfa_token_attempts: i64,
    /// How long an enrollment link lives.
    pub enrollment_ttl: Duration,
    /// How long a password reset link lives.
    pub password_reset_ttl: Duration,
    /// Password hashing: concurrent hashes, and how many more may wait.
    pub hash_workers: usize,
    pub hash_queue: usize,
    /// Passwords and pickup passphrases: per account and per (account, IP).
    pub throttle: crate::throttle::ThrottleSettings,
    /// Second-factor codes, per account across every `mfa_token`: 10 wrong codes, then each
    /// further code waits (doubling, up to 15 minutes). Only a correct code or an
    /// administrator's MFA reset clears the count; it is forgotten after a day without one.
    pub mfa_throttle: crate::throttle::ThrottleSettings,
    /// Password reset requests: every request counts as an attempt, so one account gets a
    /// few links and then must wait (doubling, up to 15 minutes; the count is forgotten after
    /// an hour without a request); one IP gets 10 a minute.
    pub reset_throttle: crate::throttle::ThrottleSettings,
    pub audit: crate::audit::AuditSettings,
    /// Where links in messages point, e.g. `https://kinfold.example`.
    pub public_url: String,
    pub mail: MailSettings,
}

/// The outbox and its delivery worker (E1, O2).
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The sending domain (`kinfold email domain add`); the first one set up if unset.
    pub sending_domain: Option<String>,
    /// `From: CENTER <LOCAL@DOMAIN>`.
    pub from_local_part: String,
    /// Attempts before a delivery is `failed`.
    pub max_attempts: i64,
    /// Retry `n` waits `backoff_base * 2^(n-1)`, at most `backoff_max`, times a jitter in
    /// [0.5, 1.5).
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long a worker holds a delivery it is sending.
    pub lease: Duration,
    /// Deliveries in flight at once, in all and per destination domain.
    pub concurrency: usize,
    pub per_domain: usize,
    /// The worker also looks for work this often (deferred retries, other nodes' messages);
    /// a message queued on this node wakes it at once.
    pub poll: Duration,
    pub max_text_chars: usize,
    pub max_html_bytes: usize,
    /// Mailgun's webhook signing key; its webhook route answers 404 without it.
    pub mailgun_key: Option<WebhookKey>,
    /// The shared secret of `Kinfold-Signature` (generic events and raw reports).
    pub webhook_secret: Option<WebhookKey>,
    /// O5: bounce and complaint rates are kept over this window...
    pub rate_window: Duration,
    /// ...and non-essential sending pauses above these, once this many were sent in it.
    pub max_bounce_rate: f64,
    pub max_complaint_rate: f64,
    pub rate_min_volume: i64,
    /// E6: the volume anomaly check (see `mail::anomaly`).
    pub anomaly: crate::mail::anomaly::Limits,
}

/// A webhook signing secret. Never printed.
#[derive(Clone)]
pub struct WebhookKey(Vec<u8>);

impl WebhookKey {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKey(..)")
    }
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            sending_domain: None,
            from_local_part: "notifications".into(),
            max_attempts: 8,
            backoff_base: Duration::from_secs(60),
            backoff_max: Duration::from_secs(4 * 3600),
            lease: Duration::from_secs(600),
            concurrency: 16,
            per_domain: 4,
            poll: Duration::from_secs(1),
            max_text_chars: 50_000,
            max_html_bytes: 200_000,
            mailgun_key: None,
            webhook_secret: None,
            rate_window: Duration::from_secs(7 * 24 * 3600),
            max_bounce_rate: 0.014,
            max_complaint_rate: 0.0003,
            rate_min_volume: 500,
            anomaly: crate::mail::anomaly::Limits {
                baseline_after_hours: 168,
                ceiling: 2000,
                floor: 100,
                sigmas: 4.0,
                growth: 3.0,
            },
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self {
            session_idle_timeout: Duration::from_secs(8 * 3600),
            session_max_lifetime_staff: Duration::from_secs(12 * 3600),
            session_max_lifetime_parent: Duration::from_secs(30 * 24 * 3600),
            max_sessions_per_user: 5,
            mfa_token_ttl: Duration::from_secs(300),
            mfa_token_attempts: 5,
            enrollment_ttl: Duration::from_secs(72 * 3600),
            password_reset_ttl: Duration::from_secs(3600),
            hash_workers: cpus,
            hash_queue: cpus * 8,
            throttle: Default::default(),
            mfa_throttle: crate::throttle::ThrottleSettings {
                free_per_account_ip: 10,
                free_per_account: 10,
                base_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(15 * 60),
                forget_after: Duration::from_secs(24 * 3600),
                per_ip_per_minute: 0,
            },
            reset_throttle: crate::throttle::ThrottleSettings {
                free_per_account_ip: 3,
                free_per_account: 5,
                base_delay: Duration::from_secs(60),
                max_delay: Duration::from_secs(15 * 60),
                forget_after: Duration::from_secs(3600),
                per_ip_per_minute: 10,
            },
            audit: Default::default(),
            public_url: "http://127.0.0.1:8080".into(),
            mail: Default::default(),
        }
    }
}

/// The shortest idle timeout a center may set for its sessions (A4): shorter would sign
/// people out between two taps of a kiosk day.
pub const MIN_CENTER_IDLE: Duration = Duration::from_secs(5 * 60);

impl Settings {
    /// The idle timeout a center's sessions are held to: the center's own, within the
    /// operator's (a center may only make it shorter).
    pub fn idle_timeout_for(&self, center: &CenterSessionPolicy) -> Duration {
        center
            .idle_timeout_secs
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .map_or(self.session_idle_timeout, |d| {
                d.clamp(
                    MIN_CENTER_IDLE.min(self.session_idle_timeout),
                    self.session_idle_timeout,
                )
            })
    }

    /// The sessions each person of a center may have at once: the center's own cap, within
    /// the operator's.
    pub fn session_cap_for(&self, center: &CenterSessionPolicy) -> u32 {
        center.cap_within(self.max_sessions_per_user)
    }
}

/// How often `last_seen` is written, for an idle timeout: at least every min(60 s, idle / 4).
pub fn touch_interval(idle: Duration) -> Duration {
    (idle / 4).min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn center(idle_secs: Option<i64>, max: Option<i64>) -> CenterSessionPolicy {
        CenterSessionPolicy {
            idle_timeout_secs: idle_secs,
            max_sessions: max,
        }
    }

    #[test]
    fn a_center_is_held_within_the_operators_limits() {
        let s = Settings {
            session_idle_timeout: Duration::from_secs(20 * 60),
            max_sessions_per_user: 3,
            ..Settings::default()
        };
        // Stricter: the center's own.
        assert_eq!(
            s.idle_timeout_for(&center(Some(600), Some(1))),
            Duration::from_secs(600)
        );
        assert_eq!(s.session_cap_for(&center(None, Some(1))), 1);
        // Set when the operator allowed more, or written around the service: the operator's.
        assert_eq!(
            s.idle_timeout_for(&center(Some(30 * 60), None)),
            Duration::from_secs(20 * 60)
        );
        assert_eq!(s.session_cap_for(&center(None, Some(9))), 3);
        // Below the floor, negative or absurd: never shorter than five minutes, never a cap
        // under one, never looser than the operator.
        assert_eq!(s.idle_timeout_for(&center(Some(1), None)), MIN_CENTER_IDLE);
        assert_eq!(
            s.idle_timeout_for(&center(Some(-5), None)),
            Duration::from_secs(20 * 60)
        );
        assert_eq!(
            s.idle_timeout_for(&center(Some(i64::MAX), None)),
            Duration::from_secs(20 * 60)
        );
        assert_eq!(s.session_cap_for(&center(None, Some(0))), 1);
        assert_eq!(s.session_cap_for(&center(None, Some(-1))), 3);
        assert_eq!(s.session_cap_for(&center(None, None)), 3);
        // An operator under five minutes: the operator's, whatever the center stored.
        let tight = Settings {
            session_idle_timeout: Duration::from_secs(3),
            ..Settings::default()
        };
        assert_eq!(
            tight.idle_timeout_for(&center(Some(600), None)),
            Duration::from_secs(3)
        );
    }
}
