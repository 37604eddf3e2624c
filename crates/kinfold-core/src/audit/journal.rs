//! L1 on SQLite: the audit journal, the durable step a request's answer waits for.
//!
//! A group commit into the chain costs a SQLite transaction (its statements, its pages sealed
//! by SQLCipher, its trips to the connection's thread); shared by the few dozen requests in
//! flight, that made each read wait for, and pay for, a commit of its own batch. Instead, each
//! batch is sealed (AES-256-GCM, a key derived from the master key) and appended to a segment
//! file in `DIR/audit-journal/` with one `write`, and its requests answer then; a mover
//! ([`super::mover`]) appends what the journal holds to the chain in large batches, recording
//! in the same transaction the journal position it moved up to (`audit_batch_marks`).
//!
//! - **Durability.** As the chain's own group commit at `synchronous = NORMAL`: the write is
//!   in the kernel when the request answers, so it survives the process being killed, not
//!   the machine losing power.
//! - **After a crash**, the next start ([`super::AuditWriter::resume_journal`]) moves every
//!   record past the recorded position into the chain before the node serves, and only then
//!   deletes the segments: a replay that stops halfway is replayed again, never twice.
//! - **One owner.** The journal directory is locked by the process that writes it; another
//!   process (a command beside a running server) commits its entries straight to the chain.
//! - **On disk**, the directory is 0700 and each segment 0600, and nothing in them is
//!   readable without the master key. A record's position is in its seal, so records cannot
//!   be moved between places. A record cut short by a crash was never answered: it is left
//!   out, and the segment kept aside (`.damaged`) as well as replayed.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use kinfold_audit::Draft;
use kinfold_crypto::keyring::MasterKey;
use kinfold_crypto::private_fs;
use kinfold_store::ApiAccess;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// A segment is closed and a new one begun past this size; a closed segment is deleted once
/// everything in it is in the chain.
const SEGMENT_BYTES: u64 = 4 << 20;
/// Bounds what a corrupt length could make a replay allocate (a batch is at most
/// `batch_max` entries, far below this).
const RECORD_MAX: usize = 256 << 20;
const CONTEXT: &[u8] = b"kinfold audit journal v1";
const DIR: &str = "audit-journal";
const EXT: &str = "seg";

/// Where a record is: its segment and its place in it. As a mark (`journal/SEG/SEQ`, both
/// zero-padded) it sorts in journal order as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub seg: u64,
    pub seq: u64,
}

impl Pos {
    pub fn mark(self) -> String {
        format!("journal/{:020}/{:020}", self.seg, self.seq)
    }

    fn parse(mark: &str) -> Option<Self> {
        let mut parts = mark.strip_prefix("journal/")?.split('/');
        let seg = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Self { seg, seq })
    }

    fn aad(self) -> Vec<u8> {
        let mut aad = CONTEXT.to_vec();
        aad.extend_from_slice(&self.seg.to_be_bytes());
        aad.extend_from_slice(&self.seq.to_be_bytes());
        aad
    }
}

/// One batch as the journal holds it.
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub drafts: Vec<Draft>,
    pub accesses: Vec<ApiAccess>,
}

/// The record format this version writes and reads.
const FORMAT: u32 = 1;

#[derive(Serialize)]
struct RecordOut<'a> {
    v: u32,
    drafts: &'a [Draft],
    accesses: Vec<AccessRun<'a>>,
}

#[derive(Deserialize)]
struct RecordIn {
    v: u32,
    drafts: Vec<Draft>,
    accesses: Vec<AccessRun<'static>>,
}

/// API access entries that differ only in their time, as one: a busy client's batch holds
/// one run, not an object per request.
#[derive(Serialize, Deserialize)]
struct AccessRun<'a> {
    tenant_id: uuid::Uuid,
    category: Cow<'a, str>,
    method: Cow<'a, str>,
    route: Cow<'a, str>,
    status: u16,
    actor: uuid::Uuid,
    ip: Option<Cow<'a, str>>,
    at_ms: Vec<i64>,
}

