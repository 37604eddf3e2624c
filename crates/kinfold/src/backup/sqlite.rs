//! The SQLite side of a backup: the snapshot sealed as it is on disk, one backup of a
//! deployment at a time, and a restore into a directory without a database.

use std::path::PathBuf;

use anyhow::{bail, Context};
use kinfold_crypto::keyring::MasterKey;
use kinfold_store::sqlite::{fold_log, Copied, SplitCopy, SqliteStore, DB_FILE};
use kinfold_store::Store;

use super::manifest::{BackupKeys, Manifest, DATA_PART};
use super::{archive, dest, open_part, Dest};
use crate::config::Config;
use crate::runtime;

/// Removes the snapshot (and any journal SQLite left beside it) however the backup ends.
pub(super) struct Scratch(pub(super) PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}

/// Holds `DIR/.backup.lock` while a backup of this deployment runs: a scheduled one and one
/// from the command line take turns, the second waiting for the first. Whatever scratch
/// snapshot is left in `DIR` while it is held was left by a backup that died (`kill -9`, a
/// power cut): it is removed here. Such a copy is encrypted with the database's key, but it is
/// still a copy of the data.
pub(super) async fn one_backup_at_a_time(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    runtime::ensure_dir(dir)?;
    let path = dir.join(".backup.lock");
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let lock = opts
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let lock = match lock.try_lock() {
        Ok(()) => lock,
        Err(std::fs::TryLockError::WouldBlock) => {
            tracing::info!("another backup of this deployment is running; waiting for it to end");
            tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
                .await?
                .with_context(|| format!("locking {}", path.display()))?
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()))
        }
    };
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".backup-") && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(lock)
}

/// A sealed snapshot of the SQLite database: the archive's data part, what the copy holds,
/// and how many of its bytes are the database's log (after the file).
pub(super) struct Snapshot {
    pub sealed: archive::Sealed,
    pub info: kinfold_store::BackupInfo,
    pub log_bytes: u64,
}

/// Seals a snapshot of the SQLite database into `writing`'s data part. The database file and
/// its log are copied as they are on disk (every page encrypted by SQLCipher already) into a
/// scratch file beside them while one read transaction holds their point in time (a copy the
/// kernel makes, so the hold, during which the log cannot be reset, is short); the scratch file
/// is then sealed into the archive and removed.
pub(super) async fn snapshot(
    config: &Config,
    key: &MasterKey,
    id: &str,
    keys: &BackupKeys,
    writing: dest::Writing,
) -> anyhow::Result<(dest::Writing, Snapshot)> {
    let store = SqliteStore::open(&config.data, key, 1)
        .await
        .with_context(|| format!("opening the database in {}", config.data.display()))?;
    let scratch = Scratch(config.data.join(format!(".backup-{id}.db")));
    let copied = async {
        let held = store.hold_snapshot().await?;
        let info = held.info;
        let to = scratch.0.clone();
        let (held, copied) = tokio::task::spawn_blocking(move || {
            let copied = held.copy_to(&to);
            (held, copied)
        })
        .await?;
        held.release().await?;
        anyhow::Ok((info, copied?))
    }
    .await;
    store.close().await;
    let (info, copied) = copied.context("taking the snapshot")?;
    let snapshot = scratch.0.clone();
    let archive_key = keys.archive.clone();
    let (writing, sealed) = tokio::task::spawn_blocking(move || {
        let input = std::fs::File::open(&snapshot)?;
        let out = writing.part(DATA_PART)?;
        // Not compressed: every page of the snapshot is encrypted already, so zstd would spend
        // time for nothing.
        let (out, sealed) = archive::seal_with(
            &archive_key,
            std::io::BufReader::with_capacity(1 << 20, input),
            out,
            None,
        )?;
        out.sync_all()?;
        std::io::Result::Ok((writing, sealed))
    })
    .await?
    .context("writing the archive")?;
    drop(scratch);
    if copied.file_bytes + copied.log_bytes != sealed.content_bytes {
        bail!("the snapshot's size changed while it was sealed");
    }
    Ok((
        writing,
        Snapshot {
            sealed,
            info,
            log_bytes: copied.log_bytes,
        },
    ))
}

