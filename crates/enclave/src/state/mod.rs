//! The enclave's sealed state, and its one owner: [`State`] holds every
//! managed key, token, policy and sealed singleton (the root token's hash,
//! the import wrapping key, the TLS CA, the audit key) in memory, and
//! writes every change through the store before anyone sees it.
//!
//! - [`key`]: the managed-key model.
//! - [`tokens`]: token records, the root token, and the decision whether a
//!   token may do something ([`State::authorize`]).
//! - [`acl`]: ACL policies (Vault's HCL path form) and how they match.
//! - [`policies`]: named policies as stored.
//! - [`recovery`]: the store's root key, split into recovery shares and
//!   rebuilt from them.
//! - [`inner`]: what is held in memory, and how a record becomes part of it.
//! - [`follow`]: catching up with other replicas before a request.
//!
//! Writes are durable before they are visible: a change is prepared under
//! the lock, written (group commit, see [`crate::store::group`]) without
//! holding it, and applied in memory once on disk. Meanwhile its record is
//! busy: another writer of the same record waits, readers see the old
//! state, and writers of other records go on (and share the fsync).
//!
//! A store shared by replicas ([`crate::store::postgres`]) also changes
//! under us: every request first catches up ([`State::caught_up`]), and
//! every write says which version of its record it was decided on. If
//! another replica wrote that record meanwhile, the write is refused
//! whole; we catch up and decide again, so no write is lost.

pub mod acl;
pub mod follow;
pub mod inner;
pub mod key;
pub mod policies;
pub mod recovery;
pub mod tokens;

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use zeroize::Zeroizing;

use crate::clock::now;
use crate::error::Error;
use crate::store::group::GroupCommit;
use crate::store::{Change, Records, Storage, StoreError, Table, Versions};
use acl::Access;
use follow::Follow;
use inner::{InitRecord, Inner, INIT_ID};
use key::Key;
use policies::NamedPolicy;
use tokens::{Credential, Identity, TokenRecord};

/// Tries before [`State::try_lock_briefly`] gives up (a few microseconds).
const LOCK_SPINS: usize = 200;

/// Times a write decided again after another replica changed its record.
const CONFLICT_TRIES: usize = 16;

/// The sealed state and the store it is kept in.
pub struct State {
    inner: Mutex<Inner>,
    /// Signalled when a record stops being busy.
    idle: Condvar,
    store: GroupCommit,
    /// Held while catching up, so deliveries are applied in order.
    catching_up: Mutex<()>,
    follow: Arc<Follow>,
}

/// What a write does, decided under the lock.
enum Step<T, R> {
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
    #[error("sealed record {0} is not readable")]
    Record(String),
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
                    .initialise(hash)
                    .map_err(|_| OpenError::Record("meta/init".into()))?,
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
    /// Requests that wait at once share one round trip. Nothing to do for
    /// a store of our own.
    pub async fn caught_up(self: &Arc<Self>) -> Result<(), Error> {
        if !self.is_shared() {
            return Ok(());
        }
        let state = self.clone();
        self.follow.wait(move || state.catch_up_now()).await
    }

    /// [`Self::caught_up`], here and now (a blocking thread).
    pub fn catch_up_now(&self) -> Result<(), Error> {
        if !self.is_shared() {
            return Ok(());
        }
        let _order = self
            .catching_up
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let delivered = self.store.catch_up()?;
        if delivered.is_empty() {
            return Ok(());
        }
        let mut inner = self.lock();
        delivered.into_iter().try_for_each(|d| inner.deliver(d))
    }