/// A batch's API access entries as runs ([`ApiAccess::runs`]).
fn runs(accesses: &[ApiAccess]) -> Vec<AccessRun<'_>> {
    ApiAccess::runs(accesses)
        .into_iter()
        .map(|(a, at_ms)| AccessRun {
            tenant_id: a.tenant_id.0,
            category: a.category.into(),
            method: a.method.into(),
            route: (&*a.route).into(),
            status: a.status,
            actor: a.actor.0,
            ip: a.ip.as_deref().map(Into::into),
            at_ms,
        })
        .collect()
}

impl AccessRun<'static> {
    /// The run's entries; `None` if it names a category or method no entry has.
    fn entries(self) -> Option<impl Iterator<Item = ApiAccess>> {
        let category = ApiAccess::interned(&self.category, &ApiAccess::CATEGORIES)?;
        let method = ApiAccess::interned(&self.method, &ApiAccess::METHODS)?;
        let route: std::sync::Arc<str> = self.route.into();
        let ip = self.ip.map(Cow::into_owned);
        let (tenant_id, actor, status) = (
            kinfold_store::TenantId(self.tenant_id),
            kinfold_store::UserId(self.actor),
            self.status,
        );
        Some(self.at_ms.into_iter().map(move |at_ms| ApiAccess {
            tenant_id,
            at_ms,
            category,
            method,
            route: route.clone(),
            status,
            actor,
            ip: ip.clone(),
        }))
    }
}

/// The journal's key, derived from the master key.
pub(crate) struct JournalKey(LessSafeKey);

impl JournalKey {
    pub fn new(master: &MasterKey) -> Result<Self, JournalError> {
        let key = master.derive(CONTEXT);
        let key = UnboundKey::new(&AES_256_GCM, key.expose()).map_err(|_| JournalError::Seal)?;
        Ok(Self(LessSafeKey::new(key)))
    }
}

