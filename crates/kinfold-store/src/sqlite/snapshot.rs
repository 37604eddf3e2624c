//! A consistent copy of the live database for backups (D4), without a pause in serving and
//! without a byte of plaintext: the database file and its write-ahead log, copied as they are
//! on disk (pages encrypted by SQLCipher) while one read transaction holds a point in time.
//!
//! Why that is whole (SQLite's WAL rules; `walCheckpoint`, `walRestartLog` in its source):
//! - When the snapshot reads the log (its read mark is past 0), a checkpoint copies into the
//!   file only frames at or before the snapshot's point, and the log is neither restarted nor
//!   cut under it. So every page of the file, while it is read, is as the snapshot has it, or
//!   older with a newer frame for it in the log; the log, copied after the file, holds those
//!   frames from its start (and perhaps later whole commits; a frame torn by a writer fails its
//!   checksum and ends the log there). Replayed onto the file, it gives the database as of the
//!   last commit it holds, at or after the point.
//! - When the snapshot reads the file alone (the log was wholly folded in when it began), no
//!   checkpoint writes the file until it ends, so the file is the snapshot. A writer may
//!   restart the log meanwhile: a log copied from after the restart replays later commits on
//!   top, as above; a log restarted or cut *while* it was copied is a prefix of frames the file
//!   may hold newer versions of, so it is dropped ([`copy_log`] sees the header change).
//!
//! [`fold_log`] replays the log on restore and checks the result.
//!
//! Nothing here closes a descriptor of the live database: see [`KEPT_OPEN`].
//!
//! This replaces `sqlcipher_export`, which rebuilt every table and index of the copy and
//! decrypted and encrypted every page on the way: `kinfold bench --backup-mb 200` measured
//! backup creation at 0.17 of its ceiling with it, 0.54 with this.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kinfold_crypto::keyring::MasterKey;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

use super::SqliteStore;
use crate::{Result, StoreError};

/// A point in time of the database, held (one read transaction on its own connection) until
/// [`HeldSnapshot::release`], while its files are copied.
pub struct HeldSnapshot {
    conn: SqliteConnection,
    db: PathBuf,
    /// What the copy holds, read in the holding transaction.
    pub info: crate::BackupInfo,
}

/// How many bytes of a copy are the database file, and how many its log after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub file_bytes: u64,
    pub log_bytes: u64,
}

impl SqliteStore {
    /// Opens a read transaction on a connection of its own (the writer is not held) and
    /// reads what the copy will hold.
    pub async fn hold_snapshot(&self) -> Result<HeldSnapshot> {
        let mut conn = SqliteConnection::connect_with(&self.opts).await?;
        let db = self.opts.get_filename().to_path_buf();
        let held = async {
            // Deferred: the first read below takes the point in time.
            sqlx::query("BEGIN").execute(&mut conn).await?;
            super::sql::backup_info(&mut conn).await
        }
        .await;
        match held {
            Ok(info) => Ok(HeldSnapshot { conn, db, info }),
            Err(e) => {
                let _ = conn.close().await;
                Err(e.into())
            }
        }
    }
}

impl HeldSnapshot {
    /// Copies the database file, then its log (if there is one, opened only once the file
    /// is copied), as they are on disk, into `to`, a new owner-only file. The log is copied up
    /// to its length at that moment: it holds every frame up to the point in time already,
    /// and what writers append after it is not needed (the log cannot be reset while the
    /// snapshot reads it, so it grows with every write meanwhile: hold it only for this copy).
    /// Blocking: run it off the async runtime. The kernel copies file to file where it can.
    pub fn copy_to(&self, to: &Path) -> io::Result<Copied> {
        let mut out = kinfold_crypto::private_fs::create_new(to)?;
        let file_bytes = kept_open(&self.db, |db| {
            let mut db = db;
            db.seek(SeekFrom::Start(0))?;
            io::copy(&mut db, &mut out)
        })?;
        let log_bytes = copy_log(&log_of(&self.db), &mut out, file_bytes)?;
        // Not synced: a scratch copy, sealed and removed next; the archive is what is synced.
        Ok(Copied {
            file_bytes,
            log_bytes,
        })
    }

    /// Ends the read transaction: checkpoints may fold the log past it again.
    pub async fn release(mut self) -> Result<()> {
        sqlx::query("COMMIT").execute(&mut self.conn).await?;
        self.conn.close().await?;
        Ok(())
    }
}

/// The database files this process has opened to copy, open for the rest of its life. Closing
/// any descriptor of a file drops every POSIX lock the process holds on it, SQLite's among them
/// (a connection's shared lock on the database, by which it knows it is not the last one and
/// must not delete the log), and this process has connections to the database: so a
/// descriptor of the database opened here is never closed (SQLite's own "How To Corrupt An
/// SQLite Database File", 2.2). The log is not locked this way; it is opened and closed.
static KEPT_OPEN: Mutex<Vec<(PathBuf, std::fs::File)>> = Mutex::new(Vec::new());

/// Runs `f` on this process's descriptor of `path`, opened on first use and never closed.
fn kept_open<T>(path: &Path, f: impl FnOnce(&std::fs::File) -> io::Result<T>) -> io::Result<T> {
    let mut kept = KEPT_OPEN
        .lock()
        .map_err(|_| io::Error::other("a database copy failed earlier in this process"))?;
    let at = match kept.iter().position(|(p, _)| p == path) {
        Some(at) => at,
        None => {
            kept.push((path.to_path_buf(), std::fs::File::open(path)?));
            kept.len() - 1
        }
    };
    match kept.get(at) {
        Some((_, file)) => f(file),
        None => Err(io::Error::other("the database's descriptor is gone")),
    }
}

