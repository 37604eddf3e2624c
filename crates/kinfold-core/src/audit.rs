//! Writing the audit trail.
//!
//! - Admin events go into the store call that makes the change, in the same transaction (L2).
//! - Access events go through [`AuditWriter::record`]: a bounded channel to one task that
//!   group-commits what queued while the last batch was being written, and what the requests
//!   ready to run queue when it yields to them (as long as they bring entries, at most
//!   `batch_delay`). `record` returns only once its
//!   entry's batch is committed (L1: a response that reports a read or an access is sent after
//!   its entry is durable, so a crash cannot lose it), or fails with `busy` after
//!   [`COMMIT_WAIT`]; a request served under [`deferring`] waits once, at its end, for the
//!   last entry it wrote ([`durable`]). When the channel is full, `record` waits: an entry is never dropped. A
//!   failed write is retried with backoff and logged; the batch is kept.
//! - Reads of sealed fields come as a [`ReadNote`] (ids and the request's shared client, no
//!   copies) and are folded per client (tenant, user, IP, user agent, device) into one
//!   `child_records_read` entry per batch ([`fold_reads`]): a busy center writes a few chain
//!   entries per group commit, not one per read, and every read is still in the chain.
//! - After each batch, and every `checkpoint_interval`, chains that grew by
//!   `checkpoint_every` entries (or at all, on the timer) get an Ed25519-signed checkpoint.

use std::sync::Arc;
use std::time::Duration;

use crate::HashMap;
use std::borrow::Cow;

use kinfold_audit::event::{ReadTimes, RecordRead};
use kinfold_audit::{Draft, Event};
use kinfold_store::{
    Chain, ChildId, ClientInfo, LostCommit, Store, StoreError, TenantId, UserId, Written,
};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

use crate::keys::Keyring;

mod checkpoint;
mod durable;
mod journal;
mod log;
mod mover;
use crate::{Clock, CoreError};
pub use log::{BackupStatus, HeldMessage, RefusedPickup};

#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub batch_delay: Duration,
    pub batch_max: usize,
    pub checkpoint_every: i64,
    pub checkpoint_interval: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            batch_delay: Duration::from_millis(2),
            batch_max: 20_000,
            checkpoint_every: 100,
            checkpoint_interval: Duration::from_secs(300),
        }
    }
}

/// One read of sealed fields (D3), as a request hands it to the writer: ids and the request's
/// shared client, nothing copied. The writer folds a batch's reads per client into one
/// `child_records_read` entry.
#[derive(Debug, Clone)]
pub struct ReadNote {
    pub tenant: TenantId,
    pub actor: UserId,
    pub client: Arc<ClientInfo>,
    pub child: ChildId,
    pub fields: Fields,
    pub at_ms: i64,
}

/// The names of the sealed fields a read opened.
pub type Fields = &'static [&'static str];

pub use checkpoint::Checkpointer;
pub use durable::{deferring, Deferred, COMMIT_WAIT};

/// Told when the batch holding a message is committed.
pub(crate) type Committed = oneshot::Sender<()>;

pub(crate) enum Msg {
    Entry(Box<Draft>, Committed),
    Read(ReadNote, Committed),
    Access(Box<kinfold_store::ApiAccess>, Committed),
    Flush(Committed),
    /// From now on, batches are sealed into this journal ([`journal`]).
    Journal(Box<mover::Journaling>, Committed),
    /// Back to committing to the chain; told once the journal is moved and deleted.
    Close(Committed),
}

pub struct AuditWriter {
    tx: mpsc::Sender<Msg>,
    task: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Checkpointer,
}

impl AuditWriter {
    pub fn start(
        store: Arc<dyn Store>,
        keys: Keyring,
        clock: Arc<dyn Clock>,
        settings: AuditSettings,
    ) -> Self {
        let (tx, rx) = mpsc::channel(8192);
        let checkpointer = Checkpointer {
            store: store.clone(),
            keys,
            clock,
            every: settings.checkpoint_every,
            last: Default::default(),
        };
        let task = tokio::spawn(run(rx, store, checkpointer.clone(), settings));
        Self {
            tx,
            task: Mutex::new(Some(task)),
            checkpointer,
        }
    }