impl std::fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JournalKey(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum JournalError {
    #[error("audit journal: {0}")]
    Io(#[from] std::io::Error),
    #[error("audit journal: a record could not be sealed")]
    Seal,
    #[error("audit journal: a record could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the audit journal segment {0} holds records this version of Kinfold cannot read (written by another version, then stopped before moving them): start the version that wrote it once, so it moves them into the chain")]
    Format(PathBuf),
}

/// The journal this process writes: its lock, and the segment being appended to.
pub(crate) struct Journal {
    dir: PathBuf,
    key: JournalKey,
    rng: SystemRandom,
    /// Held (an OS lock on `DIR/lock`) as long as the journal is open.
    _lock: File,
    file: File,
    at: Pos,
    len: u64,
    /// The length past which the segment is closed.
    rotate_at: u64,
}

/// The journal's lock, taken before anything is read: what the mark says is read under it.
pub(crate) struct Locked {
    dir: PathBuf,
    lock: File,
}

impl Locked {
    /// Locks `data/audit-journal` for this process; `None` when another process holds it.
    pub fn take(data: &Path) -> Result<Option<Self>, JournalError> {
        let dir = data.join(DIR);
        private_fs::private_dir(&dir)?;
        let lock = lock_file(&dir.join("lock"))?;
        match lock.try_lock() {
            Ok(()) => Ok(Some(Self { dir, lock })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

/// The segments earlier runs left, by number, and the position the chain holds up to.
pub(crate) struct Left {
    pub segments: Vec<(u64, PathBuf)>,
    moved: Option<Pos>,
}

/// The records of one segment left to move, and whether the segment held what did not open.
pub(crate) struct SegmentLeft {
    pub records: Vec<(Pos, Record)>,
    pub damaged: bool,
}

impl Journal {
    /// Opens the locked journal: lists what earlier runs left past `mark` (the last position
    /// moved into the chain, read under the lock), and begins a segment numbered after both
    /// the mark and every segment on disk.
    pub fn open(
        locked: Locked,
        key: JournalKey,
        mark: Option<&str>,
    ) -> Result<(Self, Left), JournalError> {
        let Locked { dir, lock } = locked;
        let moved = mark.and_then(Pos::parse);
        let mut segments = segments(&dir)?;
        segments.sort();
        let last = segments.last().map(|(seg, _)| *seg).unwrap_or(0);
        let seg = last.max(moved.map(|m| m.seg).unwrap_or(0)) + 1;
        let file = new_segment(&dir, seg)?;
        let journal = Self {
            dir,
            key,
            rng: SystemRandom::new(),
            _lock: lock,
            file,
            at: Pos { seg, seq: 0 },
            len: 0,
            rotate_at: SEGMENT_BYTES,
        };
        Ok((journal, Left { segments, moved }))
    }

    /// The records of a segment an earlier run left, past the mark. A record that opens but
    /// does not decode (written by another version of Kinfold) is an error: the segment stays
    /// for that version to move.
    pub fn left_in(&self, left: &Left, seg: u64, path: &Path) -> Result<SegmentLeft, JournalError> {
        let mut read = read_segment(&self.key, seg, path)?;
        read.records
            .retain(|(pos, _)| left.moved.is_none_or(|m| *pos > m));
        Ok(read)
    }

    /// Seals a batch and appends it with one write; returns its position and, when that
    /// closed the segment, the closed segment's file. After a failed write the segment is cut
    /// back to its last whole record, or the error says the journal is no longer usable.
    pub fn append(
        &mut self,
        drafts: &[Draft],
        accesses: &[ApiAccess],
    ) -> Result<(Pos, Option<PathBuf>), JournalError> {
        let body = serde_json::to_vec(&RecordOut {
            v: FORMAT,
            drafts,
            accesses: runs(accesses),
        })?;
        let frame = self.seal(self.at, body)?;
        if let Err(e) = self.file.write_all(&frame) {
            self.file.set_len(self.len)?;
            return Err(e.into());
        }
        let pos = self.at;
        self.len += frame.len() as u64;
        self.at.seq += 1;
        if self.len < self.rotate_at {
            return Ok((pos, None));
        }
        // The record is written: whatever follows, it is journaled at `pos`.
        let closed = segment_path(&self.dir, self.at.seg);
        let seg = self.at.seg + 1;
        match new_segment(&self.dir, seg) {
            Ok(file) => {
                self.file = file;
                self.at = Pos { seg, seq: 0 };
                self.len = 0;
                self.rotate_at = SEGMENT_BYTES;
                Ok((pos, Some(closed)))
            }
            Err(e) => {
                tracing::error!(error = %e, "a new audit journal segment could not be created; the current one grows");
                self.rotate_at = self.len + SEGMENT_BYTES;
                Ok((pos, None))
            }
        }
    }

    /// For tests: every later write fails, as on a full or failing disk.
    #[cfg(test)]
    pub fn fail_writes(&mut self) -> std::io::Result<()> {
        self.file = File::open(self.current())?;
        Ok(())
    }

    /// The segment being written (deleted at a clean shutdown, once everything is moved).
    pub fn current(&self) -> PathBuf {
        segment_path(&self.dir, self.at.seg)
    }

    /// `len || nonce || AES-256-GCM(body)`, with the record's position as associated data.
    fn seal(&self, pos: Pos, mut body: Vec<u8>) -> Result<Vec<u8>, JournalError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| JournalError::Seal)?;
        self.key
            .0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(pos.aad()),
                &mut body,
            )
            .map_err(|_| JournalError::Seal)?;
        let len = u32::try_from(NONCE_LEN + body.len()).map_err(|_| JournalError::Seal)?;
        let mut frame = Vec::with_capacity(4 + NONCE_LEN + body.len());
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&nonce);
        frame.extend_from_slice(&body);
        Ok(frame)
    }
}

/// Deletes segments whose records are all in the chain.
pub(crate) fn remove(segments: &[PathBuf]) {
    for path in segments {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(error = %e, path = %path.display(), "an audit journal segment, moved into the chain, could not be removed");
            }
        }
    }
}

