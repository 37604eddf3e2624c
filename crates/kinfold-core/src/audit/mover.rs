//! The writer's journal mode (see [`super::journal`]): the writer seals each batch into the
//! journal and answers its requests; the mover appends the journal's records to the chain in
//! large batches, with the journal position they reach in the same transaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kinfold_audit::Draft;
use kinfold_crypto::keyring::MasterKey;
use kinfold_store::{ApiAccess, Store, Written};
use tokio::sync::mpsc;

use super::journal::{self, Journal, JournalKey, Pos};
use super::{Checkpointer, Committed};
use crate::CoreError;

/// How long the mover gathers records before a move, unless asked to flush.
const MOVE_DELAY: Duration = Duration::from_millis(100);
/// At most this many entries in one move.
const MOVE_MAX: usize = 20_000;
/// Batches sealed and not yet taken by the mover; past this the writer waits for it (and
/// requests wait for the writer, up to `COMMIT_WAIT`), so a stuck database bounds memory.
const BACKLOG: usize = 4096;

pub(crate) enum Move {
    /// A batch: journaled at `pos` (its requests have answered), or not journaled (the
    /// journal failed), and then `waiters` answer once it is in the chain.
    Batch {
        pos: Option<Pos>,
        drafts: Vec<Draft>,
        accesses: Vec<ApiAccess>,
        waiters: Vec<Committed>,
    },
    /// A segment the writer closed: deleted once what came before it is in the chain.
    Closed(PathBuf),
    /// Answered once everything before it is in the chain.
    Flush(Committed),
    /// Everything before is moved, the segments deleted and the journal's lock let go.
    Close(Box<Journal>, Committed),
}

/// The writer's side of journal mode.
pub(crate) struct Journaling {
    journal: Option<Journal>,
    /// A write failed: batches wait for the chain's commit from then on.
    broken: bool,
    to_mover: mpsc::Sender<Move>,
}

impl Journaling {
    /// Seals a batch into the journal and answers its requests; hands it to the mover. If the
    /// journal cannot be written, it is not used again by this process, and this batch and
    /// every later one wait for the mover's commit instead.
    pub async fn batch(
        &mut self,
        drafts: Vec<Draft>,
        accesses: Vec<ApiAccess>,
        mut waiters: Vec<Committed>,
        flushes: Vec<Committed>,
    ) {
        let mut closed = None;
        let mut pos = None;
        if !(drafts.is_empty() && accesses.is_empty()) {
            if let Some(j) = self.journal.as_mut().filter(|_| !self.broken) {
                match j.append(&drafts, &accesses) {
                    Ok((at, c)) => {
                        pos = Some(at);
                        closed = c;
                        for w in waiters.drain(..) {
                            let _ = w.send(());
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the audit journal cannot be written; until restart, answers wait for the chain's own commit");
                        self.broken = true;
                    }
                }
            }
            self.send(Move::Batch {
                pos,
                drafts,
                accesses,
                waiters,
            })
            .await;
        } else {
            for w in waiters {
                let _ = w.send(());
            }
        }
        if let Some(c) = closed {
            self.send(Move::Closed(c)).await;
        }
        for f in flushes {
            self.send(Move::Flush(f)).await;
        }
    }

    /// Ends journal mode: the mover moves what is left, deletes the segments, and lets the
    /// lock go; `done` is told then.
    pub async fn close(mut self, done: Committed) {
        match self.journal.take() {
            Some(j) => self.send(Move::Close(Box::new(j), done)).await,
            None => self.send(Move::Flush(done)).await,
        }
    }

    /// Hands `m` to the mover. If the mover has stopped, nothing more is answered on the
    /// journal's write alone: waiters get an error, never a success.
    async fn send(&mut self, m: Move) {
        if self.to_mover.send(m).await.is_err() {
            if !self.broken {
                tracing::error!("the audit journal's mover has stopped; requests that report reads fail until restart");
            }
            self.broken = true;
        }
    }
}

/// Opens this process's journal in `data`, moves into the chain what earlier runs left in
/// it, and starts the mover. `None` when another process holds the journal.
pub(crate) async fn resume(
    data: &Path,
    master: &MasterKey,
    cp: &Checkpointer,
) -> Result<Option<Journaling>, CoreError> {
    let internal = |e: journal::JournalError| CoreError::Internal(e.to_string());
    let Some(locked) = journal::Locked::take(data).map_err(internal)? else {
        tracing::info!("the audit journal is held by another process; this one commits its entries to the chain directly");
        return Ok(None);
    };
    // Under the lock: no other process moves the journal while the mark is read.
    let mark = cp.store.journal_mark().await?;
    let key = JournalKey::new(master).map_err(internal)?;
    let (journal, left) = Journal::open(locked, key, mark.as_deref()).map_err(internal)?;
    // A segment at a time, in MOVE_MAX moves; each deleted once its records are in.
    let mut records = 0usize;
    for (seg, path) in &left.segments {
        let found = journal.left_in(&left, *seg, path).map_err(internal)?;
        records += found.records.len();
        let mut moving = Moving::default();
        for (pos, record) in found.records {
            moving.push(Move::Batch {
                pos: Some(pos),
                drafts: record.drafts,
                accesses: record.accesses,
                waiters: Vec::new(),
            });
            if moving.len() >= MOVE_MAX {
                moving.replay(cp).await?;
            }
        }
        moving.replay(cp).await?;
        journal::retire(path, found.damaged);
    }
    if records > 0 {
        tracing::warn!(
            records,
            "audit entries answered before the last stop, still in the journal, moved into the chain"
        );
    }
    let (to_mover, rx) = mpsc::channel(BACKLOG);
    tokio::spawn(run(rx, cp.clone()));
    Ok(Some(Journaling {
        journal: Some(journal),
        broken: false,
        to_mover,
    }))
}

async fn run(mut rx: mpsc::Receiver<Move>, cp: Checkpointer) {
    loop {
        let Some(first) = rx.recv().await else { return };
        let mut moving = Moving::default();
        moving.push(first);
        let deadline = tokio::time::Instant::now() + MOVE_DELAY;
        while !moving.urgent() && moving.len() < MOVE_MAX {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(m)) => moving.push(m),
                _ => break,
            }
        }
        if moving.commit(&cp).await {
            return;
        }
    }
}

