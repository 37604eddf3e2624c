//! Writing the audit trail.
//!
//! - Admin events go into the store call that makes the change, in the same transaction (L2).
//! - Access events go through [`AuditWriter::record`]: a bounded channel to one task that
//!   group-commits a batch at most `batch_delay` (default 2 ms) after its first entry, and
//!   whatever queued while the last batch was being written. `record` returns only once its
//!   entry's batch is committed (L1: a response that reports a read or an access is sent after
//!   its entry is durable, so a crash cannot lose it), or fails with `busy` after
//!   [`COMMIT_WAIT`]. When the channel is full, `record` waits: an entry is never dropped. A
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
use kinfold_audit::{Checkpoint, Draft, Event};
use kinfold_store::{ChildId, ClientInfo, Store, TenantId, UserId};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

use crate::keys::Keyring;
use crate::{Clock, CoreError};

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

/// How long a request waits for its entry's batch to commit before it answers `busy`. The
/// entry stays queued and is written when the store recovers; the response is not sent.
pub const COMMIT_WAIT: Duration = Duration::from_secs(5);

/// Told when the batch holding a message is committed.
type Committed = oneshot::Sender<()>;

enum Msg {
    Entry(Box<Draft>, Committed),
    Read(ReadNote, Committed),
    Access(Box<kinfold_store::ApiAccess>, Committed),
    Flush(Committed),
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
        };
        let task = tokio::spawn(run(rx, store, checkpointer.clone(), settings));
        Self {
            tx,
            task: Mutex::new(Some(task)),
            checkpointer,
        }
    }

    /// Writes an access event with the next group commit and returns once it is committed.
    /// Waits when the queue is full; never drops.
    pub async fn record(&self, draft: Draft) -> Result<(), CoreError> {
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

    /// Queues a message and waits, at most [`COMMIT_WAIT`] in all, until its batch is
    /// committed.
    async fn commit(
        &self,
        msg: impl FnOnce(Committed) -> Msg,
        what: &str,
    ) -> Result<(), CoreError> {
        let (done, committed) = oneshot::channel();
        let wait = async {
            if self.tx.send(msg(done)).await.is_err() {
                return Err(CoreError::Internal(format!(
                    "the audit writer has stopped; {what} could not be queued"
                )));
            }
            committed.await.map_err(|_| {
                CoreError::Internal(format!("the audit writer stopped before writing {what}"))
            })
        };
        match tokio::time::timeout(COMMIT_WAIT, wait).await {
            Ok(result) => result,
            Err(_) => {
                tracing::error!("{what} was not committed within {COMMIT_WAIT:?}; answering busy");
                Err(CoreError::Busy {
                    retry_after_secs: 1,
                })
            }
        }
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

    pub(crate) async fn shutdown(&self) {
        self.flush().await;
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
        let mut batch = Vec::new();
        let mut accesses = Vec::new();
        let mut waiters = Vec::new();
        let push = |m: Msg,
                    batch: &mut Vec<Pending>,
                    accesses: &mut Vec<kinfold_store::ApiAccess>,
                    waiters: &mut Vec<oneshot::Sender<()>>| match m {
            Msg::Entry(d, w) => {
                batch.push(Pending::Entry(*d));
                waiters.push(w);
            }
            Msg::Read(r, w) => {
                batch.push(Pending::Read(r));
                waiters.push(w);
            }
            Msg::Access(a, w) => {
                accesses.push(*a);
                waiters.push(w);
            }
            Msg::Flush(w) => waiters.push(w),
        };
        let flush = matches!(first, Msg::Flush(_));
        push(first, &mut batch, &mut accesses, &mut waiters);
        if !flush && !settings.batch_delay.is_zero() {
            // Sleep out the batch delay instead of waking for every entry, then take what
            // arrived: under load the writer wakes once per batch, not once per request.
            tokio::time::sleep(settings.batch_delay).await;
        }
        while batch.len() + accesses.len() < settings.batch_max {
            match rx.try_recv() {
                Ok(m) => push(m, &mut batch, &mut accesses, &mut waiters),
                Err(_) => break,
            }
        }
        let batch = fold_reads(batch);
        let mut chains: Vec<String> = batch.iter().map(|d| d.chain.clone()).collect();
        chains.sort();
        chains.dedup();
        write_with_retry(&*store, batch).await;
        write_access_with_retry(&*store, accesses).await;
        // Committed: the requests of this batch may answer now, before the checkpoint.
        for w in waiters {
            let _ = w.send(());
        }
        if let Err(e) = cp.run_for(&chains, false).await {
            tracing::error!(error = %e, "audit checkpoint failed");
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

async fn write_with_retry(store: &dyn Store, batch: Vec<Draft>) {
    if !batch.is_empty() {
        retry_until_written("audit batch", batch.len(), || {
            store.append_audit(batch.clone())
        })
        .await;
    }
}

async fn write_access_with_retry(store: &dyn Store, entries: Vec<kinfold_store::ApiAccess>) {
    if !entries.is_empty() {
        retry_until_written("API access log", entries.len(), || {
            store.append_api_access(&entries)
        })
        .await;
    }
}

/// Runs `attempt` until it succeeds. A failed write is logged and retried with backoff (50 ms,
/// doubling to 5 s); the caller keeps what it writes meanwhile, so nothing is dropped.
async fn retry_until_written<T, F, Fut>(what: &str, entries: usize, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kinfold_store::StoreError>>,
{
    let mut backoff = Duration::from_millis(50);
    while let Err(e) = attempt().await {
        tracing::error!(error = %e, entries, "{what} write failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Signs checkpoints for chains that need one.
#[derive(Clone)]
pub struct Checkpointer {
    store: Arc<dyn Store>,
    keys: Keyring,
    clock: Arc<dyn Clock>,
    every: i64,
}

impl Checkpointer {
    /// With `any_growth`, checkpoints every chain that grew at all; otherwise only chains that
    /// grew by `every` entries since their last checkpoint.
    pub async fn run(&self, any_growth: bool) -> Result<usize, CoreError> {
        let chains = self.store.audit_chains().await?;
        self.run_for(&chains, any_growth).await
    }

    pub async fn run_for(&self, chains: &[String], any_growth: bool) -> Result<usize, CoreError> {
        let mut made = 0;
        for chain in chains {
            let Some((seq, hash)) = self.store.audit_head(chain).await? else {
                continue;
            };
            let last_cp = self.store.last_checkpoint_seq(chain).await?;
            let grown = seq - last_cp;
            if grown <= 0 || (!any_growth && grown < self.every) {
                continue;
            }
            self.sign(chain, seq, &hash).await?;
            made += 1;
        }
        Ok(made)
    }

    async fn sign(&self, chain: &str, seq: i64, hash: &str) -> Result<(), CoreError> {
        let signer = self.keys.signer().await?;
        let at_ms = self.clock.now_ms();
        let cp = Checkpoint {
            chain: chain.to_owned(),
            seq,
            hash: hash.to_owned(),
            at_ms,
            public_key: signer.public_base64(),
            signature: signer.sign(&Checkpoint::message(chain, seq, hash, at_ms)),
        };
        self.store.insert_checkpoint(cp).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names stand for ids: `t1` and `ana` become fixed UUIDs, `c1` the child with number 1.
    fn id(name: &str) -> uuid::Uuid {
        let n = name.bytes().fold(0u128, |a, b| a * 256 + u128::from(b));
        uuid::Uuid::from_u128(n)
    }

    fn info(ip: &str) -> ClientInfo {
        ClientInfo {
            ip: Some(ip.to_owned()),
            user_agent: Some("ua1".into()),
            device: Some("d1".into()),
        }
    }

    fn note(tenant: &str, actor: &str, client: ClientInfo, child: &str, at_ms: i64) -> Pending {
        Pending::Read(ReadNote {
            tenant: TenantId(id(tenant)),
            actor: UserId(id(actor)),
            client: Arc::new(client),
            child: ChildId(id(child)),
            fields: &["allergies"],
            at_ms,
        })
    }

    fn read(tenant: &str, actor: &str, ip: &str, child: &str, at_ms: i64) -> Pending {
        note(tenant, actor, info(ip), child, at_ms)
    }

    fn c(child: &str) -> String {
        id(child).to_string()
    }

    /// Each read in a folded draft: (child, time), grouped per child in first-read order.
    fn reads(d: &Draft) -> Vec<(String, i64)> {
        match &d.event {
            Event::ChildRecordsRead { reads } => reads
                .iter()
                .flat_map(|r| r.at_ms.all().iter().map(|t| (r.child_id.clone(), *t)))
                .collect(),
            other => vec![(format!("{other:?}"), -1)],
        }
    }

    #[test]
    fn reads_fold_per_client_and_everything_else_keeps_its_place() {
        let other = Draft::new(
            "t1",
            5,
            Event::PasswordChanged {
                user_id: "u".into(),
            },
        );
        let batch = vec![
            read("t1", "ana", "10.0.0.1", "c1", 1),
            read("t1", "ben", "10.0.0.1", "c2", 2),
            Pending::Entry(other.clone()),
            read("t1", "ana", "10.0.0.1", "c3", 3),
            read("t2", "ana", "10.0.0.1", "c4", 4),
            read("t1", "ana", "10.0.0.9", "c5", 6),
            read("t1", "ana", "10.0.0.1", "c1", 7),
        ];
        let out = fold_reads(batch);
        assert_eq!(out.len(), 5);
        assert_eq!(reads(&out[0]), [(c("c1"), 1), (c("c1"), 7), (c("c3"), 3)]);
        let ana = id("ana").to_string();
        assert_eq!(
            (out[0].actor.as_deref(), out[0].at_ms),
            (Some(ana.as_str()), 1)
        );
        assert_eq!(out[0].chain, id("t1").to_string());
        assert_eq!(
            (
                out[0].ip.as_deref(),
                out[0].user_agent.as_deref(),
                out[0].device.as_deref()
            ),
            (Some("10.0.0.1"), Some("ua1"), Some("d1"))
        );
        assert_eq!(reads(&out[1]), [(c("c2"), 2)]);
        assert_eq!(out[1].actor, Some(id("ben").to_string()));
        assert_eq!((out[2].at_ms, &out[2].event), (5, &other.event));
        assert_eq!(
            (out[3].chain.clone(), reads(&out[3])),
            (id("t2").to_string(), vec![(c("c4"), 4)])
        );
        assert_eq!(reads(&out[4]), [(c("c5"), 6)]);
        match &out[0].event {
            Event::ChildRecordsRead { reads } => assert_eq!(reads[0].fields, ["allergies"]),
            e => panic!("{e:?}"),
        }
        // Another device or browser of the same person at the same address is another client.
        let mut other_device = info("10.0.0.1");
        other_device.device = Some("d2".into());
        let mut other_agent = info("10.0.0.1");
        other_agent.user_agent = Some("ua2".into());
        let split = fold_reads(vec![
            read("t1", "ana", "10.0.0.1", "c1", 1),
            note("t1", "ana", other_device, "c6", 8),
            note("t1", "ana", other_agent, "c7", 9),
        ]);
        assert_eq!(split.len(), 3, "no merging across devices or user agents");
        assert!(out
            .iter()
            .all(|d| d.event.category() == other.event.category()
                || d.event.kind() == "child_records_read"));
    }

    #[test]
    fn reads_of_one_childs_same_fields_share_one_read_with_each_time() {
        let with_fields = |child: &str, fields: Fields, at_ms: i64| match read(
            "t1", "ana", "10.0.0.1", child, at_ms,
        ) {
            Pending::Read(n) => Pending::Read(ReadNote { fields, ..n }),
            other => other,
        };
        let out = fold_reads(vec![
            with_fields("c1", &["allergies", "medical_notes"], 10),
            with_fields("c2", &["allergies", "medical_notes"], 11),
            with_fields("c1", &["allergies", "medical_notes"], 12),
            with_fields("c1", &["emergency_contacts"], 13),
            with_fields("c1", &["allergies", "medical_notes"], 12),
        ]);
        assert_eq!(out.len(), 1, "one client, one entry");
        let Event::ChildRecordsRead { reads } = &out[0].event else {
            panic!("{:?}", out[0].event);
        };
        let got: Vec<_> = reads
            .iter()
            .map(|r| {
                (
                    r.child_id.clone(),
                    r.fields.join(","),
                    r.at_ms.all().to_vec(),
                )
            })
            .collect();
        let fields = "allergies,medical_notes".to_owned();
        assert_eq!(
            got,
            [
                (c("c1"), fields.clone(), vec![10, 12, 12]),
                (c("c2"), fields, vec![11]),
                (c("c1"), "emergency_contacts".to_owned(), vec![13]),
            ],
            "every read is kept, the same time twice included"
        );
        let text = serde_json::to_string(&out[0].event).unwrap_or_default();
        assert!(
            text.contains(&format!(
                "{{\"at_ms\":[10,12,12],\"child_id\":\"{}\",\"fields\":[\"allergies\",\"medical_notes\"]}}",
                c("c1")
            )),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_failed_write_is_retried_with_backoff_until_it_succeeds() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let attempts = AtomicUsize::new(0);
        let started = std::time::Instant::now();
        retry_until_written("test", 1, || async {
            if attempts.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(kinfold_store::StoreError::Corrupt("disk full"))
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            3,
            "two failures, then written"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "waited 50 ms, then 100 ms: {:?}",
            started.elapsed()
        );
    }
}
