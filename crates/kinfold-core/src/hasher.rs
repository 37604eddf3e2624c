//! Runs argon2 off the async runtime: at most `workers` hashes at once on blocking threads, at
//! most `queue` more waiting. Beyond that the caller gets [`CoreError::Busy`] (503 with
//! `Retry-After`), never a stalled server.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::CoreError;

#[derive(Clone)]
pub struct Hasher {
    work: Arc<Semaphore>,
    admit: Arc<Semaphore>,
}

impl Hasher {
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            work: Arc::new(Semaphore::new(workers)),
            admit: Arc::new(Semaphore::new(workers + queue)),
        }
    }

    pub async fn run<T, F>(&self, f: F) -> Result<T, CoreError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _admitted = self
            .admit
            .clone()
            .try_acquire_owned()
            .map_err(|_| CoreError::Busy {
                retry_after_secs: 1,
            })?;
        let _permit = self
            .work
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| CoreError::Busy {
                retry_after_secs: 1,
            })?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| CoreError::Internal(format!("hash task: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_answers_busy() {
        let h = Hasher::new(1, 0);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let busy = h.clone();
        let first = tokio::spawn(async move { busy.run(move || rx.recv().is_ok()).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let second = h.run(|| true).await;
        assert!(matches!(
            second,
            Err(CoreError::Busy {
                retry_after_secs: 1
            })
        ));
        tx.send(()).unwrap();
        assert!(first.await.unwrap().unwrap());
        assert!(
            h.run(|| true).await.unwrap(),
            "free again once the work is done"
        );
    }
}