    /// Writes an access event on `on` with the next group commit and returns once it is
    /// committed. The event goes to `on` whatever chain the draft names: a [`Chain`] comes only
    /// from a tenant's scope, from [`Chain::system`] or from the store, so no caller writes to
    /// a chain by its name. Waits when the queue is full; never drops.
    pub async fn record(&self, on: Chain, mut draft: Draft) -> Result<(), CoreError> {
        draft.chain = on.into();
        self.commit(|done| Msg::Entry(Box::new(draft), done), "an access event")
            .await
    }

    /// Writes a read of sealed fields with the next group commit (folded per client) and
    /// returns once it is committed.
    pub async fn record_read(&self, note: ReadNote) -> Result<(), CoreError> {
        self.commit(|done| Msg::Read(note, done), "a read of sealed fields")
            .await
    }

    /// Writes an API access entry (L4) with the next group commit and returns once it is
    /// committed.
    pub async fn record_api_access(
        &self,
        entry: kinfold_store::ApiAccess,
    ) -> Result<(), CoreError> {
        self.commit(
            |done| Msg::Access(Box::new(entry), done),
            "an API access entry",
        )
        .await
    }

    /// Queues an API access entry (L4) for the next group commit without waiting for it: for
    /// refused and failed requests, which report no record. It is never dropped, but a crash
    /// before the commit loses it.
    pub async fn queue_api_access(&self, entry: kinfold_store::ApiAccess) {
        let (done, _) = oneshot::channel();
        if self
            .tx
            .send(Msg::Access(Box::new(entry), done))
            .await
            .is_err()
        {
            tracing::error!("the audit writer has stopped; an API access entry was not queued");
        }
    }

    /// Queues a message and waits until its batch is committed (see [`durable`]).
    async fn commit(
        &self,
        msg: impl FnOnce(Committed) -> Msg,
        what: &str,
    ) -> Result<(), CoreError> {
        durable::queue(&self.tx, msg, what).await
    }

    /// Waits until everything queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    pub fn checkpointer(&self) -> &Checkpointer {
        &self.checkpointer
    }

    /// On SQLite, where this process is the only writer of `data`: makes an audit journal
    /// in `data` the durable step requests wait for ([`journal`]), after moving into the
    /// chain what an earlier run left in it. Returns whether this process holds the journal
    /// (another process may; its entries then go to the chain directly, as before).
    pub async fn resume_journal(
        &self,
        data: &std::path::Path,
        master: &kinfold_crypto::keyring::MasterKey,
    ) -> Result<bool, CoreError> {
        let Some(journaling) = mover::resume(data, master, &self.checkpointer).await? else {
            return Ok(false);
        };
        let (done, switched) = oneshot::channel();
        self.tx
            .send(Msg::Journal(Box::new(journaling), done))
            .await
            .map_err(|_| CoreError::Internal("the audit writer has stopped".into()))?;
        let _ = switched.await;
        Ok(true)
    }

    pub(crate) async fn shutdown(&self) {
        self.flush().await;
        let (done, closed) = oneshot::channel();
        if self.tx.send(Msg::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
        if let Err(e) = self.checkpointer.run(true).await {
            tracing::error!(error = %e, "final audit checkpoint failed");
        }
        if let Some(task) = self.task.lock().await.take() {
            task.abort();
        }
    }
}

async fn run(
    mut rx: mpsc::Receiver<Msg>,
    store: Arc<dyn Store>,
    cp: Checkpointer,
    settings: AuditSettings,
) {
    let mut timer = tokio::time::interval(settings.checkpoint_interval);
    timer.tick().await;
    let mut journaling: Option<mover::Journaling> = None;
    loop {
        let first = tokio::select! {
            m = rx.recv() => m,
            _ = timer.tick() => {
                if let Err(e) = cp.run(true).await {
                    tracing::error!(error = %e, "audit checkpoint failed");
                }
                continue;
            }
        };
        let Some(first) = first else { return };
        let flush = matches!(first, Msg::Flush(_) | Msg::Journal(..) | Msg::Close(_));
        let mut batch = Batch::default();
        batch.push(first);
        if !flush {
            batch.gather(&mut rx, &settings).await;
        }
        let Batch {
            pending,
            accesses,
            waiters,
            flushes,
            then,
        } = batch;
        let drafts = fold_reads(pending);
        match &mut journaling {
            Some(j) => j.batch(drafts, accesses, waiters, flushes).await,
            None => {
                let written = write_with_retry(&*store, drafts, accesses).await;
                // Committed: the requests of this batch may answer now, before the checkpoint.
                for w in waiters.into_iter().chain(flushes) {
                    let _ = w.send(());
                }
                checkpoint_heads(&cp, &written).await;
            }
        }
        match then {
            Some(Msg::Journal(j, done)) => {
                journaling = Some(*j);
                let _ = done.send(());
            }
            Some(Msg::Close(done)) => match journaling.take() {
                Some(j) => j.close(done).await,
                None => {
                    let _ = done.send(());
                }
            },
            _ => {}
        }
    }
}

