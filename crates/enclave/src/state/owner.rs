//! [`State`]: the one owner of the sealed state ([`super`] says how it
//! writes); here its opening, catching up with other replicas, and the
//! writes of keys and sealed singletons.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use zeroize::Zeroizing;

use super::follow::Follow;
use super::inner::{InitRecord, Inner, Unreadable, INIT_ID};
use super::key::Key;
use super::tokens;
use crate::error::Error;
use crate::store::group::GroupCommit;
use crate::store::recovery::RecoveryInfo;
use crate::store::{Change, Records, Storage, StoreError, Table, Versions};

/// Tries before [`State::try_lock_briefly`] gives up (a few microseconds).
const LOCK_SPINS: usize = 200;

/// Times a write decided again after another replica changed its record.
const CONFLICT_TRIES: usize = 16;

/// The sealed state and the store it is kept in.
pub struct State {
    inner: Mutex<Inner>,
    /// Signalled when a record stops being busy.
    idle: Condvar,
    pub(super) store: GroupCommit,
    /// Held while catching up, so deliveries are applied in order.
    catching_up: Mutex<()>,
    follow: Arc<Follow>,
}

/// What a write does, decided under the lock.
pub(super) enum Step<T, R> {
    /// Nothing to write: answer `R`.
    Done(R),
    /// Write this record (`None` removes it), then apply `T` in memory.
    Write(Option<Zeroizing<Vec<u8>>>, T),
}

/// Why the state could not be opened. No variant carries secret data.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Record(#[from] Unreadable),
    #[error("the store is already initialised with a different root token")]
    RootTokenMismatch,
}

impl State {
    /// The state held in `records` (every record of `store`, unsealed),
    /// kept in `store` from now on. With a development root token, an
    /// uninitialised store is initialised with it (like `vault server -dev
    /// -dev-root-token-id`), and an initialised one must have that root
    /// token already.
    pub fn open(
        store: Box<dyn Storage>,
        records: Records,
        versions: Versions,
        dev_root_token: Option<Zeroizing<String>>,
    ) -> Result<Self, OpenError> {
        let mut inner = Inner::empty(versions).map_err(OpenError::Record)?;
        for ((table, id), plain) in records {
            inner
                .apply(table, &id, Some(&plain))
                .map_err(OpenError::Record)?;
        }
        let state = Self {
            idle: Condvar::new(),
            store: GroupCommit::new(store),
            inner: Mutex::new(inner),
            catching_up: Mutex::new(()),
            follow: Arc::default(),
        };
        if let Some(token) = dev_root_token {
            let hash = tokens::token_hash(&token);
            let existing = state.lock().root_hash;
            match existing {
                None => state
                    .initialise(hash, None)
                    .map_err(|_| Unreadable("meta/init".into()))?,
                Some(h) if h == hash => {}
                Some(_) => return Err(OpenError::RootTokenMismatch),
            }
        }
        Ok(state)
    }

    /// Whether other replicas share our store.
    pub fn is_shared(&self) -> bool {
        self.store.is_shared()
    }

    /// Takes in what other replicas committed until now, so that a
    /// request that arrived after their write was acknowledged sees it.
    /// Requests that wait at once share one round trip ([`Follow`]).
    /// Nothing to do for a store of our own.
    pub async fn caught_up(self: &Arc<Self>) -> Result<(), Error> {
        if !self.is_shared() {
            return Ok(());
        }
        let state = self.clone();
        self.follow.wait(move || state.catch_up_now()).await
    }

    /// What is wrong with the shared store, as the last catch-up found
    /// it, without waiting for one (`sys/health`: it reads nothing
    /// sealed); `None` for a store of our own.
    pub fn storage_trouble(self: &Arc<Self>) -> Option<Error> {
        if !self.is_shared() {
            return None;
        }
        let state = self.clone();
        self.follow.trouble(move || state.catch_up_now())
    }

