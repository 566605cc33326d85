//! What the key store and the audit log vouch for each other, so that
//! rolling back (or cutting) either one alone is refused at start.
//!
//! - The store's *generation* is the version of its last committed write
//!   (see [`super::redb`]): it only grows. Every audit entry records the
//!   generation it saw, so a `keys.redb` older than the log's last entry
//!   is seen.
//! - The store's index records the audit log's *head* (seq and line hash
//!   of its last entry known to be on disk) with each write, so a log cut
//!   short of it, replaced, or deleted is seen.
//!
//! Both together cannot be rolled back unseen from inside (that needs a
//! monotonic counter the platform does not offer): the enclave puts the
//! generation and audit head in its attestation claims, and clients
//! remember them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// An audit log entry: its seq and the hex SHA-256 of its line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditHead {
    pub seq: u64,
    pub hash: String,
}

/// Shared by the store (writes the generation, reads the audit head) and
/// the audit log (the reverse).
#[derive(Debug, Default)]
pub struct Freshness {
    generation: AtomicU64,
    audit: Mutex<Option<AuditHead>>,
    /// The audit head the store held when it was opened.
    recorded: Option<AuditHead>,
}

impl Freshness {
    /// As a store opened at `generation`, holding `recorded`.
    pub fn opened(generation: u64, recorded: Option<AuditHead>) -> Self {
        Self {
            generation: AtomicU64::new(generation),
            audit: Mutex::new(recorded.clone()),
            recorded,
        }
    }

    /// The store's generation: only committed writes count.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn committed(&self, generation: u64) {
        self.generation.fetch_max(generation, Ordering::AcqRel);
    }

    /// The audit log's last entry known to be on disk.
    pub fn audit_head(&self) -> Option<AuditHead> {
        self.audit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Called once `head` (and everything before it) is on disk.
    pub fn audit_synced(&self, head: AuditHead) {
        let mut audit = self.audit.lock().unwrap_or_else(PoisonError::into_inner);
        if audit.as_ref().is_none_or(|a| a.seq < head.seq) {
            *audit = Some(head);
        }
    }

    /// The audit head the store held when it was opened.
    pub fn recorded(&self) -> Option<&AuditHead> {
        self.recorded.as_ref()
    }
}
