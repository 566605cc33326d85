//! The embedded backend: one redb file, `keys.redb`, in the enclave's data
//! dir, holding records in the format of [`super::seal`].
//!
//! Format (version 2; [`super::header`] says what changed from 1):
//! - Tables `meta`, `keys`, `tokens` and `policies`, all `&str -> &[u8]`.
//!   `meta` holds `index` (see below) and `init` (the root token's
//!   SHA-256); `keys` holds one record per managed key, by name; `tokens`
//!   one record per token other than root, by accessor (the record holds
//!   the token's SHA-256, never the token); `policies` one ACL policy per
//!   name. A file made before `tokens` and `policies` existed opens
//!   unchanged: the tables are created empty.
//! - Tables `header` and `root` (not sealed, [`super::header`]): the
//!   format, the root key sealed under this CPU, the record key's check
//!   value and the public recovery facts. Records are sealed under the
//!   root key ([`super::root`]), so a store this CPU cannot unseal (another
//!   machine) opens as a [`SealedStore`] that waits for the root key. A
//!   store of format 1 (records sealed under the CPU's key) is migrated
//!   at its first open, in one transaction. A store whose root key was
//!   sealed at a higher SVN than ours is refused (downgrade); one sealed
//!   at a lower SVN gets its root key re-sealed at ours, so the older
//!   (perhaps vulnerable) build can no longer open it by itself.
//! - Versions are a store-wide generation counter: each write transaction
//!   takes the next one, for the index and every record it writes.
//! - The index maps every other record to its current version, in two
//!   levels so a write rewrites only what it touched: each record belongs
//!   to one of 256 buckets (the first byte of SHA-256(table || 0 || id));
//!   `meta/index.XX` (XX the bucket in hex) is a sealed JSON list
//!   `[{"table":T,"id":ID,"version":N},...]` of that bucket's records, and
//!   `meta/index` is the sealed root `{"buckets":[v0,...,v255]}`, each the
//!   version of that bucket's record (0: empty, no record). Each write
//!   transaction rewrites the root, the buckets it changed and its records.
//!   A record whose version differs from its bucket, or a bucket whose
//!   version differs from the root (an old copy replayed), a record or
//!   bucket the level above does not list, or an entry without its record,
//!   is tampering: [`RedbStore::open`] refuses with [`StoreError::Tampered`].
//!   A store whose `meta/index` is still the one-level list (builds before
//!   the buckets) opens, and its next write converts it.
//!   The root also holds `audit`, `{"seq":N,"hash":H}`: the audit log's
//!   last entry on disk when it was written ([`super::freshness`]).
//!   Rolling the whole file back to an earlier state (index and records
//!   together) cannot be detected from the file alone: the audit log's
//!   entries record the generation they saw, and the boot refuses a store
//!   older than them.
//!
//! Durability: every write is one redb transaction committed with redb's
//! default immediate durability (fsync) before the call returns.
//!
//! Everything is read and checked at open; callers keep the decrypted
//! records in memory (zeroized on drop) and write through this store.

use std::collections::BTreeMap;
use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition};

use std::path::Path;

use super::freshness::Freshness;
use super::header::{self, Header, CURRENT_FORMAT};
use super::root::RootKey;
use super::seal::{shown, Sealer};
use super::{Records, Storage, StoreError, Table};
use crate::platform::Platform;
use index::{
    bucket_id, bucket_of, index_entries, index_json, is_index_id, Root, BUCKETS, INDEX_ID,
};
use quietly::quietly;

/// The database file, in the data dir.
pub const FILE_NAME: &str = "keys.redb";
/// redb's page cache.
const CACHE_BYTES: usize = 4 << 20;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
const POLICIES: TableDefinition<&str, &[u8]> = TableDefinition::new("policies");
fn def(table: Table) -> TableDefinition<'static, &'static str, &'static [u8]> {
    match table {
        Table::Meta => META,
        Table::Keys => KEYS,
        Table::Tokens => TOKENS,
        Table::Policies => POLICIES,
    }
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

/// An opened store; holds the sealing key.
pub struct RedbStore {
    db: Database,
    sealer: Sealer,
    platform: Arc<dyn Platform>,
    /// The current version of every record but the index, by bucket.
    buckets: Vec<BTreeMap<(Table, String), u64>>,
    /// Each bucket record's version (0: none), as the root lists them.
    bucket_versions: Vec<u64>,
    /// Opened from a one-level index: the next write writes every bucket.
    legacy: bool,
    index_version: u64,
    freshness: std::sync::Arc<Freshness>,
}