fn lock_file(path: &Path) -> std::io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

fn segment_path(dir: &Path, seg: u64) -> PathBuf {
    dir.join(format!("{seg:020}.{EXT}"))
}

fn new_segment(dir: &Path, seg: u64) -> std::io::Result<File> {
    let path = segment_path(dir, seg);
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// The segments in `dir`, by number.
fn segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(EXT) {
            continue;
        }
        if let Some(seg) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok())
        {
            out.push((seg, path));
        }
    }
    Ok(out)
}

/// Reads a segment's records. A whole frame that does not open (altered on disk) is left out
/// and the reading goes on past it; bytes that are not a whole frame (a write cut short by a
/// crash, never answered) end it; either makes the segment `damaged`. A frame that opens and
/// does not decode is an error.
fn read_segment(key: &JournalKey, seg: u64, path: &Path) -> Result<SegmentLeft, JournalError> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    let mut rest = bytes.as_slice();
    let mut seq = 0u64;
    let mut altered = 0usize;
    while let Some((frame, next)) = split_frame(rest) {
        let pos = Pos { seg, seq };
        match open_frame(key, pos, frame) {
            Ok(record) => records.push((pos, record)),
            Err(Frame::Altered) => altered += 1,
            Err(Frame::Undecodable) => return Err(JournalError::Format(path.to_owned())),
        }
        rest = next;
        seq += 1;
    }
    let damaged = altered > 0 || !rest.is_empty();
    if damaged {
        tracing::error!(
            path = %path.display(),
            records = records.len(),
            records_that_do_not_open = altered,
            bytes_cut_short = rest.len(),
            "an audit journal segment holds what does not open: a record cut short at its end was never answered, one that does not open was altered; the rest is moved and the segment kept as .damaged"
        );
    }
    Ok(SegmentLeft { records, damaged })
}

/// After its records are in the chain: a damaged segment is kept, renamed `.damaged` (best
/// effort: a full disk does not stop the start), every other one deleted.
pub(crate) fn retire(path: &Path, damaged: bool) {
    if damaged {
        let mut aside = path.as_os_str().to_owned();
        aside.push(".damaged");
        if let Err(e) = std::fs::rename(path, PathBuf::from(aside)) {
            tracing::error!(error = %e, path = %path.display(), "a damaged audit journal segment could not be renamed; it is replayed again at the next start");
        }
    } else {
        remove(&[path.to_owned()]);
    }
}

enum Frame {
    /// Does not open under its position: altered, or moved.
    Altered,
    /// Opens, and is not a record this version reads.
    Undecodable,
}

/// The first whole frame in `bytes` (nonce and sealed body) and what follows it.
fn split_frame(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
    if !(NONCE_LEN..=RECORD_MAX).contains(&len) || rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}

/// Opens a frame sealed at `pos`.
fn open_frame(key: &JournalKey, pos: Pos, frame: &[u8]) -> Result<Record, Frame> {
    let (nonce, sealed) = frame
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(Frame::Altered)?;
    let mut body = sealed.to_vec();
    let plain = key
        .0
        .open_in_place(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(pos.aad()),
            &mut body,
        )
        .map_err(|_| Frame::Altered)?;
    let record: RecordIn = serde_json::from_slice(plain).map_err(|_| Frame::Undecodable)?;
    if record.v != FORMAT {
        return Err(Frame::Undecodable);
    }
    let mut accesses = Vec::new();
    for run in record.accesses {
        accesses.extend(run.entries().ok_or(Frame::Undecodable)?);
    }
    Ok(Record {
        drafts: record.drafts,
        accesses,
    })
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
