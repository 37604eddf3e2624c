//! Settings the services read. The binary builds them from config (TOML + `KINFOLD_*`).

use std::time::Duration;

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
    /// Password hashing: concurrent hashes, and how many more may wait.
    pub hash_workers: usize,
    pub hash_queue: usize,
    pub throttle: crate::throttle::ThrottleSettings,
    pub audit: crate::audit::AuditSettings,
    /// Where links in messages point, e.g. `https://kinfold.example`.
    pub public_url: String,
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
            hash_workers: cpus,
            hash_queue: cpus * 8,
            throttle: Default::default(),
            audit: Default::default(),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

impl Settings {
    /// How often `last_seen` is written: at least every min(60 s, idle / 4).
    pub fn touch_interval(&self) -> Duration {
        (self.session_idle_timeout / 4).min(Duration::from_secs(60))
    }
}