/// After a write: signs a checkpoint for each chain it grew that is due one. The new heads
/// come from the write itself: no query per chain per batch.
async fn checkpoint_heads(cp: &Checkpointer, written: &Written) {
    for (chain, head) in written.heads() {
        if let Err(e) = cp.after_append(&chain, head).await {
            tracing::error!(error = %e, "audit checkpoint failed");
        }
    }
}

/// What one group commit writes, and who waits for it.
#[derive(Default)]
struct Batch {
    pending: Vec<Pending>,
    accesses: Vec<kinfold_store::ApiAccess>,
    waiters: Vec<Committed>,
    /// Answered once everything before them is in the chain.
    flushes: Vec<Committed>,
    /// A change of mode, taken after this batch (which then ends).
    then: Option<Msg>,
}

impl Batch {
    fn push(&mut self, m: Msg) {
        match m {
            Msg::Entry(d, w) => {
                self.pending.push(Pending::Entry(*d));
                self.waiters.push(w);
            }
            Msg::Read(r, w) => {
                self.pending.push(Pending::Read(r));
                self.waiters.push(w);
            }
            Msg::Access(a, w) => {
                self.accesses.push(*a);
                self.waiters.push(w);
            }
            Msg::Flush(w) => self.flushes.push(w),
            m @ (Msg::Journal(..) | Msg::Close(_)) => self.then = Some(m),
        }
    }

    fn len(&self) -> usize {
        self.pending.len() + self.accesses.len()
    }

    /// Takes what is queued, up to `batch_max`.
    fn take_queued(&mut self, rx: &mut mpsc::Receiver<Msg>, max: usize) {
        while self.len() < max && self.then.is_none() {
            match rx.try_recv() {
                Ok(m) => self.push(m),
                Err(_) => break,
            }
        }
    }

    /// Company: takes what is queued, then lets the runtime run every other ready task once
    /// (requests whose bytes have arrived) and takes what they queued, for as long as a pass
    /// brings entries, up to `batch_max` and at most `batch_delay`. A lone request costs one
    /// scheduler pass; under load the batch holds the requests in flight, not only those that
    /// ended during the last commit.
    async fn gather(&mut self, rx: &mut mpsc::Receiver<Msg>, settings: &AuditSettings) {
        let started = tokio::time::Instant::now();
        self.take_queued(rx, settings.batch_max);
        while self.len() < settings.batch_max && started.elapsed() < settings.batch_delay {
            let before = self.len();
            tokio::task::yield_now().await;
            self.take_queued(rx, settings.batch_max);
            if self.len() == before {
                break;
            }
        }
    }
}

/// What the writer takes from the queue for the chain.
enum Pending {
    Entry(Draft),
    Read(ReadNote),
}

/// A client whose reads fold together: the tenant (its chain), the user, and the IP, user
/// agent and device.
type Client = (TenantId, UserId, Arc<ClientInfo>);

/// Folds each client's reads into one `child_records_read` draft, at the place of the
/// client's first read in the batch; every other draft keeps its place. Within a client's
/// draft, the reads of one child's same fields share one [`RecordRead`] that lists the time of
/// each read, so a busy reader adds a number per read, not an object.
fn fold_reads(batch: Vec<Pending>) -> Vec<Draft> {
    let mut out: Vec<Draft> = Vec::new();
    let mut clients: HashMap<Client, usize> = HashMap::default();
    // (the client's draft in `out`, child, fields) -> its `RecordRead` in that draft.
    let mut groups: HashMap<(usize, ChildId, Fields), usize> = HashMap::default();
    for p in batch {
        let note = match p {
            Pending::Entry(d) => {
                out.push(d);
                continue;
            }
            Pending::Read(note) => note,
        };
        let client = (note.tenant, note.actor, note.client);
        let folded = clients
            .get(&client)
            .and_then(|&slot| Some(slot).zip(out.get_mut(slot)));
        if let Some((
            slot,
            Draft {
                event: Event::ChildRecordsRead { reads },
                ..
            },
        )) = folded
        {
            let group = groups
                .get(&(slot, note.child, note.fields))
                .and_then(|&g| reads.get_mut(g));
            if let Some(RecordRead {
                at_ms: ReadTimes::Each(times),
                ..
            }) = group
            {
                times.push(note.at_ms);
            } else {
                groups.insert((slot, note.child, note.fields), reads.len());
                reads.push(record_read(&note.child, note.fields, note.at_ms));
            }
            continue;
        }
        let (tenant, actor, info) = &client;
        let mut first = Draft::new(
            tenant.to_string(),
            note.at_ms,
            Event::ChildRecordsRead {
                reads: vec![record_read(&note.child, note.fields, note.at_ms)],
            },
        );
        first.actor = Some(actor.to_string());
        first.ip = info.ip.clone();
        first.user_agent = info.user_agent.clone();
        first.device = info.device.clone();
        groups.insert((out.len(), note.child, note.fields), 0);
        clients.insert(client, out.len());
        out.push(first);
    }
    out
}