/// Writes backup `m`'s database into `target` (which holds no database) as `kinfold.db`:
/// through a `.restore-` file that takes the name only once every byte is checked, and that is
/// removed on any failure.
pub(super) async fn restore_file(
    dest: &Dest,
    m: Manifest,
    key: &MasterKey,
    target: &std::path::Path,
) -> anyhow::Result<Manifest> {
    if m.backend != "sqlite" {
        bail!(
            "backup {} is of a PostgreSQL deployment: restore it with --database-url (an empty database)",
            m.id
        );
    }
    let input = dest.read(&m).await?;
    let partial = target.join(format!(".restore-{}.db", m.id));
    let scratch = Scratch(partial.clone());
    let keys = BackupKeys::of(key);
    let part = m
        .data_part()
        .with_context(|| format!("backup {}: the manifest lists no data part", m.id))?;
    let Some(copied) = split_of(part) else {
        bail!("backup {}: the manifest's sizes are not a database's", m.id);
    };
    let into = partial.clone();
    let m = tokio::task::spawn_blocking(move || -> anyhow::Result<Manifest> {
        let mut split = SplitCopy::create(&into, copied)?;
        open_part(input, &m, &keys, &mut split)?;
        split.sync_all()?;
        Ok(m)
    })
    .await??;
    // The log copied with the file is replayed into it, and the result checked page by page.
    fold_log(&partial, key)
        .await
        .with_context(|| format!("backup {}: opening the restored copy", m.id))?;
    // Into place without replacing anything: a hard link fails if the name is taken (by a
    // server started meanwhile, or a second restore), where a rename would replace it.
    if database_files(target).next().is_some() {
        bail!(
            "{} gained a database while restoring; nothing was changed",
            target.display()
        );
    }
    std::fs::hard_link(&scratch.0, target.join(DB_FILE))
        .with_context(|| format!("{} gained a database while restoring", target.display()))?;
    drop(scratch);
    Ok(m)
}

/// Where a data part's content splits into the database file and its log, if the sizes can be
/// a database's: a file of whole pages (at least 512 bytes each), and a log that is empty or
/// at least its 32-byte header. The manifest is signed, so only a fault in Kinfold's own writer
/// could break this; the restore still refuses rather than write a file SQLite would misread.
fn split_of(part: &super::manifest::Part) -> Option<Copied> {
    let file_bytes = part.content_bytes.checked_sub(part.log_bytes)?;
    let log_bytes = part.log_bytes;
    let whole_pages = file_bytes != 0 && file_bytes.is_multiple_of(512);
    let a_log = log_bytes == 0 || log_bytes >= 32;
    (whole_pages && a_log).then_some(Copied {
        file_bytes,
        log_bytes,
    })
}

/// The database's files present in `dir` (`kinfold.db` and its WAL, shared memory and journal:
/// a stray WAL from an earlier database would be replayed onto a restored one).
pub(super) fn database_files(dir: &std::path::Path) -> impl Iterator<Item = PathBuf> + '_ {
    ["", "-wal", "-shm", "-journal"]
        .into_iter()
        .map(move |suffix| dir.join(format!("{DB_FILE}{suffix}")))
        .filter(|p| p.exists())
}

#[cfg(test)]
mod tests {
    use super::split_of;
    use crate::backup::manifest::Part;

    fn part(content_bytes: u64, log_bytes: u64) -> Part {
        Part {
            name: "db.kfb".into(),
            bytes: 0,
            sha256: String::new(),
            content_bytes,
            log_bytes,
        }
    }

    #[test]
    fn only_a_database_file_and_log_split_a_part() {
        let ok = |c, l| split_of(&part(c, l)).map(|s| (s.file_bytes, s.log_bytes));
        assert_eq!(ok(8192, 0), Some((8192, 0)));
        assert_eq!(ok(8192 + 32, 32), Some((8192, 32)));
        assert_eq!(ok(4096 + 4152, 4152), Some((4096, 4152)));
        // No file, part of a page, a log shorter than its header, a log longer than the part.
        for (c, l) in [
            (0, 0),
            (32, 32),
            (8191, 0),
            (8192 + 31, 31),
            (100, 200),
            (u64::MAX, 1),
        ] {
            assert!(ok(c, l).is_none(), "{c} bytes with a {l}-byte log");
        }
    }
}
