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
//! state layer serialises writers per record). A conflict (another
//! replica changed a record of the batch) fails the whole batch: its
//! callers catch up and try again.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use zeroize::Zeroizing;

use super::{Change, Delivered, Follower, Storage, StoreError, Table, Versions};

/// A [`Storage`] backend behind group commit.
pub struct GroupCommit {
    store: Mutex<Box<dyn Storage>>,
    shared: bool,
    follower: Option<Arc<dyn Follower>>,
    queue: Mutex<Queue>,
    committed: Condvar,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<(u64, Vec<Change>)>,
    next_ticket: u64,
    leader: bool,
    results: BTreeMap<u64, Result<u64, Failed>>,
}

/// Why a batch failed, for each of its callers.
#[derive(Clone)]
enum Failed {
    Conflict(String),
    Unavailable(String),
    Hidden(String),
    RolledBack(String),
    Other(String),
}

impl Failed {
    fn of(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Failed::Conflict(what),
            StoreError::Unavailable(what) => Failed::Unavailable(what),
            StoreError::Hidden(what) => Failed::Hidden(what),
            StoreError::RolledBack(what) => Failed::RolledBack(what),
            e => Failed::Other(e.to_string()),
        }
    }

    fn error(self) -> StoreError {
        match self {
            Failed::Conflict(what) => StoreError::Conflict(what),
            Failed::Unavailable(what) => StoreError::Unavailable(what),
            Failed::Hidden(what) => StoreError::Hidden(what),
            Failed::RolledBack(what) => StoreError::RolledBack(what),
            Failed::Other(what) => StoreError::Database(what),
        }
    }
}

impl GroupCommit {
    pub fn new(store: Box<dyn Storage>) -> Self {
        Self {
            shared: store.is_shared(),
            follower: store.follower(),
            store: Mutex::new(store),
            queue: Mutex::new(Queue::default()),
            committed: Condvar::new(),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn store(&self) -> MutexGuard<'_, Box<dyn Storage>> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `changes` durably, possibly in one transaction with other
    /// callers' changes; returns, once that transaction is on disk, the
    /// store's generation that holds it.
    pub fn write(&self, changes: Vec<Change>) -> Result<u64, StoreError> {
        let mut queue = self.queue();
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.waiting.push((ticket, changes));
        loop {
            if let Some(result) = queue.results.remove(&ticket) {
                return result.map_err(Failed::error);
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
            let result = self.commit(batch);
            queue = self.queue();
            let (tickets, result) = result;
            for t in tickets {
                queue.results.insert(t, result.clone());
            }
            queue.leader = false;
            self.committed.notify_all();
        }
    }

    /// Replaces the public recovery facts (rare: outside group commit).
    pub fn set_recovery(&self, recovery: &[u8]) -> Result<(), StoreError> {
        self.store().set_recovery(recovery)
    }

    /// What other replicas committed since we last looked.
    pub fn catch_up(&self) -> Result<Vec<Delivered>, StoreError> {
        self.store().catch_up()
    }

    /// Catching up beside the writes, several rounds at once (a shared
    /// store), instead of [`Self::catch_up`].
    pub fn follower(&self) -> Option<&Arc<dyn Follower>> {
        self.follower.as_ref()
    }

    /// Whether other replicas write to this store too.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Commits `batch` in one transaction: its tickets, and the result.
    fn commit(&self, batch: Vec<(u64, Vec<Change>)>) -> (Vec<u64>, Result<u64, Failed>) {
        let mut tickets = Vec::with_capacity(batch.len());
        let mut changes = Vec::new();
        for (ticket, mut c) in batch {
            tickets.push(ticket);
            changes.append(&mut c);
        }
        let start = std::time::Instant::now();
        let result = self.store().write(&changes).map_err(Failed::of);
        let metrics = crate::metrics::get();
        metrics.store_write.observe(start.elapsed().as_secs_f64());
        metrics.group_commit_batch.observe(tickets.len() as f64);
        (tickets, result)
    }
}

/// A record to write: its table, id and value (`None`: remove it).
pub type Record = (Table, String, Option<Zeroizing<Vec<u8>>>);

/// Writes made while their holder keeps its records locked (token and
/// policy changes): each change expects the version `versions` holds, and
/// `versions` learns the new one.
pub struct Writer<'a> {
    store: &'a GroupCommit,
    versions: &'a mut Versions,
}

impl GroupCommit {
    pub fn writer<'a>(&'a self, versions: &'a mut Versions) -> Writer<'a> {
        Writer {
            store: self,
            versions,
        }
    }
}

impl Writer<'_> {
    /// Writes (or, `None`, removes) each `table/id` durably.
    pub fn write(&mut self, changes: Vec<Record>) -> Result<(), StoreError> {
        let mut marks = Vec::with_capacity(changes.len());
        let changes: Vec<Change> = changes
            .into_iter()
            .map(|(table, id, value)| {
                marks.push((table, id.clone(), value.is_some()));
                Change {
                    expected: self.versions.expected(table, &id),
                    table,
                    id,
                    value,
                }
            })
            .collect();
        let version = self.store.write(changes)?;
        for (table, id, present) in marks {
            self.versions.saw(table, &id, version, present);
        }
        Ok(())
    }
}
