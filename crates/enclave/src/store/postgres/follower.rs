//! What this replica knows of the database (the sealed index), shared by
//! the writing connection and the catch-up connections, and the catch-up
//! rounds that run on connections of their own, several at once.
//!
//! A round reads the root and the rows newer than the generation known
//! when it was sent. Rounds may come back in any order: one whose root is
//! older than what is known by then, but not older than what was known
//! when it was sent, is merely late (a later round or a write took in
//! more), and delivers nothing; older than that is a rollback
//! ([`StoreError::RolledBack`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::conn::Conn;
use super::worker::Worker;
use crate::store::index::INDEX_ID;
use crate::store::ledger::{Ledger, Rows};
use crate::store::{Delivered, Fetched, Follower, StoreError, Table};

/// How long a catch-up waits for the database before it answers
/// "unreachable": the bound within which a replica cut off from its
/// database stops serving (docs/replicas.md).
pub const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Catch-up connections busy at once, stuck ones included: beyond this,
/// a round fails at once instead of opening yet another connection.
const MAX_BUSY: usize = 16;

/// The index and what writes saw of other replicas' writes.
#[derive(Default)]
pub struct Held {
    pub ledger: Option<Ledger>,
    /// Other replicas' writes seen while writing, not yet handed over.
    pub pending: Vec<Delivered>,
    /// A write is staged in the index, its commit not yet answered.
    pub writing: bool,
}

#[derive(Default)]
pub struct Known {
    held: Mutex<Held>,
    /// Signalled when a write's commit is answered.
    settled: Condvar,
}

fn not_open() -> StoreError {
    StoreError::Database("the store is not open".into())
}

