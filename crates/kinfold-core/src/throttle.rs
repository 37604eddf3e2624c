//! Throttles for guessable secrets (A2): passwords, second-factor codes, pickup passphrases and
//! password reset requests.
//!
//! - **Counted where every node sees them.** Attempt counts live in the store
//!   (`kinfold_store::attempts`), keyed by an HMAC of the account (and address) under a key
//!   derived from the master key, so two nodes share one limit and a restart forgets nothing.
//! - **Reserved before the secret is checked.** An attempt takes its slot (compare-and-set on
//!   the counter) before argon2 or the TOTP check runs, so N attempts sent at once count as N;
//!   a correct secret then clears the counter ([`Core::attempt_succeeded`]).
//! - **Delays, not locks.** Per account, and per (account, IP): after a few attempts, each
//!   further one must wait a delay that doubles with every attempt, up to a cap. The real user
//!   is never kept out for longer than the cap.
//! - **Refusals are summarised.** A refused attempt writes nothing but a counter; at most one
//!   `throttled` audit entry per account a minute carries how many were refused.
//! - **Per IP**, a generous token bucket in memory (governor): a center's whole staff shares
//!   one public IP, so 60 sign-ins a minute pass before slowing. Its keys are pruned every
//!   minute ([`Core::prune_throttles`]), so memory stays bounded however many addresses come.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::DefaultClock;
use governor::{Quota, RateLimiter};
use kinfold_audit::Event;
use kinfold_store::attempts::{AttemptKey, Attempts};
use kinfold_store::{Chain, ClientInfo};

use crate::clock::ms;
use crate::{Core, CoreError};

/// How often a refused key may add a `throttled` entry to the audit chain.
const SUMMARY_EVERY_MS: i64 = 60_000;
/// Compare-and-set retries before an attempt is refused as contended (fails closed).
const SWAP_TRIES: usize = 32;

#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    /// Attempts per (account, IP) allowed before delays start.
    pub free_per_account_ip: u32,
    /// Attempts per account (any IP) allowed before delays start.
    pub free_per_account: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Attempts are forgotten after this long without a new one.
    pub forget_after: Duration,
    /// The per-IP bucket; 0 turns it off.
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

/// A per-IP token bucket whose idle keys can be pruned.
pub struct IpLimiter<C: governor::clock::Clock = DefaultClock> {
    limiter: RateLimiter<
        IpAddr,
        governor::state::keyed::DefaultKeyedStateStore<IpAddr>,
        C,
        governor::middleware::NoOpMiddleware<C::Instant>,
    >,
    clock: C,
}

impl IpLimiter {
    pub fn per_minute(n: NonZeroU32) -> Self {
        Self::with_clock(Quota::per_minute(n), DefaultClock::default())
    }
}

impl<C: governor::clock::Clock + Clone> IpLimiter<C> {
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        Self {
            limiter: RateLimiter::new(quota, Default::default(), clock.clone()),
            clock,
        }
    }

    /// Ok, or the seconds to wait (at least 1). Counted per [`bucket`].
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.limiter
            .check_key(&bucket(ip))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()).as_secs().max(1))
    }

    /// Drops the keys whose bucket is full again (indistinguishable from a new one).
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

/// The address a per-IP limit counts: an IPv4 address, or the /64 network of an IPv6 one
/// (one subscriber's allocation, which a client can rotate through at will).
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// Why an attempt was refused, and how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// The address's bucket is empty, whatever account the request named.
    Address { wait: u64, bucket: IpAddr },
    /// The account's (or the account and address's) counter asks for a delay.
    Account { wait: u64 },
}

/// One kind of secret's throttle: its settings, its counter keys and its per-IP bucket.
pub struct Throttle {
    settings: ThrottleSettings,
    /// Separates this throttle's counters from the others' ("sign-in", "mfa", ...).
    name: &'static str,
    /// The HMAC key that turns an account (and address) into a stored key.
    key: [u8; 32],
    per_ip: Option<IpLimiter>,
}

impl Throttle {
    pub fn new(name: &'static str, settings: ThrottleSettings, key: [u8; 32]) -> Self {
        let per_ip = NonZeroU32::new(settings.per_ip_per_minute).map(IpLimiter::per_minute);
        Self {
            settings,
            name,
            key,
            per_ip,
        }
    }

    fn stored_key(&self, parts: &[&str]) -> AttemptKey {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(self.name.as_bytes());
        for p in parts {
            data.push(0);
            data.extend_from_slice(p.as_bytes());
        }
        AttemptKey(crate::keys::hmac(&self.key, &data))
    }

