//! A full disk: letting requests through only while their entries fit,
//! and going on by itself once there is room again.
//!
//! The log keeps [`super::tail::RESERVE`] allocated past its end. When
//! that cannot be topped up (or a write fails: it is cut back off, so the
//! file still ends with a whole entry), [`super::AuditLog::admit`] lets
//! no new request through (503: nothing is done), while the entries of
//! requests already through still fit; a background task tries again
//! every [`RETRY_EVERY`] and lets requests through once there is room,
//! the chain unbroken. A failed `fdatasync` is final (the kernel may have
//! dropped the pages, and a later success would prove nothing): every
//! request is refused until a restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::error::AuditError;
use super::tail::{reserve, Tail};

/// How often a log that refuses requests tries to make room again.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);
/// What clients are told while the log has no room.
pub const UNWRITABLE: &str = "the audit log cannot be written (the enclave's disk may be full), so no request is carried out: try again later";
/// What clients are told once the log failed for good.
pub const BROKEN: &str =
    "the audit log failed, so no request is carried out until the enclave is restarted";

/// Whether the log takes entries now.
pub(super) struct Room {
    path: String,
    /// A sync failed (or a failed write could not be cut off): every
    /// request is refused until a restart.
    broken: AtomicBool,
    /// No room for the reserve, or a write failed: new requests are
    /// refused until [`Self::recover`] makes room.
    refusing: AtomicBool,
    /// Wakes [`Self::recover`].
    trouble: Notify,
}

impl Room {
    pub(super) fn new(path: String) -> Self {
        Self {
            path,
            broken: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            trouble: Notify::new(),
        }
    }

    /// Whether a new request may go through: `Err` while the log cannot
    /// take its entry (the disk is full, or it failed for good).
    pub(super) fn admit(&self) -> Result<(), AuditError> {
        if self.is_broken() {
            return Err(self.failed());
        }
        if self.refusing.load(Ordering::Acquire) {
            return Err(self.unwritable());
        }
        Ok(())
    }

    /// What is wrong, for `sys/health`: `None` if nothing.
    pub(super) fn trouble(&self) -> Option<&'static str> {
        match self.admit() {
            Ok(()) => None,
            Err(AuditError::Unwritable { .. }) => Some(UNWRITABLE),
            Err(_) => Some(BROKEN),
        }
    }

    pub(super) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// Refuses every request from now on.
    pub(super) fn break_for_good(&self) {
        self.broken.store(true, Ordering::Release);
    }

    pub(super) fn failed(&self) -> AuditError {
        AuditError::Failed {
            path: self.path.clone(),
        }
    }

    pub(super) fn unwritable(&self) -> AuditError {
        AuditError::Unwritable {
            path: self.path.clone(),
        }
    }

    /// What a request whose entry was queued is told: `written`, or why
    /// not.
    pub(super) fn answer(&self, written: bool) -> Result<(), AuditError> {
        match written {
            true => Ok(()),
            false if self.is_broken() => Err(self.failed()),
            false => Err(self.unwritable()),
        }
    }

    /// A write failed (and was cut back off, unless `damaged`): refuses
    /// new requests until there is room again, or for good if the file
    /// may now end in part of a line. `true`: the log goes on (the
    /// queued entries are numbered on from the tail).
    pub(super) fn write_failed(&self, e: &AuditError, damaged: bool) -> bool {
        if damaged {
            tracing::error!("{e}; refusing every request from now on");
            self.break_for_good();
            return false;
        }
        self.refuse_for_now(&e.to_string());
        true
    }

    /// Refuses new requests until there is room again (logged once).
    pub(super) fn refuse_for_now(&self, why: &str) {
        if !self.refusing.swap(true, Ordering::AcqRel) {
            tracing::error!(
                "audit log {}: {why}; refusing requests until there is room (retrying every {RETRY_EVERY:?})",
                self.path
            );
        }
        self.trouble.notify_one();
    }

    /// While the log refuses, tries every [`RETRY_EVERY`] to allocate the
    /// reserve of `tail` again; once it can, requests go through again.
    pub(super) async fn recover(&self, tail: &Mutex<Tail>) {
        loop {
            self.trouble.notified().await;
            while self.refusing.load(Ordering::Acquire) && !self.is_broken() {
                tokio::time::sleep(RETRY_EVERY).await;
                let room = {
                    let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                    if tail.damaged {
                        self.break_for_good();
                        break;
                    }
                    reserve(&mut tail)
                };
                if room.is_ok() {
                    self.refusing.store(false, Ordering::Release);
                    tracing::info!("audit log {}: room again; requests go through", self.path);
                }
            }
        }
    }
}
