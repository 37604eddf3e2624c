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
