//! A full disk: letting requests through only while their entries fit,
//! and going on by itself once there is room again (see the module doc
//! of [`super`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::tail::reserve;
use super::{lock, AuditError, AuditLog, RETRY_EVERY};

/// What clients are told while the log has no room.
pub const UNWRITABLE: &str = "the audit log cannot be written (the enclave's disk may be full), so no request is carried out: try again later";
/// What clients are told once the log failed for good.
pub const BROKEN: &str =
    "the audit log failed, so no request is carried out until the enclave is restarted";

impl AuditLog {
    /// Whether a new request may go through: `Err` while the log cannot
    /// take its entry (the disk is full, or it failed for good). Checked
    /// before a request does anything, so a refused one changes nothing.
    pub fn admit(&self) -> Result<(), AuditError> {
        if self.broken.load(Ordering::Acquire) {
            return Err(self.failed());
        }
        if self.refusing.load(Ordering::Acquire) {
            return Err(self.unwritable());
        }
        Ok(())
    }

    /// What is wrong with the log, for `sys/health`: `None` if nothing.
    pub fn trouble(&self) -> Option<&'static str> {
        match self.admit() {
            Ok(()) => None,
            Err(AuditError::Unwritable { .. }) => Some(UNWRITABLE),
            Err(_) => Some(BROKEN),
        }
    }

    /// Refuses new requests until there is room again (logged once).
    pub(super) fn refuse_for_now(&self, why: &str) {
        if !self.refusing.swap(true, Ordering::AcqRel) {
            tracing::error!(
                "audit log {}: {why}; refusing requests until there is room (retrying every {RETRY_EVERY:?})",
                self.path.display()
            );
        }
        self.trouble.notify_one();
    }

    /// While the log refuses, tries every [`RETRY_EVERY`] to allocate its
    /// reserve again; once it can, requests go through again.
    pub(super) async fn recover_in_background(self: Arc<Self>) {
        loop {
            self.trouble.notified().await;
            while self.refusing.load(Ordering::Acquire) && !self.broken.load(Ordering::Acquire) {
                tokio::time::sleep(RETRY_EVERY).await;
                let room = {
                    let mut tail = lock(&self.tail);
                    if tail.damaged {
                        self.broken.store(true, Ordering::Release);
                        break;
                    }
                    reserve(&mut tail)
                };
                if room.is_ok() {
                    self.refusing.store(false, Ordering::Release);
                    tracing::info!(
                        "audit log {}: room again; requests go through",
                        self.path.display()
                    );
                }
            }
        }
    }

    /// After a failed write, numbers the queued entries on from the last
    /// entry in the file: the chain goes on without a gap.
    pub(super) fn renumber(&self) {
        let mut queue = lock(&self.queue);
        let mut seq = lock(&self.tail).seq;
        let mut durable_upto = seq;
        for queued in &mut queue.waiting {
            seq += 1;
            queued.seq = seq;
            if queued.reply.durable {
                durable_upto = seq;
            }
        }
        queue.next_seq = seq + 1;
        queue.durable_upto = durable_upto;
    }
}