    /// The counters an attempt takes a slot in, with how many are free in each: the
    /// (account, IP) one first (it fills first), then the account's. Where the (account, IP)
    /// allowance is no smaller than the account's, it could never trip first and is left out.
    fn counters(&self, account: &str, ip: Option<&str>) -> Vec<(AttemptKey, u32)> {
        let mut keys = Vec::with_capacity(2);
        let ip = ip.map(|i| {
            i.parse::<IpAddr>()
                .map_or_else(|_| i.to_owned(), |a| bucket(a).to_string())
        });
        match ip {
            Some(ip) if self.settings.free_per_account_ip < self.settings.free_per_account => {
                keys.push((
                    self.stored_key(&["ai", account, &ip]),
                    self.settings.free_per_account_ip,
                ));
            }
            _ => {}
        }
        keys.push((
            self.stored_key(&["a", account]),
            self.settings.free_per_account,
        ));
        keys
    }

    /// Milliseconds an attempt must still wait after `f` attempts.
    fn delay_ms(&self, f: Attempts, free: u32, now_ms: i64) -> i64 {
        if self.forgotten(f, now_ms) || f.failures < i64::from(free) {
            return 0;
        }
        let over = u32::try_from(f.failures - i64::from(free)).unwrap_or(u32::MAX);
        let delay = self
            .settings
            .base_delay
            .saturating_mul(1u32 << over.min(20))
            .min(self.settings.max_delay);
        (f.last_ms + ms(delay) - now_ms).max(0)
    }

    fn forgotten(&self, f: Attempts, now_ms: i64) -> bool {
        now_ms - f.last_ms > ms(self.settings.forget_after)
    }

    fn per_ip(&self, ip: Option<&str>) -> Result<(), Refused> {
        match (&self.per_ip, ip.and_then(|i| i.parse::<IpAddr>().ok())) {
            (Some(limiter), Some(addr)) => limiter.check(addr).map_err(|wait| Refused::Address {
                wait,
                bucket: bucket(addr),
            }),
            _ => Ok(()),
        }
    }

    /// Takes a slot for one attempt in every counter, or says why not and how long to wait.
    /// Ok holds the account's count, this attempt included.
    async fn reserve(
        &self,
        store: &dyn kinfold_store::Store,
        account: &str,
        ip: Option<&str>,
        now_ms: i64,
    ) -> Result<Result<i64, Refused>, CoreError> {
        if let Err(refused) = self.per_ip(ip) {
            return Ok(Err(refused));
        }
        let expires_ms = now_ms + ms(self.settings.forget_after);
        let mut count = 0;
        for (key, free) in self.counters(account, ip) {
            let mut taken = false;
            for _ in 0..SWAP_TRIES {
                let old = store.attempts(&key).await?;
                let next = match old {
                    Some(f) => {
                        let wait = self.delay_ms(f, free, now_ms);
                        if wait > 0 {
                            let wait = u64::try_from((wait + 999) / 1000).unwrap_or(1);
                            return Ok(Err(Refused::Account { wait }));
                        }
                        let failures = if self.forgotten(f, now_ms) {
                            1
                        } else {
                            f.failures.saturating_add(1)
                        };
                        Attempts {
                            failures,
                            last_ms: now_ms.max(f.last_ms),
                        }
                    }
                    None => Attempts {
                        failures: 1,
                        last_ms: now_ms,
                    },
                };
                if store.swap_attempts(&key, old, next, expires_ms).await? {
                    taken = true;
                    count = next.failures;
                    break;
                }
            }
            if !taken {
                return Ok(Err(Refused::Account { wait: 1 }));
            }
        }
        Ok(Ok(count))
    }

    async fn clear(
        &self,
        store: &dyn kinfold_store::Store,
        account: &str,
        ip: Option<&str>,
    ) -> Result<(), CoreError> {
        for (key, _) in self.counters(account, ip) {
            store.clear_attempts(&key).await?;
        }
        Ok(())
    }

    pub fn prune(&self) {
        if let Some(l) = &self.per_ip {
            l.prune();
        }
    }

    /// Keys held by the per-IP bucket (for tests and metrics).
    pub fn per_ip_keys(&self) -> usize {
        self.per_ip.as_ref().map_or(0, IpLimiter::len)
    }
}

/// Which throttle an attempt counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// A password: sign-in, password change, enrollment.
    Password,
    /// An authorized pickup's passphrase, per pickup (counters of their own, which no
    /// sign-in can name).
    Pickup,
    /// A second-factor code, per account across every `mfa_token`: only a correct code or an
    /// administrator's MFA reset clears it.
    SecondFactor,
    /// Password reset requests: every request counts, none clears.
    ResetRequest,
}

