//! CSP violation reports (W7: the `report-uri` and Reporting API endpoint), taken in with limits
//! that an unauthenticated flood does not pass:
//! - each address (an IPv6 /64) may send [`PER_IP_PER_MINUTE`];
//! - every address together, [`PER_NODE_PER_MINUTE`] per node, so a flood from many
//!   addresses is held to the same figure;
//! - one report is written at a time: a report that arrives while another is being written
//!   is dropped, so reports never queue for the connections that sign-in throttle counters
//!   share with them (on PostgreSQL, the small pool that does not wait for a standby);
//! - the table keeps [`KEPT_DAYS`] days and at most [`KEPT_REPORTS`] reports, pruned each
//!   minute with the throttles.
//!
//! Reports refused by any limit are counted, and the count is logged once a minute.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::throttle::IpLimiter;
use crate::{Core, CoreError};

/// Reports each address may send a minute.
pub const PER_IP_PER_MINUTE: u32 = 30;
/// Reports a node stores a minute, from every address together.
pub const PER_NODE_PER_MINUTE: u32 = 120;
/// The most reports the table keeps (the newest), and how long a report is kept: the store's
/// figures, which PostgreSQL's row-level security holds the app role to as well.
pub use kinfold_store::audit::{CSP_KEPT_DAYS as KEPT_DAYS, CSP_KEPT_REPORTS as KEPT_REPORTS};

pub(crate) struct Intake {
    per_ip: IpLimiter,
    per_node: DefaultDirectRateLimiter,
    writing: Semaphore,
    refused: AtomicU64,
}

fn per_minute(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Intake {
    pub(crate) fn new() -> Self {
        Self {
            per_ip: IpLimiter::per_minute(per_minute(PER_IP_PER_MINUTE)),
            per_node: RateLimiter::direct(Quota::per_minute(per_minute(PER_NODE_PER_MINUTE))),
            writing: Semaphore::new(1),
            refused: AtomicU64::new(0),
        }
    }

    /// Counts a refusal; `None`, for the caller to return.
    fn refuse<T>(&self) -> Option<T> {
        self.refused.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Whether `ip` (none readable: one shared bucket) is within its own limit.
    fn address_allowed(&self, ip: Option<&str>) -> bool {
        let ip = ip
            .and_then(|i| i.parse::<IpAddr>().ok())
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        self.per_ip.check(ip).is_ok() || self.refuse::<()>().is_some()
    }

    /// The one write in flight, taken before the node's bucket is spent.
    fn permit(&self) -> Option<CspPermit<'_>> {
        let Ok(writing) = self.writing.try_acquire() else {
            return self.refuse();
        };
        if self.per_node.check().is_err() {
            return self.refuse();
        }
        Some(CspPermit(writing))
    }

    /// Addresses whose bucket is held (for the bound on the limiter's memory).
    pub(crate) fn addresses(&self) -> usize {
        self.per_ip.len()
    }
}

/// Leave to write one report: within the limits, and the node's one write in flight.
pub struct CspPermit<'a>(#[allow(dead_code)] SemaphorePermit<'a>);

impl Core {
    /// Whether `ip` is within its own limit (reports without a readable address share one
    /// bucket): asked before the report is read.
    pub fn csp_address_allowed(&self, ip: Option<&str>) -> bool {
        self.inner.csp.address_allowed(ip)
    }

    /// Leave to store a report that is read and fit to keep, or `None`: the node's one write
    /// in flight is taken first and its bucket only then, so a report dropped because another
    /// is being written does not spend the node's limit.
    pub fn csp_report_permit(&self) -> Option<CspPermit<'_>> {
        self.inner.csp.permit()
    }

    /// Keeps a (redacted) report, under its permit.
    pub async fn record_csp_report(
        &self,
        _permit: CspPermit<'_>,
        report: String,
    ) -> Result<(), CoreError> {
        Ok(self
            .store()
            .insert_csp_report(self.now_ms(), report)
            .await?)
    }

    /// Drops idle address buckets and old reports, and logs how many were refused since the
    /// last time. Run every minute with the throttles.
    pub(crate) async fn prune_csp(&self) -> Result<u64, CoreError> {
        let intake = &self.inner.csp;
        intake.per_ip.prune();
        let refused = intake.refused.swap(0, Ordering::Relaxed);
        if refused > 0 {
            tracing::warn!(
                refused,
                "CSP reports refused over the limits in the last minute"
            );
        }
        let before = self.now_ms() - KEPT_DAYS * 24 * 60 * 60 * 1000;
        Ok(self.store().prune_csp_reports(before, KEPT_REPORTS).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unhappy paths of the intake: a report while another is written is refused and
    /// spends nothing of the node's limit; the node's limit holds across addresses; each
    /// refusal is counted.
    #[test]
    fn one_write_at_a_time_and_the_nodes_limit_count_each_refusal() {
        let intake = Intake::new();
        let first = intake.permit();
        assert!(first.is_some());
        for _ in 0..50 {
            assert!(
                intake.permit().is_none(),
                "a second write while one is in flight"
            );
        }
        drop(first);
        // 50 busy refusals spent none of the node's 120: 119 more pass, one after another.
        let mut stored = 1;
        while let Some(p) = intake.permit() {
            drop(p);
            stored += 1;
            assert!(
                stored <= PER_NODE_PER_MINUTE + 1,
                "the node's limit did not hold"
            );
        }
        assert_eq!(stored, PER_NODE_PER_MINUTE);
        assert_eq!(intake.refused.load(Ordering::Relaxed), 51);
        // An address past its own limit; an unreadable one shares a bucket.
        for _ in 0..PER_IP_PER_MINUTE {
            assert!(intake.address_allowed(Some("198.51.100.7")));
        }
        assert!(!intake.address_allowed(Some("198.51.100.7")));
        assert!(intake.address_allowed(Some("198.51.100.8")));
        for _ in 0..PER_IP_PER_MINUTE {
            assert!(intake.address_allowed(Some("not an address")));
        }
        assert!(!intake.address_allowed(None));
        assert_eq!(intake.refused.load(Ordering::Relaxed), 53);
    }
}