impl Known {
    pub fn lock(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation of the last write known.
    pub fn generation(&self) -> Result<u64, StoreError> {
        Ok(self
            .lock()
            .ledger
            .as_ref()
            .ok_or_else(not_open)?
            .generation())
    }

    /// A write's commit was answered (after `writing` was cleared).
    pub fn settled(&self) {
        self.settled.notify_all();
    }

    /// What other writers committed as of `fetched`, and what writes saw
    /// before it. A fetch showing a commit newer than ours while our
    /// write's commit is unanswered waits for that answer (the index holds
    /// the write staged), at most [`ANSWER_WITHIN`].
    pub fn take_in(&self, fetched: Fetched) -> Result<Vec<Delivered>, StoreError> {
        let deadline = Instant::now() + ANSWER_WITHIN;
        let mut held = self.lock();
        while held.writing && newer_root(&held, &fetched)? {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::Unavailable(
                    "a write's commit is still unanswered".into(),
                ));
            }
            held = self
                .settled
                .wait_timeout(held, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let mut delivered = absorb(&mut held, fetched)?;
        if !held.pending.is_empty() {
            let mut all = std::mem::take(&mut held.pending);
            all.append(&mut delivered);
            delivered = all;
        }
        Ok(delivered)
    }
}

fn is_root(table: Table, id: &str) -> bool {
    table == Table::Meta && id == INDEX_ID
}

/// Whether `fetched` holds a root newer than the known one.
fn newer_root(held: &Held, fetched: &Fetched) -> Result<bool, StoreError> {
    let ledger = held.ledger.as_ref().ok_or_else(not_open)?;
    match fetched.rows.iter().find(|r| is_root(r.0, &r.1)) {
        Some(root) => Ok(ledger.root_generation(&root.3)? > ledger.generation()),
        None => Ok(false),
    }
}

/// Checks `fetched` against the index and takes it in (see the module's
/// doc for a late one): what changed, record by record.
pub fn absorb(held: &mut Held, fetched: Fetched) -> Result<Vec<Delivered>, StoreError> {
    let ledger = held.ledger.as_mut().ok_or_else(not_open)?;
    let known = ledger.generation();
    let mut rows = Rows::new();
    let mut root_generation = None;
    for (table, id, version, sealed) in fetched.rows {
        if is_root(table, &id) {
            root_generation = Some(ledger.root_generation(&sealed)?);
        } else if version <= known {
            // Already known (the fetch was sent before the last take-in).
            continue;
        }
        rows.insert((table, id), sealed);
    }
    if root_generation.is_some_and(|g| g < known && g >= fetched.since) {
        return Ok(Vec::new());
    }
    ledger.catch_up(rows)
}

/// Catch-up rounds on connections of their own.
pub struct PgFollower {
    known: Arc<Known>,
    config: postgres::Config,
    shown: String,
    idle: Mutex<Vec<Worker<Conn>>>,
    busy: Arc<AtomicUsize>,
}

impl PgFollower {
    pub fn new(known: Arc<Known>, config: postgres::Config, shown: String) -> Self {
        Self {
            known,
            config,
            shown,
            idle: Mutex::default(),
            busy: Arc::default(),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Worker<Conn>>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Follower for PgFollower {
    fn fetch(&self) -> Result<Fetched, StoreError> {
        let since = self.known.generation()?;
        if self.busy.load(Ordering::Acquire) >= MAX_BUSY {
            return Err(StoreError::Unavailable(format!(
                "{}: {MAX_BUSY} queries are unanswered",
                self.shown
            )));
        }
        let worker = match self.idle().pop() {
            Some(w) => w,
            None => Worker::spawn(
                "minikms-pg-follow",
                Conn::new(self.config.clone(), self.shown.clone()),
            )?,
        };
        let busy = self.busy.clone();
        busy.fetch_add(1, Ordering::AcqRel);
        let start = std::time::Instant::now();
        let answer = worker.call_within(ANSWER_WITHIN, move |conn| {
            let fetched = conn.fetch(since);
            busy.fetch_sub(1, Ordering::AcqRel);
            fetched
        });
        crate::metrics::get().postgres("catch_up", start);
        match answer {
            Ok(fetched) => {
                self.idle().push(worker);
                fetched
            }
            // Stuck (its thread ends once its connection does): dropped.
            Err(e) => Err(e),
        }
    }

    fn take_in(&self, fetched: Fetched) -> Result<Vec<Delivered>, StoreError> {
        let delivered = self.known.take_in(fetched)?;
        let caught = i64::try_from(delivered.len()).unwrap_or(i64::MAX);
        crate::metrics::get().postgres_catch_up_records.set(caught);
        Ok(delivered)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use std::collections::BTreeMap;

    use zeroize::Zeroizing;

    use super::*;
    use crate::platform::fixed::platform;
    use crate::store::root::RootKey;
    use crate::store::seal::Sealer;
    use crate::store::Change;

    type Db = BTreeMap<(Table, String), (u64, Vec<u8>)>;

    /// Another replica's write of `id`, as the database then holds it.
    fn write(other: &mut Ledger, db: &mut Db, id: &str) {
        let change = Change {
            table: Table::Keys,
            id: id.into(),
            value: Some(Zeroizing::new(b"{}".to_vec())),
            expected: 0,
        };
        let staged = other.stage(&[change], false, true).unwrap();
        for (table, id, value) in &staged.rows {
            db.insert(
                (*table, id.clone()),
                (staged.version, value.clone().unwrap()),
            );
        }
        other.committed(staged);
    }

    /// The catch-up read sent when `since` was known.
    fn fetch(db: &Db, since: u64) -> Fetched {
        let rows = db
            .iter()
            .filter(|((t, id), (v, _))| *v > since || is_root(*t, id))
            .map(|((t, id), (v, s))| (*t, id.clone(), *v, s.clone()))
            .collect();
        Fetched { since, rows }
    }

    fn ids(delivered: &[Delivered]) -> Vec<&str> {
        delivered.iter().map(|d| d.id.as_str()).collect()
    }

    /// Rounds answered out of order: a late answer delivers nothing, one
    /// sent before the last take-in delivers only what is new, and a root
    /// older than what was known when the round was sent is a rollback.
    #[test]
    fn late_rounds_deliver_nothing_and_rollbacks_are_refused() {
        let p = platform();
        let root = RootKey::generate(p.as_ref()).unwrap();
        let sealer = || Sealer::from_root(&p, &root).unwrap();
        let mut other = Ledger::new(sealer(), false);
        let mut held = Held {
            ledger: Some(Ledger::new(sealer(), false)),
            ..Held::default()
        };
        let mut db = Db::new();
        write(&mut other, &mut db, "a");
        let first = fetch(&db, 0);
        assert_eq!(ids(&absorb(&mut held, first).unwrap()), ["a"]);
        let at_one = fetch(&db, 1);
        let sent_at_zero_answered_at_one = fetch(&db, 0);
        let db_at_one = db.clone();

        write(&mut other, &mut db, "b");
        let sent_at_zero = fetch(&db, 0);
        assert_eq!(ids(&absorb(&mut held, sent_at_zero).unwrap()), ["b"]);
        assert!(absorb(&mut held, at_one).unwrap().is_empty());
        assert!(absorb(&mut held, sent_at_zero_answered_at_one)
            .unwrap()
            .is_empty());

        // Sent when generation 2 was known, answered with generation 1.
        match absorb(&mut held, fetch(&db_at_one, 2)) {
            Err(StoreError::RolledBack(_)) => {}
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a rollback was taken in"),
        }
    }
}
