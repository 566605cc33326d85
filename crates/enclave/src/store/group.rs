//! Group commit: concurrent writers share one durable transaction.
//!
//! Each caller hands its records to [`GroupCommit::write`] and blocks until
//! they are on disk. The first caller to find no commit running becomes the
//! leader: it takes every record queued so far, writes them in one redb
//! transaction (one fsync), and wakes the callers of that batch; callers
//! that arrived meanwhile form the next batch. A caller returns `Ok` only
//! after the transaction holding its records committed, so an acknowledged
//! write survives a crash exactly as with one transaction per write. If a
//! batch fails, every caller in it gets the error and nothing of it is
//! applied (one transaction).
//!
//! Callers must not queue two changes to the same record at once (the
//! state layer serialises writers per record).

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use zeroize::Zeroizing;

use super::{Storage, StoreError, Table};

/// One record to write, or (`None`) to remove.
pub type Change = (Table, String, Option<Zeroizing<Vec<u8>>>);

/// A [`Storage`] backend behind group commit.
pub struct GroupCommit {
    store: Mutex<Box<dyn Storage>>,
    queue: Mutex<Queue>,
    committed: Condvar,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<(u64, Vec<Change>)>,
    next_ticket: u64,
    leader: bool,
    results: BTreeMap<u64, Result<(), String>>,
}

impl GroupCommit {
    pub fn new(store: Box<dyn Storage>) -> Self {
        Self {
            store: Mutex::new(store),
            queue: Mutex::new(Queue::default()),
            committed: Condvar::new(),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `changes` durably, possibly in one transaction with other
    /// callers' changes; returns once that transaction is on disk.
    pub fn write(&self, changes: Vec<Change>) -> Result<(), StoreError> {
        let mut queue = self.queue();
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.waiting.push((ticket, changes));
        loop {
            if let Some(result) = queue.results.remove(&ticket) {
                return result.map_err(StoreError::Database);
            }
            if queue.leader {
                queue = self
                    .committed
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            queue.leader = true;
            let batch = std::mem::take(&mut queue.waiting);
            drop(queue);
            let result = self.commit(&batch);
            queue = self.queue();
            for (t, _) in &batch {
                queue.results.insert(*t, result.clone());
            }
            queue.leader = false;
            self.committed.notify_all();
        }
    }

    /// Replaces the public recovery facts (rare: outside group commit).
    pub fn set_recovery(&self, recovery: &[u8]) -> Result<(), StoreError> {
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set_recovery(recovery)
    }

    fn commit(&self, batch: &[(u64, Vec<Change>)]) -> Result<(), String> {
        let changes: Vec<(Table, &str, Option<&[u8]>)> = batch
            .iter()
            .flat_map(|(_, changes)| changes.iter())
            .map(|(table, id, value)| (*table, id.as_str(), value.as_ref().map(|v| v.as_slice())))
            .collect();
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write(&changes)
            .map_err(|e| e.to_string())
    }
}
