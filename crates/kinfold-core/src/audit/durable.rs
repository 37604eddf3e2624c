//! L1: an entry is durable before the answer that reports it.
//!
//! Each message to the writer carries a oneshot that the writer completes once the batch
//! holding it is committed. Outside a request, a caller waits for its own entry. A request
//! served under [`deferring`] (the HTTP edge) waits once, at its end: entries go to the writer
//! in the order the request made them, and batches commit in that order, so the commit of the
//! request's last entry covers every earlier one. A child read then waits for one commit with
//! its API access entry, not one for the read and another for the access.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Committed, Msg};
use crate::CoreError;

/// How long a request waits for its entries' batch to commit before it answers `busy`. The
/// entries stay queued and are written when the store recovers; the response is not sent.
pub const COMMIT_WAIT: Duration = Duration::from_secs(5);

tokio::task_local! {
    /// The commit of the last entry the current request queued, when the request waits at its
    /// end rather than at each entry.
    static LAST: RefCell<Option<oneshot::Receiver<()>>>;
}

/// Runs `request` with its audit commits deferred to its end: what it returns comes with the
/// [`Deferred`] commit that the answer must wait for.
pub async fn deferring<F: Future>(request: F) -> (F::Output, Deferred) {
    LAST.scope(RefCell::new(None), async {
        let out = request.await;
        let last = LAST.with(|l| l.borrow_mut().take());
        (out, Deferred(last))
    })
    .await
}

/// The commit a request's answer waits for (none if it wrote no entry).
#[must_use = "the answer may go only once its audit entries are committed"]
pub struct Deferred(Option<oneshot::Receiver<()>>);

impl Deferred {
    /// Waits, at most [`COMMIT_WAIT`], until every entry the request queued is committed.
    pub async fn committed(self) -> Result<(), CoreError> {
        match self.0 {
            Some(last) => bounded(last, "the request's audit entries").await,
            None => Ok(()),
        }
    }
}

/// Queues a message; waits for its commit, or, under [`deferring`], leaves the wait to the
/// end of the request.
pub(super) async fn queue(
    tx: &mpsc::Sender<Msg>,
    msg: impl FnOnce(Committed) -> Msg,
    what: &str,
) -> Result<(), CoreError> {
    let (done, committed) = oneshot::channel();
    match tokio::time::timeout(COMMIT_WAIT, tx.send(msg(done))).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => {
            return Err(CoreError::Internal(format!(
                "the audit writer has stopped; {what} could not be queued"
            )))
        }
        Err(_) => return Err(busy(what)),
    }
    let mut mine = Some(committed);
    // Under `deferring`, this entry's commit replaces the earlier one: it covers it.
    let deferred = LAST.try_with(|l| *l.borrow_mut() = mine.take()).is_ok();
    match mine {
        Some(committed) if !deferred => bounded(committed, what).await,
        _ => Ok(()),
    }
}

async fn bounded(committed: oneshot::Receiver<()>, what: &str) -> Result<(), CoreError> {
    match tokio::time::timeout(COMMIT_WAIT, committed).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(CoreError::Internal(format!(
            "the audit writer stopped before writing {what}"
        ))),
        Err(_) => Err(busy(what)),
    }
}

fn busy(what: &str) -> CoreError {
    tracing::error!("{what} not committed within {COMMIT_WAIT:?}; answering busy");
    CoreError::Busy {
        retry_after_secs: 1,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::audit::Msg;

    fn flush(done: Committed) -> Msg {
        Msg::Flush(done)
    }

    /// A writer that takes messages and never commits them: the caller answers `busy` after
    /// [`COMMIT_WAIT`], not later, and not with the data.
    #[tokio::test(start_paused = true)]
    async fn an_entry_never_committed_answers_busy_after_the_bound() {
        let (tx, mut rx) = mpsc::channel(8);
        let keep = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some(m) = rx.recv().await {
                held.push(m);
            }
        });
        let started = tokio::time::Instant::now();
        let r = queue(&tx, flush, "a test entry").await;
        assert!(
            matches!(
                r,
                Err(CoreError::Busy {
                    retry_after_secs: 1
                })
            ),
            "{r:?}"
        );
        assert_eq!(started.elapsed(), COMMIT_WAIT);
        keep.abort();
    }

    /// A writer that stops (drops the entry without committing it) is an internal error.
    #[tokio::test]
    async fn a_stopped_writer_is_an_error_never_a_success() {
        let (tx, mut rx) = mpsc::channel(8);
        tokio::spawn(async move { drop(rx.recv().await) });
        let r = queue(&tx, flush, "a test entry").await;
        assert!(matches!(r, Err(CoreError::Internal(_))), "{r:?}");
        let (closed, rx) = mpsc::channel::<Msg>(1);
        drop(rx);
        let r = queue(&closed, flush, "a test entry").await;
        assert!(matches!(r, Err(CoreError::Internal(_))), "{r:?}");
    }

    /// Under `deferring`, entries return at once and the request waits at its end for its
    /// last entry; if that one is never committed, the answer is `busy`.
    #[tokio::test(start_paused = true)]
    async fn a_deferred_request_waits_for_its_last_entry() {
        let (tx, mut rx) = mpsc::channel(8);
        // Commits only the second message it receives: the last one covers the first.
        tokio::spawn(async move {
            let _first = rx.recv().await;
            if let Some(Msg::Flush(done)) = rx.recv().await {
                let _ = done.send(());
            }
            while rx.recv().await.is_some() {}
        });
        let (queued, deferred) = deferring(async {
            let a = queue(&tx, flush, "first").await;
            let b = queue(&tx, flush, "second").await;
            (a, b)
        })
        .await;
        assert!(queued.0.is_ok() && queued.1.is_ok());
        deferred.committed().await.unwrap();

        // Nothing commits: the end of the request answers busy.
        let (stuck, mut rx) = mpsc::channel(8);
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some(m) = rx.recv().await {
                held.push(m);
            }
        });
        let (queued, deferred) = deferring(queue(&stuck, flush, "only")).await;
        assert!(queued.is_ok());
        let r = deferred.committed().await;
        assert!(matches!(r, Err(CoreError::Busy { .. })), "{r:?}");
    }
}