impl RedbStore {
    /// What this store and the audit log vouch for each other.
    pub fn freshness(&self) -> std::sync::Arc<Freshness> {
        self.freshness.clone()
    }

    fn new(db: Database, sealer: Sealer, platform: &Arc<dyn Platform>) -> Self {
        Self {
            db,
            sealer,
            platform: platform.clone(),
            buckets: vec![BTreeMap::new(); BUCKETS],
            bucket_versions: vec![0; BUCKETS],
            legacy: false,
            index_version: 0,
            freshness: Default::default(),
        }
    }

    fn load(&mut self) -> Result<Records, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let mut raw: BTreeMap<(Table, String), Vec<u8>> = BTreeMap::new();
        for table in Table::ALL {
            let t = tx.open_table(def(table)).map_err(db_err)?;
            for item in t.iter().map_err(db_err)? {
                let (k, v) = item.map_err(db_err)?;
                raw.insert((table, k.value().to_string()), v.value().to_vec());
            }
        }
        let mut records = Records::new();
        let Some(index_raw) = raw.remove(&(Table::Meta, INDEX_ID.to_string())) else {
            if raw.is_empty() {
                return Ok(records);
            }
            return Err(StoreError::Tampered("records without an index".into()));
        };
        let (index_version, root_plain) = self.sealer.unseal(Table::Meta, INDEX_ID, &index_raw)?;
        let mut buckets = vec![BTreeMap::new(); BUCKETS];
        let mut bucket_versions = vec![0u64; BUCKETS];
        let legacy = root_plain.first() == Some(&b'[');
        let mut recorded = None;
        if legacy {
            for (k, version) in index_entries(&root_plain)? {
                buckets[bucket_of(k.0, &k.1)].insert(k, version);
            }
        } else {
            let root: Root = serde_json::from_slice(&root_plain)
                .map_err(|_| StoreError::Tampered("unreadable index".into()))?;
            if root.buckets.len() != BUCKETS {
                return Err(StoreError::Tampered("unreadable index".into()));
            }
            recorded = root.audit;
            for (b, &expected) in root.buckets.iter().enumerate() {
                let id = bucket_id(b);
                match (expected, raw.remove(&(Table::Meta, id.clone()))) {
                    (0, None) => {}
                    (0, Some(_)) => {
                        return Err(StoreError::Tampered(format!(
                            "index bucket {id} is not in the index (added)"
                        )))
                    }
                    (_, None) => {
                        return Err(StoreError::Tampered(format!(
                            "index bucket {id} is missing (removed)"
                        )))
                    }
                    (_, Some(sealed)) => {
                        let (version, plain) = self.sealer.unseal(Table::Meta, &id, &sealed)?;
                        if version != expected {
                            return Err(StoreError::Tampered(format!(
                                "index bucket {id} is version {version}, the index says {expected} (replayed)"
                            )));
                        }
                        for (k, version) in index_entries(&plain)? {
                            if bucket_of(k.0, &k.1) != b {
                                return Err(StoreError::Tampered(format!(
                                    "index bucket {id} lists a record of another bucket"
                                )));
                            }
                            buckets[b].insert(k, version);
                        }
                    }
                }
                bucket_versions[b] = expected;
            }
        }
        let indexed: usize = buckets.iter().map(BTreeMap::len).sum();
        if indexed != raw.len() {
            return Err(StoreError::Tampered(
                "records and index do not match (added or removed records)".into(),
            ));
        }
        for ((table, id), sealed) in raw {
            let Some(expected) = buckets[bucket_of(table, &id)].get(&(table, id.clone())) else {
                return Err(StoreError::Tampered(format!(
                    "record {}/{} is not in the index",
                    table.name(),
                    shown(&id)
                )));
            };
            let (version, plain) = self.sealer.unseal(table, &id, &sealed)?;
            if version != *expected {
                return Err(StoreError::Tampered(format!(
                    "record {}/{} is version {version}, the index says {expected} (replayed)",
                    table.name(),
                    shown(&id)
                )));
            }
            records.insert((table, id), plain);
        }
        self.buckets = buckets;
        self.bucket_versions = bucket_versions;
        self.legacy = legacy;
        self.index_version = index_version;
        self.freshness = std::sync::Arc::new(Freshness::opened(index_version, recorded));
        Ok(records)
    }

    /// Writes `changes`; with `sealed_root`, also every bucket and the
    /// header of a store now sealed under that root key (the sealer's).
    fn write_all(
        &mut self,
        changes: &[(Table, &str, Option<&[u8]>)],
        sealed_root: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        // The index is changed in place and put back if the write fails.
        let mut undo: Vec<((Table, String), Option<u64>)> = Vec::with_capacity(changes.len());
        let result = self.write_changes(changes, sealed_root, &mut undo);
        if result.is_err() {
            for (k, old) in undo.into_iter().rev() {
                let bucket = &mut self.buckets[bucket_of(k.0, &k.1)];
                match old {
                    Some(v) => bucket.insert(k, v),
                    None => bucket.remove(&k),
                };
            }
        }
        result
    }

    fn write_changes(
        &mut self,
        changes: &[(Table, &str, Option<&[u8]>)],
        sealed_root: Option<&[u8]>,
        undo: &mut Vec<((Table, String), Option<u64>)>,
    ) -> Result<(), StoreError> {
        // Every write gets the next store-wide generation as its version,
        // so no two sealed records of one id ever share a version, even
        // across delete and re-create.
        let index_version = self.index_version + 1;
        let mut sealed = Vec::with_capacity(changes.len());
        // A one-level index, or a re-seal under a new key: every bucket.
        let mut dirty = vec![self.legacy || sealed_root.is_some(); BUCKETS];
        for (table, id, value) in changes {
            if is_index_id(*table, id) {
                return Err(StoreError::Database("reserved record id".into()));
            }
            let k = (*table, id.to_string());
            let b = bucket_of(*table, id);
            dirty[b] = true;
            match value {
                Some(plain) => {
                    let version = index_version;
                    let sealed_record = self.sealer.seal(*table, id, version, plain)?;
                    let old = self.buckets[b].insert(k.clone(), version);
                    undo.push((k, old));
                    sealed.push((*table, id.to_string(), Some(sealed_record)));
                }
                None => {
                    let old = self.buckets[b].remove(&k);
                    undo.push((k, old));
                    sealed.push((*table, id.to_string(), None));
                }
            }
        }
        let mut bucket_versions = self.bucket_versions.clone();
        for (b, _) in dirty.iter().enumerate().filter(|(_, d)| **d) {
            let id = bucket_id(b);
            if self.buckets[b].is_empty() {
                if bucket_versions[b] != 0 {
                    sealed.push((Table::Meta, id, None));
                }
                bucket_versions[b] = 0;
            } else {
                let plain = index_json(&self.buckets[b])?;
                let record = self.sealer.seal(Table::Meta, &id, index_version, &plain)?;
                sealed.push((Table::Meta, id, Some(record)));
                bucket_versions[b] = index_version;
            }
        }
        let root = serde_json::to_vec(&Root {
            buckets: bucket_versions.clone(),
            audit: self.freshness.audit_head(),
        })
        .map_err(db_err)?;
        let index_sealed = self
            .sealer
            .seal(Table::Meta, INDEX_ID, index_version, &root)?;

        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut meta = tx.open_table(META).map_err(db_err)?;
            let mut keys = tx.open_table(KEYS).map_err(db_err)?;
            let mut tokens = tx.open_table(TOKENS).map_err(db_err)?;
            let mut policies = tx.open_table(POLICIES).map_err(db_err)?;
            for (table, id, value) in &sealed {
                let t = match table {
                    Table::Meta => &mut meta,
                    Table::Keys => &mut keys,
                    Table::Tokens => &mut tokens,
                    Table::Policies => &mut policies,
                };
                match value {
                    Some(v) => {
                        t.insert(id.as_str(), v.as_slice()).map_err(db_err)?;
                    }
                    None => {
                        t.remove(id.as_str()).map_err(db_err)?;
                    }
                }
            }
            meta.insert(INDEX_ID, index_sealed.as_slice())
                .map_err(db_err)?;
            if let Some(sealed_root) = sealed_root {
                let svn = self.platform.identity().security_version;
                header::write_root(&tx, svn, check_word(&self.sealer), sealed_root)?;
            }
        }
        // Immediate durability (redb's default): fsync before returning.
        tx.commit().map_err(db_err)?;
        self.index_version = index_version;
        self.freshness.committed(index_version);
        self.bucket_versions = bucket_versions;
        self.legacy = false;
        Ok(())
    }
}