/// The first read of a child's fields in a client's draft.
fn record_read(child: &ChildId, fields: Fields, at_ms: i64) -> RecordRead {
    RecordRead {
        at_ms: ReadTimes::Each(vec![at_ms]),
        child_id: child.to_string(),
        fields: fields.iter().map(|f| Cow::Borrowed(*f)).collect(),
    }
}

/// Writes a batch (audit drafts and API access entries) in one transaction, retrying until it
/// is written. A commit whose answer was lost ([`StoreError::BatchUnknown`]) is looked for
/// before the batch is written again, so a batch is never in twice.
async fn write_with_retry(
    store: &dyn Store,
    batch: Vec<Draft>,
    accesses: Vec<kinfold_store::ApiAccess>,
) -> Written {
    if batch.is_empty() && accesses.is_empty() {
        return Written::default();
    }
    let append = || store.append_batch(batch.clone(), &accesses);
    let landed = |lost: LostCommit| async {
        let found = store.batch_landed(&lost).await;
        (lost, found)
    };
    written_once(batch.len() + accesses.len(), append, landed).await
}

/// Runs `append` until it writes, as [`retry_until_written`] does; after an attempt whose
/// outcome is unknown ([`StoreError::BatchUnknown`]), asks `landed` whether it is in before
/// appending again, so the batch is written once.
async fn written_once<A, AF, L, LF>(entries: usize, append: A, landed: L) -> Written
where
    A: Fn() -> AF,
    AF: std::future::Future<Output = Result<Written, StoreError>>,
    L: Fn(LostCommit) -> LF,
    LF: std::future::Future<Output = (LostCommit, Result<bool, StoreError>)>,
{
    // The entries of an attempt whose outcome is unknown, until it is known (a lock only to
    // share them with each attempt; never held across an await).
    let unknown: std::sync::Mutex<Option<LostCommit>> = Default::default();
    let take = || unknown.lock().map(|mut u| u.take()).unwrap_or_default();
    let keep = |list| {
        if let Ok(mut u) = unknown.lock() {
            *u = Some(list);
        }
    };
    retry_until_written("audit batch", entries, || async {
        if let Some(lost) = take() {
            match landed(lost).await {
                (lost, Ok(true)) => {
                    tracing::warn!(
                        entries = lost.entries.len(),
                        "an audit batch whose commit answer was lost is in; not written again"
                    );
                    return Ok(lost.entries);
                }
                (_, Ok(false)) => {}
                (lost, Err(e)) => {
                    keep(lost);
                    return Err(e);
                }
            }
        }
        match append().await {
            // Logged as such by the retry; what identifies it is kept to look for.
            Err(StoreError::BatchUnknown { lost, source }) => {
                keep(lost);
                Err(StoreError::BatchUnknown {
                    lost: LostCommit {
                        entries: Written::default(),
                        xact: String::new(),
                        mark: String::new(),
                    },
                    source,
                })
            }
            other => other,
        }
    })
    .await
}

/// Runs `attempt` until it succeeds. A failed write is logged and retried with backoff (50 ms,
/// doubling to 5 s); the caller keeps what it writes meanwhile, so nothing is dropped.
async fn retry_until_written<T, F, Fut>(what: &str, entries: usize, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kinfold_store::StoreError>>,
{
    let mut backoff = Duration::from_millis(50);
    loop {
        match attempt().await {
            Ok(done) => return done,
            Err(e) => {
                tracing::error!(error = %e, entries, "{what} write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests;