    /// [`Self::caught_up`], here and now (a blocking thread). The read
    /// runs beside other rounds and writes; taking it in is in turn.
    pub fn catch_up_now(&self) -> Result<(), Error> {
        if !self.is_shared() {
            return Ok(());
        }
        let fetched = match self.store.follower() {
            Some(follower) => Some((follower.clone(), follower.fetch()?)),
            None => None,
        };
        let _order = self
            .catching_up
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let delivered = match fetched {
            Some((follower, fetched)) => follower.take_in(fetched)?,
            None => self.store.catch_up()?,
        };
        if delivered.is_empty() {
            return Ok(());
        }
        let mut inner = self.lock();
        delivered.into_iter().try_for_each(|d| inner.deliver(d))
    }

    /// Runs `op` again, after catching up, while another replica's write
    /// conflicts with it.
    pub(super) fn retrying<R>(&self, mut op: impl FnMut() -> Result<R, Error>) -> Result<R, Error> {
        for _ in 1..CONFLICT_TRIES {
            match op() {
                Err(Error::Conflict(_)) => self.catch_up_now()?,
                done => return done,
            }
        }
        op()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lock if it comes free within a short spin, for the I/O threads:
    /// lookups hold it for well under a microsecond, so a busy lock is
    /// usually another lookup (handing the request to a blocking thread
    /// instead costs two thread switches); `None` if it stays held.
    pub(super) fn try_lock_briefly(&self) -> Option<MutexGuard<'_, Inner>> {
        for _ in 0..LOCK_SPINS {
            match self.inner.try_lock() {
                Ok(inner) => return Some(inner),
                Err(std::sync::TryLockError::Poisoned(p)) => return Some(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => std::hint::spin_loop(),
            }
        }
        None
    }

    /// One durable change to record `table/id`: `prepare` decides, under
    /// the lock, what to write; the write is committed without the lock;
    /// `apply` updates the state once the record is on disk. A failed write
    /// changes nothing. If another replica wrote the record meanwhile, we
    /// catch up and `prepare` decides again.
    pub(super) fn change<T, R>(
        &self,
        table: Table,
        id: &str,
        mut prepare: impl FnMut(&Inner) -> Result<Step<T, R>, Error>,
        apply: impl FnOnce(&mut Inner, T) -> R,
    ) -> Result<R, Error> {
        let record = (table, id.to_string());
        let mut tries = 1;
        loop {
            let mut inner = self.lock();
            while inner.busy.contains(&record) {
                inner = self
                    .idle
                    .wait(inner)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            let expected = inner.versions.expected(table, id);
            let (value, then) = match prepare(&inner)? {
                Step::Done(answer) => return Ok(answer),
                Step::Write(value, then) => (value, then),
            };
            let present = value.is_some();
            inner.busy.insert(record.clone());
            drop(inner);
            let written = self.store.write(vec![Change {
                table,
                id: id.to_string(),
                value,
                expected,
            }]);
            let mut inner = self.lock();
            inner.busy.remove(&record);
            let answer = match written {
                Ok(version) => {
                    inner.versions.saw(table, id, version, present);
                    let answer = apply(&mut inner, then);
                    inner.deliver_deferred(table, id).map(|()| answer)
                }
                Err(StoreError::Conflict(_)) if tries < CONFLICT_TRIES => {
                    inner.deliver_deferred(table, id)?;
                    drop(inner);
                    self.idle.notify_all();
                    self.catch_up_now()?;
                    tries += 1;
                    continue;
                }
                Err(e) => Err(Error::from(e)),
            };
            drop(inner);
            self.idle.notify_all();
            return answer;
        }
    }

    /// Writes no record, only the store's index, which records the audit
    /// log's head as it now is on disk ([`crate::store::freshness`]).
    pub fn record_audit_head(&self) -> Result<(), Error> {
        self.store.write(Vec::new()).map(drop).map_err(Error::from)
    }

    pub fn is_initialised(&self) -> bool {
        self.lock().root_hash.is_some()
    }

    /// Stores the root token's hash and the facts of the shares made with
    /// it, in one sealed record; fails if already initialised.
    pub fn initialise(&self, hash: [u8; 32], recovery: Option<&RecoveryInfo>) -> Result<(), Error> {
        self.change(
            Table::Meta,
            INIT_ID,
            |inner| {
                if inner.root_hash.is_some() {
                    return Err(Error::invalid("Vault is already initialized"));
                }
                Ok(Step::Write(Some(init_record(&hash, recovery)?), ()))
            },
            |inner, ()| {
                inner.root_hash = Some(hash);
                inner.recovery = recovery.cloned();
                inner.recovery_sealed = true;
            },
        )
    }

    /// The public facts of the store's recovery shares, as sealed in the
    /// init record; `None` if none were made.
    pub fn recovery_info(&self) -> Option<RecoveryInfo> {
        self.lock().recovery.clone()
    }

    /// Seals the facts of shares made for an initialised store that had
    /// none; `Ok(false)`, and no change, if it has some already (made here
    /// or by another replica).
    pub fn seal_recovery(&self, info: &RecoveryInfo) -> Result<bool, Error> {
        self.change(
            Table::Meta,
            INIT_ID,
            |inner| {
                let Some(hash) = inner.root_hash else {
                    return Err(Error::invalid(
                        "the store is not initialised: sys/init makes the recovery shares",
                    ));
                };
                if inner.recovery.is_some() {
                    return Ok(Step::Done(false));
                }
                Ok(Step::Write(Some(init_record(&hash, Some(info))?), ()))
            },
            |inner, ()| {
                inner.recovery = Some(info.clone());
                inner.recovery_sealed = true;
                true
            },
        )
    }

    /// Replaces the unsealed copy of the recovery facts: the hint a sealed
    /// server reads before it has the root key.
    pub fn set_recovery_hint(&self, info: &RecoveryInfo) -> Result<(), Error> {
        self.store
            .set_recovery(&info.to_bytes())
            .map_err(Error::from)
    }

    /// At open, the unsealed copy of the recovery facts (`hint`) against
    /// the sealed ones. An init record of an older build is migrated once:
    /// the hint, then all there was, is sealed into it. From then on the
    /// sealed facts decide, and a hint the host removed or edited is
    /// written again from them.
    pub fn reconcile_recovery(&self, hint: Option<&[u8]>) -> Result<(), Error> {
        let hint = hint.and_then(RecoveryInfo::parse);
        let (initialised, sealed, migrated) = {
            let inner = self.lock();
            let sealed = inner.recovery.clone();
            (inner.root_hash.is_some(), sealed, inner.recovery_sealed)
        };
        if !initialised {
            // A hint left by an init that crashed: the next init replaces it.
            return Ok(());
        }
        if !migrated {
            let facts = hint.clone();
            self.change(
                Table::Meta,
                INIT_ID,
                |inner| match inner.root_hash {
                    Some(hash) if !inner.recovery_sealed => {
                        Ok(Step::Write(Some(init_record(&hash, facts.as_ref())?), ()))
                    }
                    _ => Ok(Step::Done(())),
                },
                |inner, ()| {
                    inner.recovery = facts.clone();
                    inner.recovery_sealed = true;
                },
            )?;
            tracing::info!("the recovery facts are now sealed in the store's init record");
            return Ok(());
        }
        match sealed {
            Some(sealed) if hint.as_ref() != Some(&sealed) => {
                tracing::warn!(
                    "the unsealed copy of the recovery facts (init id {}) was {} beside the \
                     store: written again from the sealed init record",
                    sealed.init_id,
                    if hint.is_some() { "edited" } else { "missing" }
                );
                self.set_recovery_hint(&sealed)
            }
            _ => Ok(()),
        }
    }

    /// A key for use; 400 "not found" as Vault answers for operations.
    pub fn get(&self, name: &str) -> Result<Arc<Key>, Error> {
        self.lock()
            .keys
            .get(name)
            .cloned()
            .ok_or_else(|| Error::invalid("encryption key not found"))
    }

    pub fn find(&self, name: &str) -> Option<Arc<Key>> {
        self.lock().keys.get(name).cloned()
    }

    /// A sealed singleton record of the meta table: the stored one, or the
    /// one `make` returns, stored (durably) before it is returned. `make`
    /// runs outside the lock (RSA-4096 takes seconds); if another request
    /// stored one meanwhile, that one is kept and ours is dropped.
    pub fn sealed_meta(
        &self,
        id: &str,
        make: impl FnOnce() -> Result<Zeroizing<Vec<u8>>, Error>,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        if let Some(record) = self.lock().meta.get(id) {
            return Ok(record.clone());
        }
        let made = make()?;
        self.change(
            Table::Meta,
            id,
            |inner| match inner.meta.get(id) {
                Some(k) => Ok(Step::Done(k.clone())),
                None => Ok(Step::Write(Some(made.clone()), made.clone())),
            },
            |inner, made| {
                inner.meta.insert(id.to_string(), made.clone());
                made
            },
        )
    }

    /// A meta record that may change (a mount's settings): the stored one.
    pub fn meta_record(&self, id: &str) -> Option<Zeroizing<Vec<u8>>> {
        self.lock().meta.get(id).cloned()
    }

    /// Replaces the meta record `id`, durably.
    pub fn put_meta_record(&self, id: &str, record: Zeroizing<Vec<u8>>) -> Result<(), Error> {
        self.change(
            Table::Meta,
            id,
            |_| Ok(Step::Write(Some(record.clone()), record.clone())),
            |inner, record| {
                inner.meta.insert(id.to_string(), record);
            },
        )
    }

    pub fn names(&self) -> Vec<String> {
        self.lock().keys.keys().cloned().collect()
    }

    /// Stores `key` as new; `Ok(false)` (and no change) if the name exists.
    pub fn create(&self, key: Key) -> Result<bool, Error> {
        let key = Arc::new(key);
        self.change(
            Table::Keys,
            &key.name,
            |inner| {
                if inner.keys.contains_key(&key.name) {
                    return Ok(Step::Done(false));
                }
                Ok(Step::Write(Some(serialize(&key)?), key.clone()))
            },
            |inner, key| {
                inner.keys.insert(key.name.clone(), key);
                true
            },
        )
    }

    /// Changes a key durably: `change` edits a copy, which replaces the key
    /// only once it is on disk. An error from `change` changes nothing.
    pub fn update(
        &self,
        name: &str,
        mut change: impl FnMut(&mut Key) -> Result<(), Error>,
    ) -> Result<Arc<Key>, Error> {
        self.change(
            Table::Keys,
            name,
            |inner| {
                let current = inner
                    .keys
                    .get(name)
                    .ok_or_else(|| Error::invalid("encryption key not found"))?;
                let mut key = Key::clone(current);
                change(&mut key)?;
                Ok(Step::Write(Some(serialize(&key)?), Arc::new(key)))
            },
            |inner, key| {
                inner.keys.insert(name.to_string(), key.clone());
                key
            },
        )
    }

    /// Replaces (or creates) a key wholesale, for restore.
    pub fn put(&self, key: Key, force: bool) -> Result<(), Error> {
        let key = Arc::new(key);
        self.change(
            Table::Keys,
            &key.name,
            |inner| {
                if inner.keys.contains_key(&key.name) && !force {
                    return Err(Error::invalid(
                        "key already exists; to overwrite it, set force to true",
                    ));
                }
                Ok(Step::Write(Some(serialize(&key)?), key.clone()))
            },
            |inner, key| {
                inner.keys.insert(key.name.clone(), key);
            },
        )
    }

    pub fn delete(&self, name: &str) -> Result<(), Error> {
        self.change(
            Table::Keys,
            name,
            |inner| {
                let key = inner
                    .keys
                    .get(name)
                    .ok_or_else(|| Error::invalid("could not delete key; not found"))?;
                if !key.deletion_allowed {
                    return Err(Error::invalid("deletion is not allowed for this key"));
                }
                Ok(Step::Write(None, ()))
            },
            |inner, ()| {
                inner.keys.remove(name);
            },
        )
    }
}

/// The init record: the root token's hash and the recovery facts.
fn init_record(
    hash: &[u8; 32],
    recovery: Option<&RecoveryInfo>,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let record = InitRecord {
        root_token_sha256: hex::encode(hash),
        recovery: recovery.cloned(),
        recovery_sealed: true,
    };
    serde_json::to_vec(&record)
        .map(Zeroizing::new)
        .map_err(|_| Error::failed("init"))
}

fn serialize(key: &Key) -> Result<Zeroizing<Vec<u8>>, Error> {
    // Room for the whole record up front, so no reallocation leaves
    // copies of key material behind.
    let room: usize = key
        .versions
        .values()
        .map(|v| (v.secret.len() + v.hmac_key.len()) * 4 + 64)
        .sum::<usize>()
        + 1024;
    let mut buf = Zeroizing::new(Vec::with_capacity(room));
    serde_json::to_writer(&mut *buf, key).map_err(|_| Error::failed("key serialisation"))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::platform::fixed::platform;
    use crate::store::header;
    use crate::store::opening::{Found, Unsealed};
    use crate::store::recovery::{self, SplitRequest};
    use crate::store::redb::{RedbStore, FILE_NAME};
    use crate::store::root::RootKey;

    /// The format test of the facts' move into the sealed init record:
    /// a store of an older build (facts only unsealed) is migrated at its
    /// first open, and from then on removing the unsealed copy changes
    /// nothing (it is written again).
    #[test]
    fn unsealed_facts_are_sealed_once_and_then_decide() {
        let dir = tempfile::tempdir().unwrap();
        let p = platform();
        let open = || match RedbStore::open_or_sealed(&p, dir.path(), false).unwrap() {
            Found::Ready(u) => u,
            Found::Sealed(_) => panic!("the store opened sealed"),
        };
        let state_of = |u: Unsealed| {
            let hint = u.recovery.clone();
            let state = State::open(u.store, u.records, u.versions, None).unwrap();
            state.reconcile_recovery(hint.as_deref()).unwrap();
            state
        };
        let root = RootKey::generate(p.as_ref()).unwrap();
        let req = SplitRequest {
            secret_shares: Some(5),
            secret_threshold: Some(3),
            pgp_keys: None,
        };
        let info = recovery::split(p.as_ref(), &root, &req)
            .unwrap()
            .unwrap()
            .info;
        {
            // As an older build left it.
            let mut store = open().store;
            let old_init = format!(r#"{{"root_token_sha256":"{}"}}"#, "ab".repeat(32));
            let change = Change {
                table: Table::Meta,
                id: "init".into(),
                value: Some(Zeroizing::new(old_init.into_bytes())),
                expected: 0,
            };
            store.write(&[change]).unwrap();
            store.set_recovery(&info.to_bytes()).unwrap();
        }
        let state = state_of(open());
        assert_eq!(state.recovery_info(), Some(info.clone()));
        drop(state);

        // The host removes the unsealed copy.
        let db = redb::Database::open(dir.path().join(FILE_NAME)).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(header::ROOT)
            .unwrap()
            .remove("recovery")
            .unwrap();
        tx.commit().unwrap();
        drop(db);
        let opened = open();
        assert!(opened.recovery.is_none());
        let state = state_of(opened);
        assert_eq!(state.recovery_info(), Some(info.clone()), "forgotten");
        drop(state);
        let hint = open().recovery;
        assert_eq!(hint.as_deref().and_then(RecoveryInfo::parse), Some(info));
    }
}