impl Storage for RedbStore {
    fn write(&mut self, changes: &[(Table, &str, Option<&[u8]>)]) -> Result<(), StoreError> {
        self.write_all(changes, None)
    }

    fn set_recovery(&mut self, recovery: &[u8]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        header::write_recovery(&tx, recovery)?;
        tx.commit().map_err(db_err)
    }
}

/// The part of the sealer's check value the header keeps.
fn check_word(sealer: &Sealer) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&sealer.check_value()[..8]);
    u64::from_le_bytes(word)
}

mod index;
mod quietly;

impl RedbStore {
    /// Opens `data_dir/keys.redb` on the machine that sealed it (or a new
    /// one); a store this CPU cannot unseal is an error here
    /// ([`StoreError::ForeignKey`]). See [`RedbStore::open_or_sealed`].
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn open(
        platform: &Arc<dyn Platform>,
        data_dir: &Path,
    ) -> Result<(Self, Records), StoreError> {
        match Self::open_or_sealed(platform, data_dir, false)? {
            Found::Ready(u) => Ok((u.store, u.records)),
            Found::Sealed(s) => Err(StoreError::ForeignKey(s.path)),
        }
    }

    /// Opens (creating if needed) `data_dir/keys.redb`, unseals every record
    /// and checks it against the index; or, if this CPU cannot unseal the
    /// root key, a sealed store waiting for it. A root key sealed at a
    /// higher security version than ours is [`StoreError::Downgrade`], or,
    /// with `newer_is_sealed`, a sealed store (whoever gives the root key
    /// then decides). A file redb cannot read is [`StoreError::Corrupt`].
    pub fn open_or_sealed(
        platform: &Arc<dyn Platform>,
        data_dir: &Path,
        newer_is_sealed: bool,
    ) -> Result<Found, StoreError> {
        let path = data_dir.join(FILE_NAME);
        quietly(|| Self::open_file(platform, &path, newer_is_sealed)).unwrap_or_else(|panic| {
            Err(StoreError::Corrupt {
                path: path.display().to_string(),
                detail: panic,
            })
        })
    }

