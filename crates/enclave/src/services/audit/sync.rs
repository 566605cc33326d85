//! The background `fdatasync` of entries nobody waits on, and at once of
//! those requests wait on ([`super::SYNC_INTERVAL`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{lock, refuse, AuditLog, SYNC_INTERVAL};

impl AuditLog {
    /// Syncs whatever was written since the last sync: at once when a
    /// request waits for it, else at most every [`SYNC_INTERVAL`] (each
    /// `fdatasync` costs the kernel CPU time). Once anything failed, it
    /// refuses the requests waiting for it instead.
    pub(super) async fn sync_in_background(self: Arc<Self>) {
        let mut synced = self.written_upto.load(Ordering::Acquire);
        let mut last = tokio::time::Instant::now();
        loop {
            self.written.notified().await;
            if self.room.is_broken() {
                refuse(lock(&self.unsynced).drain(..).map(|(_, r)| r));
                continue;
            }
            if lock(&self.queue).durable_upto <= synced {
                tokio::select! {
                    () = tokio::time::sleep_until(last + SYNC_INTERVAL) => {}
                    () = self.durable_wanted.notified() => {}
                }
            }
            let target = self.written_upto.load(Ordering::Acquire);
            if target <= synced {
                continue;
            }
            // Everything up to the tail as it stands (at or past `target`)
            // is in the file, so on disk once synced.
            let (head, file) = {
                let tail = lock(&self.tail);
                (tail.head(), tail.sync.clone())
            };
            let start = std::time::Instant::now();
            let result = tokio::task::spawn_blocking(move || file.sync_data())
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
            let fsync = &crate::metrics::get().audit_fsync;
            fsync.observe(start.elapsed().as_secs_f64());
            if let Err(e) = result {
                tracing::error!(
                    "audit log {}: fdatasync failed: {e}; refusing every request from now on",
                    self.path.display()
                );
                self.room.break_for_good();
                refuse(lock(&self.unsynced).drain(..).map(|(_, r)| r));
                continue;
            }
            synced = target;
            self.freshness.audit_synced(head);
            last = tokio::time::Instant::now();
            let mut unsynced = lock(&self.unsynced);
            let still = unsynced
                .iter()
                .position(|(seq, _)| *seq > target)
                .unwrap_or(unsynced.len());
            let done: Vec<_> = unsynced.drain(..still).collect();
            drop(unsynced);
            for (_, reply) in done {
                let _ = reply.done.send(true);
            }
        }
    }
}
