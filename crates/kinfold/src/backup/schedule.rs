//! Backups and restore drills on a schedule inside `serve` (D4, D5): `backup_to`,
//! `backup_every`, `backup_keep_daily`, `backup_keep_weekly` and `drill_every`.
//!
//! - A backup is due `backup_every` after the last one recorded in the system chain (so a
//!   restart does not skip or repeat one); a failed backup is logged, recorded as
//!   `backup_failed`, shown to administrators, and tried again after `backup_every` or 15
//!   minutes, whichever is sooner.
//! - After each backup, retention keeps the newest backup of each of the last
//!   `backup_keep_daily` days and of each of the last `backup_keep_weekly` ISO weeks (UTC), and
//!   removes the others from `backup_to`, recorded as `backups_pruned`.
//! - A drill is due `drill_every` after the last one; it restores the newest backup into a
//!   temporary directory, verifies it and records `backup_drill`. A failed drill is an error in
//!   the log and on the administrators' home page.
//!
//! - When the server stops, the schedule stops: an upload to S3 under way stops between two
//!   chunks, aborts its multipart upload and removes what it wrote, and a local backup cut
//!   short leaves only its hidden `.partial-` directory, which is removed. A drill under way is
//!   abandoned where it waits, its temporary copy removed (on PostgreSQL, its scratch database
//!   dropped). Nothing unfinished is named a backup, and nothing is recorded as failed.
//!
//! - Several nodes on one PostgreSQL database run each backup and drill once: a node claims
//!   the job under an advisory lock ([`kinfold_core::Core::exclusive`]) and then checks that it
//!   is still due, since another node may have run it while it waited.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use kinfold_audit::Event;
use kinfold_core::Core;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{drill_newest, take, Dest};
use crate::config::Config;

/// The longest wait before a failed backup is tried again.
const RETRY_AT_MOST: Duration = Duration::from_secs(15 * 60);
/// The longest wait before looking again at a job another node was running.
const LOOK_AGAIN: Duration = Duration::from_secs(60);

/// Starts the schedule when `backup_to` is set. It ends when `stop` turns true, a backup
/// under way first putting away what it began (see the module's notes): await the handle.
pub fn spawn(core: Core, config: Config, stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    let to = config.backup_to.clone()?;
    Some(tokio::spawn(run(core, config, to, stop)))
}

async fn run(core: Core, config: Config, to: String, mut stop: watch::Receiver<bool>) {
    let (mut next_backup, mut next_drill) = first_due(&core, &config).await;
    // Logged and recorded as parsed (`s3://BUCKET/PREFIX` or the path), never as given.
    let shown = Dest::parse(&to).map_or_else(|e| format!("(unusable: {e})"), |d| d.to_string());
    tracing::info!(destination = %shown, every = ?config.backup_every, drill_every = ?config.drill_every, "backup schedule started");
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next_backup.min(next_drill)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if Instant::now() >= next_backup {
            next_backup = Instant::now() + backup_turn(&core, &config, &to, &shown, &stop).await;
        }
        if *stop.borrow() {
            return;
        }
        if Instant::now() >= next_drill {
            next_drill = Instant::now() + drill_turn(&core, &config, &to, &stop).await;
        }
    }
}

/// When the next backup and drill are due, from the last ones the system chain records.
async fn first_due(core: &Core, config: &Config) -> (Instant, Instant) {
    let now_ms = core.now_ms();
    let due = |last: Option<i64>, every: Duration| {
        let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
        let wait_ms = last.map_or(0, |at| at.saturating_add(every_ms).saturating_sub(now_ms));
        Instant::now() + Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0))
    };
    match core.audit_log().deployment_backup_status().await {
        Ok(s) => (
            due(s.last_backup.map(|(at, _)| at), config.backup_every),
            due(s.last_drill.map(|(at, _, _)| at), config.drill_every),
        ),
        Err(e) => {
            tracing::error!(error = %e, "reading the last backup and drill; both are due now");
            (Instant::now(), Instant::now())
        }
    }
}

