//! One thread that owns a value and runs jobs on it, one at a time, for
//! callers on any thread (async or not): the `postgres` client blocks on
//! a runtime of its own, which must not run inside the enclave's.

use std::sync::mpsc;

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
        let (answer, answered) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |value: &mut T| {
                let _ = answer.send(f(value));
            }))
            .map_err(|_| gone())?;
        answered.recv().map_err(|_| gone())
    }
}