    fn open_file(
        platform: &Arc<dyn Platform>,
        path: &Path,
        newer_is_sealed: bool,
    ) -> Result<Found, StoreError> {
        let ours = platform.identity().security_version;
        // Every record lives unsealed in memory above us, so redb's page
        // cache only saves re-reading B-tree pages when writing: a small
        // cache, not redb's default 1 GiB (an enclave's memory is small).
        // With the two-level index a commit touches few pages.
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => {
                    StoreError::InUse(path.display().to_string())
                }
                redb::DatabaseError::Storage(redb::StorageError::Corrupted(detail)) => {
                    StoreError::Corrupt {
                        path: path.display().to_string(),
                        detail,
                    }
                }
                e => db_err(e),
            })?;
        // Only sealed records in it, but nobody else needs to read it.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(db_err)?;
        }
        // Make sure every table exists, so readers never see "no table".
        let tx = db.begin_write().map_err(db_err)?;
        for table in Table::ALL {
            tx.open_table(def(table)).map_err(db_err)?;
        }
        let header = Header::read(&tx)?;
        let empty = tx
            .open_table(META)
            .map_err(db_err)?
            .get(INDEX_ID)
            .map_err(db_err)?
            .is_none();
        tx.commit().map_err(db_err)?;
        let newer = header.seal_svn.is_some_and(|svn| svn > u64::from(ours));
        if newer && !(newer_is_sealed && header.format >= CURRENT_FORMAT) {
            return Err(StoreError::Downgrade {
                sealed_at: header.seal_svn.unwrap_or_default(),
                ours,
            });
        }
        let sealed_at = header
            .seal_svn
            .and_then(|svn| u16::try_from(svn).ok())
            .unwrap_or(ours)
            .min(ours);
        let shown_path = path.display().to_string();
        if header.format >= CURRENT_FORMAT {
            let root = match &header.sealed_root {
                Some(sealed) if !newer => RootKey::unseal(platform, sealed_at, sealed)?,
                _ => None,
            };
            let sealed = SealedStore {
                db,
                platform: platform.clone(),
                path: shown_path,
                check: header.seal_check,
                recovery: header.recovery,
            };
            return match root {
                Some(root) => sealed.open_with(root, sealed_at < ours).map(Found::Ready),
                None => Ok(Found::Sealed(sealed)),
            };
        }
        // Format 1 (or new): records sealed under the CPU's key. Migrate
        // them to a new root key, in one transaction.
        let root = RootKey::generate(platform.as_ref())?;
        let sealer = if empty {
            Sealer::from_root(platform, &root)?
        } else {
            let legacy = Sealer::legacy(platform, sealed_at)?;
            if header.seal_check.is_some_and(|c| c != check_word(&legacy)) {
                return Err(StoreError::ForeignKey(shown_path));
            }
            legacy
        };
        let mut store = Self::new(db, sealer, platform);
        let records = store.load()?;
        store.sealer = Sealer::from_root(platform, &root)?;
        let sealed_root = root.seal(platform)?;
        let changes: Vec<(Table, &str, Option<&[u8]>)> = records
            .iter()
            .map(|((table, id), plain)| (*table, id.as_str(), Some(plain.as_slice())))
            .collect();
        store.write_all(&changes, Some(&sealed_root))?;
        if !empty {
            tracing::info!(
                "migrated {shown_path} to format {CURRENT_FORMAT}: its records are now sealed under a root key of its own"
            );
        }
        Ok(Found::Ready(Unsealed {
            store,
            records,
            root,
            recovery: header.recovery,
        }))
    }
}