/// One move: the records gathered, who waits for them, and what to delete after.
#[derive(Default)]
struct Moving {
    drafts: Vec<Draft>,
    accesses: Vec<ApiAccess>,
    last: Option<Pos>,
    waiters: Vec<Committed>,
    flushes: Vec<Committed>,
    closed: Vec<PathBuf>,
    close: Option<(Box<Journal>, Committed)>,
}

impl Moving {
    fn push(&mut self, m: Move) {
        match m {
            Move::Batch {
                pos,
                drafts,
                accesses,
                waiters,
            } => {
                self.drafts.extend(drafts);
                self.accesses.extend(accesses);
                self.last = pos.or(self.last);
                self.waiters.extend(waiters);
            }
            Move::Closed(path) => self.closed.push(path),
            Move::Flush(done) => self.flushes.push(done),
            Move::Close(journal, done) => self.close = Some((journal, done)),
        }
    }

    fn len(&self) -> usize {
        self.drafts.len() + self.accesses.len()
    }

    /// Someone waits: move now.
    fn urgent(&self) -> bool {
        !(self.waiters.is_empty() && self.flushes.is_empty()) || self.close.is_some()
    }

    /// Replays records at start-up: an error is the start's.
    async fn replay(&mut self, cp: &Checkpointer) -> Result<(), CoreError> {
        let Some(last) = self.last.take() else {
            return Ok(());
        };
        let drafts = std::mem::take(&mut self.drafts);
        let accesses = std::mem::take(&mut self.accesses);
        let written = cp
            .store
            .append_journaled(drafts, &accesses, &last.mark())
            .await?;
        super::checkpoint_heads(cp, &written).await;
        Ok(())
    }

    /// Moves, retrying until it is in; answers who waits; deletes what is moved. Returns
    /// whether the journal was closed.
    async fn commit(self, cp: &Checkpointer) -> bool {
        let store: &Arc<dyn Store> = &cp.store;
        let entries = self.len();
        let written: Written = match self.last {
            Some(last) => {
                let mark = last.mark();
                super::retry_until_written("audit journal move", entries, || {
                    store.append_journaled(self.drafts.clone(), &self.accesses, &mark)
                })
                .await
            }
            None => super::write_with_retry(&**store, self.drafts, self.accesses).await,
        };
        for w in self.waiters.into_iter().chain(self.flushes) {
            let _ = w.send(());
        }
        journal::remove(&self.closed);
        super::checkpoint_heads(cp, &written).await;
        match self.close {
            Some((journal, done)) => {
                journal::remove(&[journal.current()]);
                drop(journal);
                let _ = done.send(());
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
#[path = "mover_tests.rs"]
mod tests;
