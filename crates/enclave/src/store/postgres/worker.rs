//! One thread that owns a value and runs jobs on it, one at a time, for
//! callers on any thread (async or not): the `postgres` client blocks on
//! a runtime of its own, which must not run inside the enclave's.

use std::sync::mpsc;
use std::time::Duration;

use crate::store::StoreError;

type Job<T> = Box<dyn FnOnce(&mut T) + Send>;

/// The handle; the thread ends when it is dropped.
pub struct Worker<T> {
    jobs: mpsc::Sender<Job<T>>,
}

fn gone() -> StoreError {
    StoreError::Database("the database thread stopped".into())
}

impl<T: Send + 'static> Worker<T> {
    pub fn spawn(name: &str, mut value: T) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job<T>>();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    job(&mut value);
                }
            })
            .map_err(|e| StoreError::Database(format!("cannot start the database thread: {e}")))?;
        Ok(Self { jobs })
    }

    /// Runs `f` on the thread and waits for its answer.
    pub fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut T) -> R + Send + 'static,
    ) -> Result<R, StoreError> {
        self.send(f)?.recv().map_err(|_| gone())
    }

    /// Queues `f`; its answer comes on the receiver.
    fn send<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut T) -> R + Send + 'static,
    ) -> Result<mpsc::Receiver<R>, StoreError> {
        let (answer, answered) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |value: &mut T| {
                let _ = answer.send(f(value));
            }))
            .map_err(|_| gone())?;
        Ok(answered)
    }

    /// [`Self::call`], giving up after `limit` (a database that stopped
    /// answering, not closed); the thread is then stuck on `f` until its
    /// connection ends, and this handle should be dropped.
    pub fn call_within<R: Send + 'static>(
        &self,
        limit: Duration,
        f: impl FnOnce(&mut T) -> R + Send + 'static,
    ) -> Result<R, StoreError> {
        self.send(f)?.recv_timeout(limit).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => {
                StoreError::Unavailable(format!("no answer within {} s", limit.as_secs()))
            }
            mpsc::RecvTimeoutError::Disconnected => gone(),
        })
    }
}