impl Core {
    fn throttle_for(&self, secret: Secret) -> &Throttle {
        match secret {
            Secret::Password => &self.inner.throttle,
            Secret::Pickup => &self.inner.pickup_throttle,
            Secret::SecondFactor => &self.inner.mfa_throttle,
            Secret::ResetRequest => &self.inner.reset_throttle,
        }
    }

    /// Reserves one attempt at `secret` for `account` before it is checked, and returns the
    /// account's count with it. A refusal is `Throttled`, summarised in `chain` at most once a
    /// minute per account (`email` names the account there).
    pub(crate) async fn reserve_attempt(
        &self,
        secret: Secret,
        account: &str,
        chain: &Chain,
        email: &str,
        client: &ClientInfo,
    ) -> Result<i64, CoreError> {
        let throttle = self.throttle_for(secret);
        let now = self.now_ms();
        let ip = client.ip.as_deref();
        let refusal = match throttle
            .reserve(self.store().as_ref(), account, ip, now)
            .await?
        {
            Ok(count) => return Ok(count),
            Err(r) => r,
        };
        let wait = match refusal {
            // The account named may be anyone's, or no one's: the summary is the address's,
            // so rotating names from one address still writes one entry a minute.
            Refused::Address { wait, bucket } => {
                let parts = [throttle.name, "address", &bucket.to_string()];
                if let Some(refused) = self.first_refusal_this_minute(&parts).await? {
                    tracing::warn!(ip = %bucket, throttle = throttle.name, refused, "address throttled");
                    let event = Event::AddressThrottled {
                        refused: u64::try_from(refused).unwrap_or(0),
                        retry_after_secs: wait,
                    };
                    self.log(Chain::system(), None, client, event).await?;
                }
                wait
            }
            Refused::Account { wait } => {
                let parts = [throttle.name, "account", account];
                if let Some(refused) = self.first_refusal_this_minute(&parts).await? {
                    tracing::warn!(
                        ip = ip.unwrap_or("-"),
                        throttle = throttle.name,
                        retry_after_secs = wait,
                        refused,
                        "attempts throttled"
                    );
                    let event = Event::Throttled {
                        email: email.to_owned(),
                        retry_after_secs: wait,
                        refused: u64::try_from(refused).ok(),
                    };
                    self.log(chain.to_owned(), None, client, event).await?;
                }
                wait
            }
        };
        Err(CoreError::Throttled {
            retry_after_secs: wait,
        })
    }

    /// Counts one refusal under `parts`; when none was summarised for them in the last minute,
    /// returns how many the summary due now stands for. Every node shares the count.
    pub(crate) async fn first_refusal_this_minute(
        &self,
        parts: &[&str],
    ) -> Result<Option<i64>, CoreError> {
        let key = self
            .inner
            .throttle
            .stored_key(&[&["refused"], parts].concat());
        let now = self.now_ms();
        // Kept long enough to still know the last summary when the next refusal comes.
        let expires = now + 60 * SUMMARY_EVERY_MS;
        Ok(self
            .store()
            .note_refused(&key, now, SUMMARY_EVERY_MS, expires)
            .await?)
    }

    /// The secret was right: its counters for this account (and address) start again.
    pub(crate) async fn attempt_succeeded(
        &self,
        secret: Secret,
        account: &str,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        self.throttle_for(secret)
            .clear(self.store().as_ref(), account, client.ip.as_deref())
            .await
    }