/// What opening found.
pub enum Found {
    Ready(Unsealed),
    /// This CPU cannot unseal the root key: recovery shares or a peer must
    /// give it.
    Sealed(SealedStore),
}

/// An open store, and what it was opened with.
pub struct Unsealed {
    pub store: RedbStore,
    pub records: Records,
    pub root: RootKey,
    /// The public recovery facts ([`header`]), if shares were made.
    pub recovery: Option<Vec<u8>>,
}

/// A store whose root key this CPU cannot unseal.
pub struct SealedStore {
    db: Database,
    platform: Arc<dyn Platform>,
    path: String,
    check: Option<u64>,
    recovery: Option<Vec<u8>>,
}

impl SealedStore {
    /// The public recovery facts, if shares were made.
    pub fn recovery(&self) -> Option<&[u8]> {
        self.recovery.as_deref()
    }

    /// Whether `root` is this store's root key (its record key's check
    /// value is the stored one).
    pub fn is_root(&self, root: &RootKey) -> Result<bool, StoreError> {
        let sealer = Sealer::from_root(&self.platform, root)?;
        Ok(self.check == Some(check_word(&sealer)))
    }

    /// Opens the store with its root key, which is then sealed under this
    /// CPU (so the next start opens by itself).
    pub fn unseal(self, root: RootKey) -> Result<Unsealed, StoreError> {
        if !self.is_root(&root)? {
            return Err(StoreError::WrongRootKey(self.path));
        }
        self.open_with(root, true)
    }

    /// Opens with `root`; with `reseal`, first records it sealed under this
    /// CPU at our security version.
    fn open_with(self, root: RootKey, reseal: bool) -> Result<Unsealed, StoreError> {
        let sealer = Sealer::from_root(&self.platform, &root)?;
        if self.check != Some(check_word(&sealer)) {
            return Err(StoreError::Tampered(
                "the sealed root key is not the one the records are sealed under (swapped)".into(),
            ));
        }
        let mut store = RedbStore::new(self.db, sealer, &self.platform);
        let records = store.load()?;
        if reseal {
            let sealed_root = root.seal(&self.platform)?;
            let tx = store.db.begin_write().map_err(db_err)?;
            let svn = self.platform.identity().security_version;
            header::write_root(&tx, svn, check_word(&store.sealer), &sealed_root)?;
            tx.commit().map_err(db_err)?;
        }
        Ok(Unsealed {
            store,
            records,
            root,
            recovery: self.recovery,
        })
    }
}

#[cfg(test)]
mod tests;
