//! Writing the audit trail.
//!
//! - Admin events go into the store call that makes the change, in the same transaction (L2).
//! - Access events go through [`AuditWriter::record`]: a bounded channel to one task that
//!   group-commits a batch at most `batch_delay` (default 50 ms) after its first entry. When
//!   the channel is full, `record` waits: an entry is never dropped. A failed write is retried
//!   with backoff and logged; the batch is kept.
//! - Reads of sealed fields are folded per client (chain, actor, IP, user agent, device) into
//!   one `child_records_read` entry per batch ([`fold_reads`]): a busy center writes a few
//!   chain entries per group commit, not one per read, and every read is still in the chain.
//! - After each batch, and every `checkpoint_interval`, chains that grew by
//!   `checkpoint_every` entries (or at all, on the timer) get an Ed25519-signed checkpoint.

use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use kinfold_audit::event::RecordRead;
use kinfold_audit::{Checkpoint, Draft, Event};
use kinfold_store::Store;
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
            batch_delay: Duration::from_millis(50),
            batch_max: 20_000,
            checkpoint_every: 100,
            checkpoint_interval: Duration::from_secs(300),
        }
    }
}

enum Msg {
    Entry(Box<Draft>),
    Access(Box<kinfold_store::ApiAccess>),
    Flush(oneshot::Sender<()>),
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

    /// Queues an entry. Waits when the queue is full; never drops.
    pub async fn record(&self, draft: Draft) {
        if self.tx.send(Msg::Entry(Box::new(draft))).await.is_err() {
            tracing::error!("audit writer has stopped; an entry could not be queued");
        }
    }

    /// Queues an API access entry (L4), group-committed like access events.
    pub async fn record_api_access(&self, entry: kinfold_store::ApiAccess) {
        if self.tx.send(Msg::Access(Box::new(entry))).await.is_err() {
            tracing::error!("audit writer has stopped; an API access entry could not be queued");
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
                    batch: &mut Vec<Draft>,
                    accesses: &mut Vec<kinfold_store::ApiAccess>,
                    waiters: &mut Vec<oneshot::Sender<()>>| match m {
            Msg::Entry(d) => batch.push(*d),
            Msg::Access(a) => accesses.push(*a),
            Msg::Flush(w) => waiters.push(w),
        };
        push(first, &mut batch, &mut accesses, &mut waiters);
        if waiters.is_empty() {
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
        if let Err(e) = cp.run_for(&chains, false).await {
            tracing::error!(error = %e, "audit checkpoint failed");
        }
        for w in waiters {
            let _ = w.send(());
        }
    }
}

type Client = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Folds each client's `child_record_read` drafts into one `child_records_read` draft, at the
/// place of the client's first read in the batch. A client is a chain, actor, IP, user agent
/// and device; every other draft keeps its place.
fn fold_reads(batch: Vec<Draft>) -> Vec<Draft> {
    let mut out: Vec<Draft> = Vec::with_capacity(batch.len());
    let mut slots: HashMap<Client, usize> = HashMap::new();
    for d in batch {
        match d.event {
            Event::ChildRecordRead { child_id, fields } => {
                let read = RecordRead {
                    child_id,
                    fields,
                    at_ms: d.at_ms,
                };
                let client = (d.chain, d.actor, d.ip, d.user_agent, d.device);
                let folded = slots.get(&client).and_then(|&i| out.get_mut(i));
                if let Some(Draft {
                    event: Event::ChildRecordsRead { reads },
                    ..
                }) = folded
                {
                    reads.push(read);
                    continue;
                }
                let (chain, actor, ip, user_agent, device) = client.clone();
                let mut first = Draft::new(
                    chain,
                    read.at_ms,
                    Event::ChildRecordsRead { reads: vec![read] },
                );
                first.actor = actor;
                first.ip = ip;
                first.user_agent = user_agent;
                first.device = device;
                slots.insert(client, out.len());
                out.push(first);
            }
            event => out.push(Draft { event, ..d }),
        }
    }
    out
}

async fn write_with_retry(store: &dyn Store, batch: Vec<Draft>) {
    if batch.is_empty() {
        return;
    }
    let mut backoff = Duration::from_millis(50);
    loop {
        match store.append_audit(batch.clone()).await {
            Ok(_) => return,
            Err(e) => {
                tracing::error!(error = %e, entries = batch.len(), "audit batch write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn write_access_with_retry(store: &dyn Store, entries: Vec<kinfold_store::ApiAccess>) {
    if entries.is_empty() {
        return;
    }
    let mut backoff = Duration::from_millis(50);
    loop {
        match store.append_api_access(entries.clone()).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(error = %e, entries = entries.len(), "API access log write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
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

    fn read(chain: &str, actor: &str, ip: &str, child: &str, at_ms: i64) -> Draft {
        let mut d = Draft::new(
            chain,
            at_ms,
            Event::ChildRecordRead {
                child_id: child.to_owned(),
                fields: vec!["allergies".into()],
            },
        );
        d.actor = Some(actor.to_owned());
        d.ip = Some(ip.to_owned());
        d
    }

    fn reads(d: &Draft) -> Vec<(String, i64)> {
        match &d.event {
            Event::ChildRecordsRead { reads } => reads
                .iter()
                .map(|r| (r.child_id.clone(), r.at_ms))
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
            other.clone(),
            read("t1", "ana", "10.0.0.1", "c3", 3),
            read("t2", "ana", "10.0.0.1", "c4", 4),
            read("t1", "ana", "10.0.0.9", "c5", 6),
            read("t1", "ana", "10.0.0.1", "c1", 7),
        ];
        let out = fold_reads(batch);
        assert_eq!(out.len(), 5);
        assert_eq!(
            reads(&out[0]),
            [("c1".into(), 1), ("c3".into(), 3), ("c1".into(), 7)]
        );
        assert_eq!((out[0].actor.as_deref(), out[0].at_ms), (Some("ana"), 1));
        assert_eq!(out[0].ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(reads(&out[1]), [("c2".into(), 2)]);
        assert_eq!(out[1].actor.as_deref(), Some("ben"));
        assert_eq!((out[2].at_ms, &out[2].event), (5, &other.event));
        assert_eq!(
            (out[3].chain.as_str(), reads(&out[3])),
            ("t2", vec![("c4".into(), 4)])
        );
        assert_eq!(reads(&out[4]), [("c5".into(), 6)]);
        // Another device or browser of the same person at the same address is another client.
        let mut other_device = read("t1", "ana", "10.0.0.1", "c6", 8);
        other_device.device = Some("d2".into());
        let mut other_agent = read("t1", "ana", "10.0.0.1", "c7", 9);
        other_agent.user_agent = Some("ua2".into());
        let split = fold_reads(vec![
            read("t1", "ana", "10.0.0.1", "c1", 1),
            other_device,
            other_agent,
        ]);
        assert_eq!(split.len(), 3, "no merging across devices or user agents");
        assert!(out
            .iter()
            .all(|d| d.event.category() == other.event.category()
                || d.event.kind() == "child_records_read"));
    }
}