/// Which job, as the system chain records them.
#[derive(Clone, Copy)]
enum Job {
    Backup,
    Drill,
}

/// How long until `job` is due again, from the last one the system chain records (by any
/// node); `None` when it is due now.
async fn not_due_for(core: &Core, job: Job, every: Duration) -> Option<Duration> {
    let status = core.audit_log().deployment_backup_status().await.ok()?;
    let last = match job {
        Job::Backup => status.last_backup.map(|(at, _)| at),
        Job::Drill => status.last_drill.map(|(at, _, _)| at),
    }?;
    let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
    let left = last.saturating_add(every_ms).saturating_sub(core.now_ms());
    (left > 0).then(|| Duration::from_millis(u64::try_from(left).unwrap_or(0)))
}

/// Claims `job` for this node (one node of a deployment runs each, under an advisory lock on
/// PostgreSQL) and checks it is still due: another node may have run it meanwhile. `Err` says
/// when to look again.
async fn claim(
    core: &Core,
    job: Job,
    every: Duration,
) -> Result<kinfold_store::JobLease, Duration> {
    let name = match job {
        Job::Backup => "backup",
        Job::Drill => "backup drill",
    };
    let lease = match core.exclusive(name).await {
        Ok(Some(lease)) => lease,
        Ok(None) => {
            tracing::debug!(job = name, "another node is running it");
            return Err(every.min(LOOK_AGAIN));
        }
        Err(e) => {
            tracing::error!(job = name, error = %e, "cannot claim the scheduled job; trying again");
            return Err(every.min(RETRY_AT_MOST));
        }
    };
    if let Some(wait) = not_due_for(core, job, every).await {
        return Err(wait);
    }
    // A drill restores a backup: before the first one is recorded (another node may be
    // taking it now) there is nothing to drill, which is not a failed drill.
    if matches!(job, Job::Drill) {
        let backed_up = core
            .audit_log()
            .deployment_backup_status()
            .await
            .is_ok_and(|s| s.last_backup.is_some());
        if !backed_up {
            return Err(every.min(LOOK_AGAIN));
        }
    }
    Ok(lease)
}

/// Runs the due backup when this node claims it; returns how long until the next look.
async fn backup_turn(
    core: &Core,
    config: &Config,
    to: &str,
    shown: &str,
    stop: &watch::Receiver<bool>,
) -> Duration {
    match claim(core, Job::Backup, config.backup_every).await {
        Ok(_lease) => backup_once(core, config, to, shown, stop).await,
        Err(wait) => wait,
    }
}

/// Runs the due drill when this node claims it; returns how long until the next look.
async fn drill_turn(
    core: &Core,
    config: &Config,
    to: &str,
    stop: &watch::Receiver<bool>,
) -> Duration {
    match claim(core, Job::Drill, config.drill_every).await {
        Ok(_lease) => {
            drill_once(core, config, to, stop).await;
            config.drill_every
        }
        Err(wait) => wait,
    }
}

/// Takes a backup and prunes; returns how long until the next try.
async fn backup_once(
    core: &Core,
    config: &Config,
    to: &str,
    shown: &str,
    stop: &watch::Receiver<bool>,
) -> Duration {
    let taken = match Dest::parse(to) {
        Ok(mut dest) => {
            dest.stop_on(stop.clone());
            // Boxed as `Send` here, where the compiler can prove it (it cannot through the
            // spawned loop's generic lifetimes).
            let taking: Pin<Box<dyn Future<Output = anyhow::Result<super::Taken>> + Send + '_>> =
                Box::pin(take(config, &dest));
            taking.await.map(|t| (dest, t))
        }
        Err(e) => Err(e),
    };
    match taken {
        Ok((dest, taken)) => {
            tracing::info!(backup = %taken.id, bytes = taken.bytes, destination = %shown, "scheduled backup written");
            record(core, taken.event()).await;
            prune(core, config, &dest, &taken.id).await;
            config.backup_every
        }
        Err(e) if *stop.borrow() => {
            tracing::info!(destination = %shown, error = %crate::causes(&e), "scheduled backup abandoned: the server is stopping; nothing unfinished was kept");
            config.backup_every
        }
        Err(e) => {
            let detail = crate::causes(&e);
            tracing::error!(destination = %shown, error = %detail, "scheduled backup FAILED; trying again");
            record(
                core,
                Event::BackupFailed {
                    destination: shown.to_owned(),
                    detail,
                },
            )
            .await;
            config.backup_every.min(RETRY_AT_MOST)
        }
    }
}