    /// Runs `op` again, after catching up, while another replica's write
    /// conflicts with it.
    fn retrying<R>(&self, mut op: impl FnMut() -> Result<R, Error>) -> Result<R, Error> {
        for _ in 1..CONFLICT_TRIES {
            match op() {
                Err(Error::Conflict(_)) => self.catch_up_now()?,
                done => return done,
            }
        }
        op()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lock if it comes free within a short spin, for the I/O threads:
    /// lookups hold it for well under a microsecond, so a busy lock is
    /// usually another lookup (handing the request to a blocking thread
    /// instead costs two thread switches); `None` if it stays held.
    fn try_lock_briefly(&self) -> Option<MutexGuard<'_, Inner>> {
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
    fn change<T, R>(
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

    /// Replaces the public facts about the recovery shares.
    pub fn set_recovery(&self, recovery: &[u8]) -> Result<(), Error> {
        self.store.set_recovery(recovery).map_err(Error::from)
    }

    pub fn is_initialised(&self) -> bool {
        self.lock().root_hash.is_some()
    }

    /// Stores the root token's hash; fails if already initialised.
    pub fn initialise(&self, hash: [u8; 32]) -> Result<(), Error> {
        self.change(
            Table::Meta,
            INIT_ID,
            |inner| {
                if inner.root_hash.is_some() {
                    return Err(Error::invalid("Vault is already initialized"));
                }
                let record = serde_json::to_vec(&InitRecord {
                    root_token_sha256: hex::encode(hash),
                })
                .map_err(|_| Error::failed("init"))?;
                Ok(Step::Write(Some(Zeroizing::new(record)), ()))
            },
            |inner, ()| inner.root_hash = Some(hash),
        )
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

impl State {
    /// The decision for one request: the token (`credential`) must be root
    /// or a live token whose policies grant `op` on `path`. Every request
    /// made with a limited token uses one of its uses, durably, allowed or
    /// not (as in Vault: a limited token cannot probe the ACL for free).
    pub fn authorize(
        &self,
        credential: &Credential,
        path: &str,
        op: Access,
    ) -> Result<Identity, Error> {
        self.retrying(|| self.authorize_once(credential, path, op))
    }

    fn authorize_once(
        &self,
        credential: &Credential,
        path: &str,
        op: Access,
    ) -> Result<Identity, Error> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let (hash, accessor) = (&credential.hash, credential.accessor.clone());
        if inner.is_root(hash) {
            return Ok(Identity::root(accessor));
        }
        let mut store = self.store.writer(&mut inner.versions);
        let mut rec = inner
            .tokens
            .live(&mut store, &accessor, now())
            .ok_or(Error::Denied)?;
        tokens::check_hash(&rec, hash)?;
        let limited = rec.num_uses > 0;
        if limited {
            rec.num_uses -= 1;
            if rec.num_uses == 0 {
                inner.tokens.revoke_tree(&mut store, &accessor)?;
            } else {
                inner.tokens.write(&mut store, &accessor, &rec)?;
            }
        }
        inner.grants(&rec, path, op)?;
        Ok(Identity {
            accessor,
            record: Some(rec),
            limited,
        })
    }

    /// [`Self::authorize`] without waiting or writing, for the I/O thread:
    /// `None` when the decision needs the store (a limited token's use, an
    /// expired token to purge) or the lock stays held (a token writer holds
    /// it across an fsync); the caller then runs `authorize` on a blocking
    /// thread. Same decision, same code.
    pub fn authorize_in_memory(
        &self,
        credential: &Credential,
        path: &str,
        op: Access,
    ) -> Option<Result<Identity, Error>> {
        let inner = self.try_lock_briefly()?;
        let (hash, accessor) = (&credential.hash, credential.accessor.clone());
        if inner.is_root(hash) {
            return Some(Ok(Identity::root(accessor)));
        }
        let Some(rec) = inner.tokens.get(&accessor) else {
            return Some(Err(Error::Denied));
        };
        if rec.num_uses > 0 || rec.expire_time.is_some_and(|t| t <= now()) {
            return None;
        }
        let decision = tokens::check_hash(rec, hash).and_then(|()| inner.grants(rec, path, op));
        Some(decision.map(|()| Identity {
            accessor,
            record: Some(rec.clone()),
            limited: false,
        }))
    }

    /// Whether `identity`'s policies (as they are now) also grant `op` on
    /// `path`: for an operation that reaches beyond its own path (a forced
    /// restore replaces the key at `transit/keys/NAME`).
    pub fn also_allows(&self, identity: &Identity, path: &str, op: Access) -> Result<(), Error> {
        match &identity.record {
            None => Ok(()),
            Some(rec) => self.lock().grants(rec, path, op),
        }
    }

    /// Stores `rec` as the token `accessor`, a child of `creator`: purges
    /// expired tokens first if the store is full; refuses if `creator` was
    /// revoked meanwhile.
    pub fn insert_token(
        &self,
        creator: &Identity,
        accessor: &str,
        rec: &TokenRecord,
    ) -> Result<(), Error> {
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            let mut store = self.store.writer(&mut inner.versions);
            inner.tokens.make_room(&mut store, now())?;
            // A creator revoked meanwhile makes no children.
            if !creator.is_root() && !inner.tokens.contains(&creator.accessor) {
                return Err(Error::Denied);
            }
            inner.tokens.write(&mut store, accessor, rec)
        })
    }

    /// Looks a token up by accessor: the root token (`Some(None)`) or a
    /// live record.
    pub fn lookup_token(&self, accessor: &str) -> Option<Option<TokenRecord>> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if let Some(root) = inner.root_hash {
            if tokens::accessor(&root) == accessor {
                return Some(None);
            }
        }
        let mut store = self.store.writer(&mut inner.versions);
        inner.tokens.live(&mut store, accessor, now()).map(Some)
    }

