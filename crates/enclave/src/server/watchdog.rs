//! The idle bound of one connection, for HTTP/1 and HTTP/2 alike: a
//! connection on which no request is being handled, and none has started
//! or ended for [`IDLE_TIMEOUT`], is closed. Bytes alone do not count, so
//! a client trickling a header (or HTTP/2 pings) cannot hold a slot.
//! hyper has no such bound for HTTP/2, and for HTTP/1 only the header
//! timeout.
//!
//! The watch is a task of its own that aborts the connection's task once
//! idle ([`Activity::watch`]): the connection's own polling stays as it
//! was (a timer polled beside it would be polled at every wake-up, that
//! is several times per request).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use super::limits::IDLE_TIMEOUT;

/// What one connection is doing.
#[derive(Clone)]
pub struct Activity(Arc<Inner>);

struct Inner {
    opened: Instant,
    /// Requests being handled.
    handling: AtomicUsize,
    /// When a request last started or ended, in milliseconds since
    /// `opened`.
    last: AtomicU64,
    /// The connection's task, once spawned ([`Activity::watch`]).
    task: OnceLock<tokio::task::AbortHandle>,
}

/// One request being handled; the connection is busy until it drops.
pub struct Handling(Activity);

impl Activity {
    pub fn new() -> Self {
        Self(Arc::new(Inner {
            opened: Instant::now(),
            handling: AtomicUsize::new(0),
            last: AtomicU64::new(0),
            task: OnceLock::new(),
        }))
    }

    /// Marks a request as started; it ends when the guard drops.
    pub fn handling(&self) -> Handling {
        self.0.handling.fetch_add(1, Ordering::SeqCst);
        self.touch();
        Handling(self.clone())
    }

    fn touch(&self) {
        let ms = u64::try_from(self.0.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last.store(ms, Ordering::SeqCst);
    }

    /// Spawns the watch over `connection`'s task: aborted (the connection
    /// dropped, so closed) once idle for [`IDLE_TIMEOUT`]; the watch ends
    /// with the connection.
    pub fn watch(&self, connection: tokio::task::AbortHandle, peer: std::net::SocketAddr) {
        let _ = self.0.task.set(connection.clone());
        let activity = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = activity.idle_for(IDLE_TIMEOUT) => {
                    connection.abort();
                    crate::metrics::get().refused(crate::metrics::Limit::IdleTimeout);
                    tracing::debug!("closed idle connection from {peer}");
                }
                () = ended(&connection) => {}
            }
        });
    }

    /// Closes the connection (its task is aborted) to make room for
    /// another ([`super::slots`]).
    pub fn close(&self) {
        if let Some(task) = self.0.task.get() {
            task.abort();
        }
    }

    /// Which connection to close first: one idle between requests before
    /// one handling a request; then the longest idle, or the longest held.
    pub fn closing_order(&self) -> (bool, Instant) {
        if self.0.handling.load(Ordering::SeqCst) > 0 {
            (true, self.0.opened)
        } else {
            let last = Duration::from_millis(self.0.last.load(Ordering::SeqCst));
            (false, self.0.opened + last)
        }
    }

    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.0.opened + Duration::from_millis(self.0.last.load(Ordering::SeqCst));
            let deadline = last + limit;
            if Instant::now() >= deadline && self.0.handling.load(Ordering::SeqCst) == 0 {
                return;
            }
            // Busy at the deadline: look again one period on (a request
            // ending resets the clock anyway).
            tokio::time::sleep_until(deadline.max(Instant::now() + limit / 4)).await;
        }
    }
}

/// Resolves once the task of `connection` has ended; looks every
/// [`IDLE_TIMEOUT`] / 4 (a watch outliving its connection by that long
/// costs nothing but a sleeping task).
async fn ended(connection: &tokio::task::AbortHandle) {
    while !connection.is_finished() {
        tokio::time::sleep(IDLE_TIMEOUT / 4).await;
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.touch();
        self.0 .0.handling.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_means_no_request_for_the_whole_period() {
        let limit = Duration::from_millis(200);
        let activity = Activity::new();
        let started = Instant::now();
        activity.idle_for(limit).await;
        let waited = started.elapsed();
        assert!(waited >= limit && waited < limit * 5, "{waited:?}");

        // A request in progress keeps it open; its end restarts the clock.
        let activity = Activity::new();
        let busy = activity.handling();
        let watch = activity.clone();
        let started = Instant::now();
        let idle = tokio::spawn(async move { watch.idle_for(limit).await });
        tokio::time::sleep(limit * 3).await;
        assert!(!idle.is_finished(), "closed while a request was handled");
        drop(busy);
        let _ = idle.await;
        let waited = started.elapsed();
        assert!(waited >= limit * 4, "{waited:?}");
    }
}