async fn drill_once(core: &Core, config: &Config, to: &str, stop: &watch::Receiver<bool>) {
    // On a thread of its own, with a runtime of its own (the drill opens the restored copy as
    // a deployment, and the compiler cannot prove that future `Send` through the spawned
    // loop): it blocks nothing the server runs, and the server's runtime shutting down does
    // not pull timers out from under it. When the server stops, the drill is abandoned where
    // it waits and its copy removed; a blocking step still under way (a copy into the removed
    // directory) is not waited for.
    let (config, to_owned, halt) = (config.clone(), to.to_owned(), stop.clone());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let started = std::thread::Builder::new()
        .name("backup-drill".into())
        .spawn(move || {
            let drilled = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| {
                    let dest = Dest::parse(&to_owned)?;
                    let drilled = rt.block_on(drill_newest(&config, &dest, Some(halt)));
                    rt.shutdown_background();
                    drilled
                });
            let _ = tx.send(drilled);
        });
    let drilled = match started {
        Ok(_) => rx
            .await
            .map_err(|_| anyhow::anyhow!("the drill's thread ended without an answer"))
            .and_then(|d| d),
        Err(e) => Err(anyhow::Error::from(e)),
    };
    match drilled {
        Ok(d) => {
            if d.passed() {
                tracing::info!("{}", d.summary());
            } else {
                tracing::error!("{}", d.summary());
            }
            record(core, d.event).await;
        }
        Err(e) if *stop.borrow() => {
            tracing::info!(error = %crate::causes(&e), "scheduled restore drill abandoned: the server is stopping")
        }
        Err(e) => {
            tracing::error!(error = %crate::causes(&e), "scheduled restore drill could not run")
        }
    }
}

/// Removes the backups retention does not keep. Only this deployment's backups count: one
/// whose manifest does not verify with its key (another deployment's, or a damaged one) is
/// neither ranked nor removed, nor is one dated in the future; the backup just taken is kept.
async fn prune(core: &Core, config: &Config, dest: &Dest, just_taken: &str) {
    // A drill restores the newest backup it listed, which a backup taken meanwhile makes an
    // older one: retention waits while a drill runs (on any node, or from the command line),
    // and the next backup's turn removes what this one would have.
    let _no_drill = match core.exclusive("backup drill").await {
        Ok(Some(lease)) => lease,
        Ok(None) => {
            tracing::info!("a restore drill is running; retention waits for the next backup");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot hold restore drills off; no backup removed");
            return;
        }
    };
    let listed = match dest.list().await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %crate::causes(&e), "listing backups for retention; none removed");
            return;
        }
    };
    let keys = match crate::runtime::master_key(config, crate::runtime::KeyPolicy::MustExist) {
        Ok(key) => super::manifest::BackupKeys::of(&key),
        Err(e) => {
            tracing::error!(error = %crate::causes(&e), "reading the master key for retention; none removed");
            return;
        }
    };
    let tomorrow = time::OffsetDateTime::now_utc().date().next_day();
    let mut ids = Vec::new();
    for id in listed {
        if day_of(&id).is_none_or(|d| Some(d) > tomorrow) {
            tracing::warn!(backup = %id, "a backup dated in the future is left alone by retention");
        } else if super::checked_manifest(dest, &id, &keys).await.is_ok() {
            ids.push(id);
        } else {
            tracing::warn!(backup = %id, "a backup whose manifest does not verify with this deployment's key is left alone by retention");
        }
    }
    let mut keep = kept(&ids, config.backup_keep_daily, config.backup_keep_weekly);
    keep.insert(just_taken);
    let mut removed = Vec::new();
    for id in ids.iter().filter(|id| !keep.contains(id.as_str())) {
        match dest.remove(id).await {
            Ok(()) => removed.push(id.clone()),
            Err(e) => {
                tracing::error!(backup = %id, error = %crate::causes(&e), "removing an old backup")
            }
        }
    }
    if !removed.is_empty() {
        tracing::info!(removed = removed.len(), "old backups removed by retention");
        record(
            core,
            Event::BackupsPruned {
                destination: dest.to_string(),
                backup_ids: removed,
            },
        )
        .await;
    }
}