    /// Renews the token `accessor` (see [`Tokens::renew`]).
    pub fn renew_token(
        &self,
        accessor: &str,
        increment: Option<u64>,
        max_expiry: impl Fn(&TokenRecord) -> u64,
    ) -> Result<TokenRecord, Error> {
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            let mut store = self.store.writer(&mut inner.versions);
            inner
                .tokens
                .renew(&mut store, accessor, increment, now(), &max_expiry)
        })
    }

    /// Every token's accessor, the root token's first.
    pub fn token_accessors(&self) -> Vec<String> {
        let inner = self.lock();
        let root = inner.root_hash.map(|h| tokens::accessor(&h));
        root.into_iter().chain(inner.tokens.accessors()).collect()
    }

    /// Revokes the token `accessor` and every token made from it.
    pub fn revoke(&self, accessor: &str) -> Result<(), Error> {
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            if inner
                .root_hash
                .is_some_and(|r| tokens::accessor(&r) == accessor)
            {
                return Err(Error::invalid("the root token cannot be revoked"));
            }
            let mut store = self.store.writer(&mut inner.versions);
            if inner.tokens.live(&mut store, accessor, now()).is_none() {
                return Err(Error::invalid("invalid token or accessor"));
            }
            inner.tokens.revoke_tree(&mut store, accessor)
        })
    }

    /// Revokes `accessor` and its children without the checks of
    /// [`State::revoke`] (a token revoking itself).
    pub fn revoke_self(&self, accessor: &str) -> Result<(), Error> {
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            let mut store = self.store.writer(&mut inner.versions);
            inner.tokens.revoke_tree(&mut store, accessor)
        })
    }
}

impl State {
    /// Every policy name, `root` included.
    pub fn policy_names(&self) -> Vec<String> {
        self.lock().policies.names()
    }

    /// The capability bits the named policies give on `path` (`None`: root).
    pub fn capabilities(&self, policies: &[String], path: &str) -> Option<u8> {
        self.lock().policies.caps(policies, path)
    }

    pub fn policy_text(&self, name: &str) -> Option<String> {
        self.lock().policies.text(name)
    }

    pub fn put_policy(&self, name: String, policy: NamedPolicy) -> Result<(), Error> {
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            if !inner.policies.contains(&name) && inner.policies.len() >= policies::MAX_STORED {
                return Err(Error::invalid(format!(
                    "too many policies (limit {})",
                    policies::MAX_STORED
                )));
            }
            // Under the lock: policy writes are rare, and a request must
            // never see a policy that is not on disk.
            self.store.writer(&mut inner.versions).write(vec![(
                Table::Policies,
                name.clone(),
                Some(Zeroizing::new(policy.text.as_bytes().to_vec())),
            )])?;
            inner.policies.insert(name.clone(), policy.clone());
            Ok(())
        })
    }

    pub fn delete_policy(&self, name: &str) -> Result<(), Error> {
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            if inner.policies.contains(name) {
                self.store.writer(&mut inner.versions).write(vec![(
                    Table::Policies,
                    name.to_string(),
                    None,
                )])?;
                inner.policies.remove(name);
            }
            Ok(())
        })
    }
}