    /// A wrong second-factor code was counted (`count` for the account, this one included).
    /// When it reaches the limit, the account's owner is told, at most once a day: someone
    /// who knows the password is guessing codes.
    pub(crate) async fn second_factor_failed(
        &self,
        scope: &kinfold_store::TenantScope,
        user: &kinfold_store::User,
        account: &str,
        count: i64,
    ) {
        if count < i64::from(self.inner.mfa_throttle.settings.free_per_account) {
            return;
        }
        match self
            .once_per("wrong-codes-email", account, Duration::from_secs(24 * 3600))
            .await
        {
            Ok(true) => self.email_wrong_codes(scope, user).await,
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "the wrong-codes alert could not be recorded"),
        }
    }

    /// Clears an account's second-factor counter (an administrator reset the factor). The
    /// counter is per account only, so no address is needed.
    pub(crate) async fn clear_second_factor_attempts(
        &self,
        account: &str,
    ) -> Result<(), CoreError> {
        self.inner
            .mfa_throttle
            .clear(self.store().as_ref(), account, None)
            .await
    }

    /// True at most once per `window` for this account and reason, across nodes and restarts.
    pub(crate) async fn once_per(
        &self,
        reason: &str,
        account: &str,
        window: Duration,
    ) -> Result<bool, CoreError> {
        let key = self.inner.throttle.stored_key(&["once", reason, account]);
        Ok(self
            .store()
            .once_per(&key, self.now_ms(), ms(window))
            .await?)
    }

    /// Drops idle per-IP buckets and expired attempt counters. Run every minute by `serve`'s
    /// background task ([`Core::spawn_pruning`]).
    pub async fn prune_throttles(&self) -> Result<u64, CoreError> {
        self.inner.throttle.prune();
        self.inner.pickup_throttle.prune();
        self.inner.reset_throttle.prune();
        // Each on its own: a failure of one (say, CSP reports a grant left undeletable) never
        // keeps the other, the attempt counters, from being pruned.
        let reports = self.prune_csp().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "pruning CSP reports failed");
            0
        });
        Ok(self.store().prune_attempts(self.now_ms()).await? + reports)
    }

    /// Prunes the throttles every minute until the last handle to this `Core` is dropped.
    pub(crate) fn spawn_pruning(&self) {
        let weak = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let core = Core { inner };
                if let Err(e) = core.prune_throttles().await {
                    tracing::warn!(error = %e, "pruning the throttles failed");
                }
            }
        });
    }

    /// Keys held by the sign-in per-IP bucket and the CSP report bucket.
    pub fn per_ip_keys(&self) -> (usize, usize) {
        (
            self.inner.throttle.per_ip_keys(),
            self.inner.csp.addresses(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn delay_grows_doubles_and_is_capped() {
        let t = Throttle::new("t", ThrottleSettings::default(), [7; 32]);
        let at = |failures, last_ms| Attempts { failures, last_ms };
        assert_eq!(
            t.delay_ms(at(2, 0), 3, 0),
            0,
            "free attempts wait for nothing"
        );
        assert_eq!(t.delay_ms(at(3, 0), 3, 0), 1_000);
        assert_eq!(t.delay_ms(at(4, 0), 3, 0), 2_000);
        assert_eq!(t.delay_ms(at(4, 0), 3, 1_500), 500);
        assert_eq!(t.delay_ms(at(50, 0), 3, 0), 60_000, "capped");
        assert_eq!(t.delay_ms(at(50, 0), 3, 16 * 60_000), 0, "forgotten");
    }

    #[test]
    fn stored_keys_name_no_account_and_differ_per_throttle() {
        let a = Throttle::new("sign-in", ThrottleSettings::default(), [7; 32]);
        let b = Throttle::new("mfa", ThrottleSettings::default(), [7; 32]);
        let ka = a.stored_key(&["a", "maple\nx@example.com"]);
        assert_ne!(ka, b.stored_key(&["a", "maple\nx@example.com"]));
        assert_ne!(ka, a.stored_key(&["a", "maple\ny@example.com"]));
        assert_ne!(
            a.stored_key(&["x", "b"]),
            a.stored_key(&["xb"]),
            "parts are delimited"
        );
        assert_eq!(format!("{ka:?}"), "AttemptKey");
    }

    #[test]
    fn an_ipv6_client_is_its_64_network_and_a_mapped_v4_its_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(bucket(a), bucket(b));
        assert_ne!(bucket(a), bucket(c));
        assert_eq!(bucket(a).to_string(), "2001:db8:1:2::");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(bucket(mapped), IpAddr::from([192, 0, 2, 7]));
        assert_eq!(
            bucket(IpAddr::from([192, 0, 2, 7])),
            IpAddr::from([192, 0, 2, 7])
        );
    }

    #[test]
    fn a_hundred_thousand_addresses_are_pruned_to_nothing() {
        let clock = FakeRelativeClock::default();
        let limiter = IpLimiter::with_clock(
            Quota::per_minute(NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN)),
            clock.clone(),
        );
        for i in 0..100_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(limiter.check(ip).is_ok());
        }
        assert_eq!(limiter.len(), 100_000);
        limiter.prune();
        assert_eq!(limiter.len(), 100_000, "recent keys are kept");
        clock.advance(Duration::from_secs(2));
        limiter.prune();
        assert!(
            limiter.len() < 10,
            "idle keys are dropped: {}",
            limiter.len()
        );
        // A key still in use survives a prune.
        let busy = IpAddr::from([192, 0, 2, 1]);
        for _ in 0..60 {
            assert!(limiter.check(busy).is_ok());
        }
        assert!(limiter.check(busy).is_err());
        limiter.prune();
        assert_eq!(limiter.len(), 1);
        assert!(limiter.check(busy).is_err(), "pruning forgives nothing");
    }
}
