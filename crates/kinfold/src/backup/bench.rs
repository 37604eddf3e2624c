//! `kinfold bench --backup-mb N`: backup and restore throughput on a deployment grown to N
//! MB, against a ceiling measured in the same run on the same file.
//!
//! - The deployment: a new data directory with one tenant, whose system chain is grown with
//!   audit entries (the table that grows fastest in a real deployment: a year of reads) until
//!   the database file holds N MB.
//! - The ceiling: reading the database file and sealing it with the same AEAD and chunk size as
//!   an archive (no snapshot, no compression), into nothing. Nothing that makes a backup can be
//!   faster than that.
//! - `backup create` ([`super::take`]) to a local directory, and the data restore of that
//!   backup ([`super::restore_file`]: read, authenticate, decompress, write, sync), each timed
//!   whole.
//!
//! Each round measures the ceiling, the backup and the restore back to back; the figures quoted
//! are the medians over rounds.

use std::time::Instant;

use anyhow::Context;
use kinfold_audit::{Draft, Event, SYSTEM_CHAIN};
use kinfold_store::sqlite::DB_FILE;
use kinfold_store::PlatformTx;

use super::manifest::BackupKeys;
use super::{archive, checked_manifest, restore_file, take, Dest};
use crate::cli::say;
use crate::config::Config;
use crate::runtime::{self, KeyPolicy};

const MB: f64 = 1024.0 * 1024.0;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Grows the deployment in `config.data` until its database file holds `mb` MB.
async fn grow(config: &Config, mb: u64) -> anyhow::Result<u64> {
    let rt = runtime::open(config.clone(), KeyPolicy::CreateIfNew).await?;
    rt.start().await?;
    let path = config.data.join(DB_FILE);
    let target = mb * 1024 * 1024;
    let now = rt.core.now_ms();
    let mut n = 0u64;
    let grown = async {
        loop {
            // The database file alone: the log is folded into it every thousand pages.
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if size >= target {
                return anyhow::Ok(());
            }
            let drafts: Vec<Draft> = (0..5000)
                .map(|i| {
                    n += 1;
                    Draft::new(
                        SYSTEM_CHAIN,
                        now + i,
                        Event::Started {
                            version: format!("bench growth {n}"),
                            config_digest: kinfold_crypto::token::sha256_hex(&n.to_le_bytes()),
                        },
                    )
                })
                .collect();
            rt.store
                .append_platform_audit(PlatformTx::new().audit_all(drafts))
                .await?;
        }
    }
    .await;
    rt.close().await;
    grown?;
    Ok(n)
}

/// `kinfold bench --backup-mb MB [--rounds N]`.
pub async fn run(mb: u64, rounds: u32) -> anyhow::Result<()> {
    let work = tempfile::Builder::new()
        .prefix("kinfold-bench-backup-")
        .tempdir()?;
    let config = Config {
        data: work.path().join("data"),
        ..Config::default()
    };
    runtime::ensure_dir(&config.data)?;
    let grown_by = grow(&config, mb).await?;
    // The size a backup copies: the database checkpointed (the WAL folded in, as a snapshot
    // has it).
    let rt = runtime::open(config.clone(), KeyPolicy::MustExist).await?;
    rt.close().await;
    let bytes = std::fs::metadata(config.data.join(DB_FILE))?.len();
    say(format!(
        "database: {:.1} MB ({grown_by} audit entries added)",
        bytes as f64 / MB
    ));
    let key = runtime::master_key(&config, KeyPolicy::MustExist)?;
    let keys = BackupKeys::of(&key);
    let (mut ceiling, mut backup, mut restore) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds.max(1) {
        // The ceiling: read the file, seal it, nothing else.
        let file = config.data.join(DB_FILE);
        let archive_key = keys.archive.clone();
        let started = Instant::now();
        tokio::task::spawn_blocking(move || {
            let input = std::io::BufReader::new(std::fs::File::open(file)?);
            archive::seal_with(&archive_key, input, std::io::sink(), None)
        })
        .await??;
        let c = bytes as f64 / MB / started.elapsed().as_secs_f64();

        let dest = Dest::Local(work.path().join(format!("backups-{round}")));
        let started = Instant::now();
        let taken = take(&config, &dest).await?;
        let b = bytes as f64 / MB / started.elapsed().as_secs_f64();

        let into = work.path().join(format!("restored-{round}"));
        runtime::ensure_dir(&into)?;
        let m = checked_manifest(&dest, &taken.id, &keys).await?;
        let started = Instant::now();
        restore_file(&dest, m, &key, &into)
            .await
            .context("restoring")?;
        let r = bytes as f64 / MB / started.elapsed().as_secs_f64();
        say(format!(
            "round {round}: ceiling {c:.0} MB/s, backup create {b:.0} MB/s ({:.2}), restore {r:.0} MB/s ({:.2})",
            b / c,
            r / c
        ));
        ceiling.push(c);
        backup.push(b / c);
        restore.push(r / c);
        std::fs::remove_dir_all(&into)?;
    }
    let c = median(ceiling);
    say(format!(
        "median over {} round(s): ceiling {c:.0} MB/s (read + seal with the archive's AEAD); backup create {:.2} of it ({:.0} MB/s); restore {:.2} of it ({:.0} MB/s)",
        rounds.max(1),
        median(backup.clone()),
        median(backup) * c,
        median(restore.clone()),
        median(restore) * c,
    ));
    Ok(())
}
