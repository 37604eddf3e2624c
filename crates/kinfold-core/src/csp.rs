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

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl Intake {
    pub(crate) fn new() -> Self {
        Self {
            per_ip: IpLimiter::per_minute(
                NonZeroU32::new(PER_IP_PER_MINUTE).unwrap_or(NonZeroU32::MIN),
            ),
            per_node: RateLimiter::direct(per_minute(PER_NODE_PER_MINUTE)),
            writing: Semaphore::new(1),
            refused: AtomicU64::new(0),
        }
    }

    fn refuse<T>(&self) -> Option<T> {
        self.refused.fetch_add(1, Ordering::Relaxed);
        None
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
        let intake = &self.inner.csp;
        let ip = ip
            .and_then(|i| i.parse::<IpAddr>().ok())
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let allowed = intake.per_ip.check(ip).is_ok();
        if !allowed {
            intake.refuse::<()>();
        }
        allowed
    }

    /// Leave to store a report that is read and fit to keep, or `None`: the node's one write
    /// in flight is taken first and its bucket only then, so a report dropped because another
    /// is being written does not spend the node's limit.
    pub fn csp_report_permit(&self) -> Option<CspPermit<'_>> {
        let intake = &self.inner.csp;
        let Ok(writing) = intake.writing.try_acquire() else {
            return intake.refuse();
        };
        if intake.per_node.check().is_err() {
            return intake.refuse();
        }
        Some(CspPermit(writing))
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