/// The backups retention keeps, of `ids` (oldest first, as [`Dest::list`] gives them): the
/// newest of each of the newest `daily` days and of the newest `weekly` ISO weeks. The newest
/// backup is always kept.
pub fn kept(ids: &[String], daily: u32, weekly: u32) -> BTreeSet<&str> {
    let mut keep = BTreeSet::new();
    let mut days = BTreeSet::new();
    let mut weeks = BTreeSet::new();
    for id in ids.iter().rev() {
        let Some(date) = day_of(id) else { continue };
        let (year, week, _) = date.to_iso_week_date();
        let day_new = days.len() < daily as usize && days.insert(date);
        let week_new = weeks.len() < weekly as usize && weeks.insert((year, week));
        if day_new || week_new || keep.is_empty() {
            keep.insert(id.as_str());
        }
    }
    keep
}

/// The UTC day a backup ID was taken on (`YYYYMMDD` leads the ID).
fn day_of(id: &str) -> Option<time::Date> {
    let n = |r: std::ops::Range<usize>| id.get(r).and_then(|s| s.parse::<i32>().ok());
    let month = time::Month::try_from(u8::try_from(n(4..6)?).ok()?).ok()?;
    time::Date::from_calendar_date(n(0..4)?, month, u8::try_from(n(6..8)?).ok()?).ok()
}

async fn record(core: &Core, event: Event) {
    if let Err(e) = core.record_system_event(event).await {
        tracing::error!(error = %e, "recording a backup event in the system chain");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::kept;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| format!("{s}-0000000a")).collect()
    }

    #[test]
    fn retention_keeps_the_newest_of_each_day_and_week() {
        // Two a day over 20 days (2026-11-01 is a Sunday, the end of ISO week 44).
        let mut all = Vec::new();
        for d in 1..=20 {
            all.push(format!("202611{d:02}T010000Z"));
            all.push(format!("202611{d:02}T130000Z"));
        }
        let all = ids(&all.iter().map(String::as_str).collect::<Vec<_>>());
        let keep = kept(&all, 3, 2);
        let mut want: Vec<String> = ids(&[
            "20261120T130000Z",
            "20261119T130000Z",
            "20261118T130000Z",
            // The newest of the week before (ISO week 46 ends on Sunday the 15th).
            "20261115T130000Z",
        ]);
        want.sort();
        assert_eq!(keep.into_iter().collect::<Vec<_>>(), want);
        // One daily, no weekly: the newest alone. Nothing at all to keep: nothing.
        assert_eq!(kept(&all, 1, 0).len(), 1);
        assert!(kept(&[], 7, 4).is_empty());
        // A name that is not a date is never kept by retention but never crashes it.
        let odd = vec!["odd".to_owned()];
        assert!(kept(&odd, 7, 4).is_empty());
    }
}