/// A log's header: its salts change with every restart of the log.
const LOG_HEADER: usize = 32;

/// Appends the log at `path` to `out` (which holds `at` bytes, the file), up to the log's
/// length now. When the log was restarted or cut while it was copied (its header changed, or it
/// is now shorter than what was copied), the copy is a prefix of frames the file may already
/// hold newer versions of: it is dropped, and `0` returned. That happens only when the held
/// snapshot reads the file alone (SQLite restarts a log only then), so the file by itself is
/// the snapshot.
fn copy_log(path: &Path, out: &mut std::fs::File, at: u64) -> io::Result<u64> {
    let log = match std::fs::File::open(path) {
        Ok(log) => log,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let len = log.metadata()?.len();
    let before = header(&log)?;
    let copied = io::copy(&mut (&log).take(len), out)?;
    let after = header(&log)?;
    let now = log.metadata()?.len();
    if copied == 0 {
        return Ok(0);
    }
    if before != after || now < copied || copied < LOG_HEADER as u64 {
        out.set_len(at)?;
        out.seek(SeekFrom::Start(at))?;
        return Ok(0);
    }
    Ok(copied)
}

fn header(log: &std::fs::File) -> io::Result<[u8; LOG_HEADER]> {
    use std::os::unix::fs::FileExt;
    let mut h = [0u8; LOG_HEADER];
    match log.read_exact_at(&mut h, 0) {
        Ok(()) => Ok(h),
        // Cut to nothing: no header to match.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok([0u8; LOG_HEADER]),
        Err(e) => Err(e),
    }
}

/// The write-ahead log's path beside database `db`.
pub fn log_of(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Splits a copy read back (the database file's `file_bytes`, then the log) into `db` and its
/// log file, both new (owner-only).
pub struct SplitCopy {
    file: std::fs::File,
    log: Option<std::fs::File>,
    log_path: PathBuf,
    left_in_file: u64,
}

impl SplitCopy {
    pub fn create(db: &Path, copied: Copied) -> io::Result<Self> {
        Ok(Self {
            file: kinfold_crypto::private_fs::create_new(db)?,
            log: None,
            log_path: log_of(db),
            left_in_file: copied.file_bytes,
        })
    }

    /// Flushes both files to disk.
    pub fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()?;
        if let Some(log) = &self.log {
            log.sync_all()?;
        }
        Ok(())
    }
}

impl Write for SplitCopy {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left_in_file > 0 {
            let n = usize::try_from(self.left_in_file)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let n = self.file.write(buf.get(..n).unwrap_or_default())?;
            self.left_in_file -= n as u64;
            return Ok(n);
        }
        if self.log.is_none() {
            self.log = Some(kinfold_crypto::private_fs::create_new(&self.log_path)?);
        }
        match &mut self.log {
            Some(log) => log.write(buf),
            None => Err(io::Error::other("the log file is not open")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if let Some(log) = &mut self.log {
            log.flush()?;
        }
        Ok(())
    }
}

/// Replays a copied log into its database file `db` (keyed from `key`) and removes the log,
/// then checks the result page by page (`PRAGMA quick_check`): a copy that is not whole fails
/// here, never later in a restored server.
pub async fn fold_log(db: &Path, key: &MasterKey) -> Result<()> {
    super::init_crypto();
    let opts = SqliteConnectOptions::new()
        .filename(db)
        .pragma("key", format!("\"x'{}'\"", key.sqlcipher_key_hex()));
    let mut conn = SqliteConnection::connect_with(&opts).await?;
    let folded = async {
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut conn)
            .await?;
        let check: Vec<String> = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_all(&mut conn)
            .await?;
        Ok::<_, sqlx::Error>((busy, check))
    }
    .await;
    conn.close().await?;
    let (busy, check) = folded?;
    if busy != 0 {
        return Err(StoreError::Config("the copied log could not be folded in"));
    }
    if check != ["ok"] {
        tracing::error!(problems = ?check.iter().take(5).collect::<Vec<_>>(), "a restored copy fails SQLite's check");
        return Err(StoreError::Corrupt(
            "the restored database fails SQLite's check",
        ));
    }
    match std::fs::remove_file(log_of(db)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Database(sqlx::Error::Io(e))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// A log is appended after the file; a missing one adds nothing; a log too short to hold
    /// its header is dropped and the copy cut back to the file.
    #[test]
    fn a_log_is_appended_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let out_path = dir.path().join("copy");
        let mut out = kinfold_crypto::private_fs::create_new(&out_path).unwrap();
        out.write_all(&[7u8; 4096]).unwrap();
        let log = dir.path().join("db-wal");
        assert_eq!(copy_log(&log, &mut out, 4096).unwrap(), 0);

        std::fs::write(&log, [1u8; 10]).unwrap();
        assert_eq!(copy_log(&log, &mut out, 4096).unwrap(), 0);
        assert_eq!(std::fs::metadata(&out_path).unwrap().len(), 4096);

        std::fs::write(&log, [2u8; 100]).unwrap();
        assert_eq!(copy_log(&log, &mut out, 4096).unwrap(), 100);
        let copy = std::fs::read(&out_path).unwrap();
        assert_eq!(copy.len(), 4196);
        assert!(copy[4096..].iter().all(|b| *b == 2));
    }
}
