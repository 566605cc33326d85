//! Where a rotation ([`super::rotate`]) falls among the entries: queued
//! like one, so it comes between two writes, and taken by the writer.

use std::sync::Arc;
use std::time::Duration;

use super::rotate::{rotate, RETRY_AFTER};
use super::{lock, AuditLog, Pending, Queued};

impl AuditLog {
    /// Queues a rotation if the current file is due for one (and none is
    /// queued): it is numbered like any entry, so it falls between two
    /// writes.
    pub(super) fn queue_rotation_if_due(&self) {
        if self.rotating.segment.is_none() {
            return;
        }
        let (due, seq) = {
            let tail = lock(&self.tail);
            (self.rotating.rotation.due(&tail), tail.seq)
        };
        let mut state = lock(&self.rotating.state);
        let idle = seq <= state.first_seq;
        let waiting = state
            .not_before
            .is_some_and(|t| std::time::Instant::now() < t);
        if !due || idle || state.queued || waiting {
            return;
        }
        state.queued = true;
        drop(state);
        drop(self.enqueue(Pending::Rotate, false));
    }

    /// Checks the file's age every second.
    pub(super) async fn age_in_background(self: Arc<Self>) {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            self.queue_rotation_if_due();
        }
    }

    /// If `batch` holds the rotation: what comes before it stays in
    /// `batch` (the rotation waits for the next round), or, when it comes
    /// first, the log moves to a new file and `batch` keeps what follows.
    /// `true` when it rotated (or tried to).
    pub(super) fn take_rotation(&self, batch: &mut Vec<Queued>) -> bool {
        let Some(at) = batch
            .iter()
            .position(|q| matches!(q.entry, Pending::Rotate))
        else {
            return false;
        };
        if at > 0 {
            let rest = batch.split_off(at);
            lock(&self.queue).waiting.splice(0..0, rest);
            self.queued.notify_one();
            return false;
        }
        let seq = batch.remove(0).seq;
        let Some(segment) = &self.rotating.segment else {
            return true;
        };
        let rotated = {
            let mut tail = lock(&self.tail);
            let result = rotate(
                &self.path,
                &mut tail,
                seq,
                segment,
                &self.key,
                self.freshness.generation(),
            );
            result.map(|()| (tail.head(), super::tail::reserve(&mut tail)))
        };
        let mut state = lock(&self.rotating.state);
        state.queued = false;
        match rotated {
            Ok((head, room)) => {
                state.first_seq = seq;
                drop(state);
                self.written_upto
                    .store(seq, std::sync::atomic::Ordering::Release);
                self.freshness.audit_synced(head);
                if let Err(e) = room {
                    self.room
                        .refuse_for_now(&format!("cannot allocate room for entries: {e}"));
                }
            }
            Err(e) => {
                state.not_before = Some(std::time::Instant::now() + RETRY_AFTER);
                drop(state);
                tracing::error!(
                    "audit log {}: cannot rotate: {e}; going on in the same file, trying again in {RETRY_AFTER:?}",
                    self.path.display()
                );
                // Its seq is not used: what follows is numbered on from
                // the tail.
                lock(&self.queue).waiting.splice(0..0, batch.drain(..));
                self.renumber();
                self.queued.notify_one();
            }
        }
        true
    }
}
