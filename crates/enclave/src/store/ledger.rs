//! The sealed index a backend keeps beside its records, and what it makes
//! possible: refusing an edited, swapped, replayed, added or removed
//! record, and (for a store shared by replicas) learning exactly what the
//! other replicas changed.
//!
//! - Versions are a store-wide generation counter: each write transaction
//!   takes the next one, for the index and every record it writes.
//! - The index maps every other record to its current version, in two
//!   levels so a write rewrites only what it touched: each record belongs
//!   to one of 256 buckets ([`index::bucket_of`]); `meta/index.XX` (XX the
//!   bucket in hex) is a sealed JSON list `[{"table":T,"id":ID,
//!   "version":N},...]` of that bucket's records, and `meta/index` is the
//!   sealed root `{"buckets":[v0,...,v255]}`, each the version of that
//!   bucket's record (0: empty, no record). Each write transaction
//!   rewrites the root, the buckets it changed and its records.
//! - A record whose version differs from its bucket, or a bucket whose
//!   version differs from the root (an old copy replayed), a record or
//!   bucket the level above does not list, or an entry without its record,
//!   is tampering ([`StoreError::Tampered`]).
//! - A store whose `meta/index` is still the one-level list (builds before
//!   the buckets) opens, and its next write converts it.
//! - The root of a store with one server also holds `audit`,
//!   `{"seq":N,"hash":H}`: the audit log's last entry on disk when it was
//!   written ([`super::freshness`]). Replicas of a shared store each keep
//!   their own log, so theirs holds none.
//!
//! - Catching up, a replica reads the root on every round, whatever the
//!   database says its version is: the root's own sealed version, not the
//!   database's `version` column, says whether anything changed. Rows the
//!   new root lists as changed that the database did not return (their
//!   column rewritten, or removed) are [`StoreError::Hidden`]; a root
//!   older than the one we hold is [`StoreError::RolledBack`]. The root
//!   last seen is kept sealed as read, so an unchanged root costs a
//!   comparison, not an unsealing.
//!
//! Rolling the whole store back to an earlier state (index and records
//! together) cannot be seen from the store alone: a replica of a shared
//! store also keeps a high-water mark in its data dir
//! ([`super::postgres`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::freshness::Freshness;
use super::index::{
    bucket_id, bucket_of, index_entries, index_json, is_index_id, RecordKey, Root, BUCKETS,
    INDEX_ID,
};
use super::seal::{shown, Sealer};
use super::{Change, Delivered, Records, StoreError, Table, Versions};

/// Sealed records as a backend holds them, by table and id.
pub type Rows = BTreeMap<(Table, String), Vec<u8>>;

/// The index of a store, and the key its records are sealed under.
pub struct Ledger {
    sealer: Sealer,
    /// The current version of every record but the index, by bucket.
    buckets: Vec<BTreeMap<RecordKey, u64>>,
    /// Each bucket record's version (0: none), as the root lists them.
    bucket_versions: Vec<u64>,
    /// Opened from a one-level index: the next write writes every bucket.
    legacy: bool,
    generation: u64,
    /// The sealed root at `generation`, as read or written.
    root_sealed: Vec<u8>,
    freshness: Arc<Freshness>,
    /// Whether the root records the audit log's head.
    audit_head: bool,
}

/// One write transaction, sealed and ready for the backend: `rows` to put
/// (or, `None`, remove), all at `version`.
pub struct Staged {
    pub version: u64,
    pub rows: Vec<(Table, String, Option<Vec<u8>>)>,
    undo: Vec<(RecordKey, Option<u64>)>,
    bucket_versions: Vec<u64>,
    /// The sealed root among `rows`.
    root_sealed: Vec<u8>,
}

fn tampered(what: String) -> StoreError {
    StoreError::Tampered(what)
}

impl Ledger {
    /// An empty index under `sealer`; `audit_head`: the root records the
    /// audit log's head (a store of one server).
    pub fn new(sealer: Sealer, audit_head: bool) -> Self {
        Self {
            sealer,
            buckets: vec![BTreeMap::new(); BUCKETS],
            bucket_versions: vec![0; BUCKETS],
            legacy: false,
            generation: 0,
            root_sealed: Vec::new(),
            freshness: Default::default(),
            audit_head,
        }
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Seals from now on under `sealer` (a migration rewrites every record).
    pub fn set_sealer(&mut self, sealer: Sealer) {
        self.sealer = sealer;
    }

    /// The version of the last write this index knows of.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The generation of a sealed root as read (checked, not taken in):
    /// lets overlapping catch-ups tell a late answer from a rollback.
    pub fn root_generation(&self, root_raw: &[u8]) -> Result<u64, StoreError> {
        if root_raw == self.root_sealed {
            return Ok(self.generation);
        }
        Ok(self.sealer.unseal(Table::Meta, INDEX_ID, root_raw)?.0)
    }

    pub fn freshness(&self) -> Arc<Freshness> {
        self.freshness.clone()
    }

    /// The current version of every record.
    pub fn versions(&self) -> Versions {
        let mut versions = Versions::default();
        for ((table, id), version) in self.buckets.iter().flatten() {
            versions.saw(*table, id, *version, true);
        }
        versions
    }

    /// Each bucket's version, as the root lists them.
    #[cfg(test)]
    pub fn bucket_versions(&self) -> &[u64] {
        &self.bucket_versions
    }

    /// Every record's version.
    #[cfg(test)]
    pub fn entries(&self) -> BTreeMap<RecordKey, u64> {
        self.buckets
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Whether the index is still the one-level list.
    #[cfg(test)]
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    fn current(&self, table: Table, id: &str) -> u64 {
        self.buckets[bucket_of(table, id)]
            .get(&(table, id.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Checks every sealed row of a store against its index and opens it.
    pub fn load(&mut self, mut raw: Rows) -> Result<Records, StoreError> {
        let mut records = Records::new();
        let Some(index_raw) = raw.remove(&(Table::Meta, INDEX_ID.to_string())) else {
            if raw.is_empty() {
                return Ok(records);
            }
            return Err(tampered("records without an index".into()));
        };
        let (generation, root_plain) = self.sealer.unseal(Table::Meta, INDEX_ID, &index_raw)?;
        let mut buckets = vec![BTreeMap::new(); BUCKETS];
        let mut bucket_versions = vec![0u64; BUCKETS];
        let legacy = root_plain.first() == Some(&b'[');
        let mut recorded = None;
        if legacy {
            for (k, version) in index_entries(&root_plain)? {
                buckets[bucket_of(k.0, &k.1)].insert(k, version);
            }
        } else {
            let root = read_root(&root_plain)?;
            recorded = root.audit;
            for (b, &expected) in root.buckets.iter().enumerate() {
                let sealed = raw.remove(&(Table::Meta, bucket_id(b)));
                if let Some(entries) = self.bucket(b, expected, sealed.as_deref())? {
                    buckets[b] = entries;
                }
                bucket_versions[b] = expected;
            }
        }
        let indexed: usize = buckets.iter().map(BTreeMap::len).sum();
        if indexed != raw.len() {
            return Err(tampered(
                "records and index do not match (added or removed records)".into(),
            ));
        }
        for ((table, id), sealed) in raw {
            let Some(&expected) = buckets[bucket_of(table, &id)].get(&(table, id.clone())) else {
                return Err(not_indexed(table, &id));
            };
            let plain = self.record(table, &id, expected, &sealed)?;
            records.insert((table, id), plain);
        }
        self.buckets = buckets;
        self.bucket_versions = bucket_versions;
        self.legacy = legacy;
        self.generation = generation;
        self.root_sealed = index_raw;
        self.freshness = Arc::new(Freshness::opened(generation, recorded));
        Ok(records)
    }

    /// Bucket `b`'s entries from its sealed row, which the root says is at
    /// `expected` (0: there is none, `Ok(None)`).
    fn bucket(
        &self,
        b: usize,
        expected: u64,
        sealed: Option<&[u8]>,
    ) -> Result<Option<BTreeMap<RecordKey, u64>>, StoreError> {
        let id = bucket_id(b);
        let sealed = match (expected, sealed) {
            (0, None) => return Ok(None),
            (0, Some(_)) => {
                return Err(tampered(format!(
                    "index bucket {id} is not in the index (added)"
                )))
            }
            (_, None) => return Err(tampered(format!("index bucket {id} is missing (removed)"))),
            (_, Some(sealed)) => sealed,
        };
        let (version, plain) = self.sealer.unseal(Table::Meta, &id, sealed)?;
        if version != expected {
            return Err(tampered(format!(
                "index bucket {id} is version {version}, the index says {expected} (replayed)"
            )));
        }
        let mut entries = BTreeMap::new();
        for (k, version) in index_entries(&plain)? {
            if bucket_of(k.0, &k.1) != b {
                return Err(tampered(format!(
                    "index bucket {id} lists a record of another bucket"
                )));
            }
            entries.insert(k, version);
        }
        Ok(Some(entries))
    }

    /// A record's plaintext, if its sealed row is at the `expected` version.
    fn record(
        &self,
        table: Table,
        id: &str,
        expected: u64,
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, StoreError> {
        let (version, plain) = self.sealer.unseal(table, id, sealed)?;
        if version != expected {
            return Err(tampered(format!(
                "record {}/{} is version {version}, the index says {expected} (replayed)",
                table.name(),
                shown(id)
            )));
        }
        Ok(plain)
    }

    /// Takes in what other writers committed: `rows` are the index root
    /// and every row the database says is newer than
    /// [`Self::generation`]. The root decides what changed; each changed
    /// row is checked against it; the answer is what changed, record by
    /// record. Nothing changes here on an error.
    pub fn catch_up(&mut self, mut rows: Rows) -> Result<Vec<Delivered>, StoreError> {
        let Some(root_raw) = rows.remove(&(Table::Meta, INDEX_ID.to_string())) else {
            if rows.is_empty() && self.generation == 0 {
                return Ok(Vec::new());
            }
            return Err(tampered("the index is missing (removed)".into()));
        };
        if root_raw == self.root_sealed {
            if let Some((table, id)) = rows.keys().next() {
                return Err(tampered(format!(
                    "record {}/{} changed without the index",
                    table.name(),
                    shown(id)
                )));
            }
            return Ok(Vec::new());
        }
        let (generation, root_plain) = self.sealer.unseal(Table::Meta, INDEX_ID, &root_raw)?;
        if generation < self.generation {
            return Err(StoreError::RolledBack(format!(
                "its sealed index went back from generation {} to {generation}, which would \
                 bring back what was revoked or deleted since; put back its newest copy",
                self.generation
            )));
        }
        if generation == self.generation {
            return Err(tampered(format!(
                "the index was replaced by another of the same version {generation}"
            )));
        }
        let root = read_root(&root_plain)?;
        let hidden = |what: String| {
            StoreError::Hidden(format!(
                "its sealed index is at generation {generation} and lists {what}, but the \
                 database returned no such row newer than generation {}",
                self.generation
            ))
        };
        let mut delivered = Vec::new();
        let mut buckets = Vec::new();
        for (b, &expected) in root.buckets.iter().enumerate() {
            if expected == self.bucket_versions[b] {
                continue;
            }
            let sealed = rows.remove(&(Table::Meta, bucket_id(b)));
            if expected != 0 && sealed.is_none() {
                return Err(hidden(format!(
                    "index bucket {} at version {expected}",
                    bucket_id(b)
                )));
            }
            let entries = self
                .bucket(b, expected, sealed.as_deref())?
                .unwrap_or_default();
            for (k, &version) in &entries {
                if self.buckets[b].get(k) == Some(&version) {
                    continue;
                }
                let Some(sealed) = rows.remove(k) else {
                    return Err(hidden(format!(
                        "record {}/{} at version {version}",
                        k.0.name(),
                        shown(&k.1)
                    )));
                };
                let plain = self.record(k.0, &k.1, version, &sealed)?;
                delivered.push(Delivered {
                    table: k.0,
                    id: k.1.clone(),
                    version,
                    value: Some(plain),
                });
            }
            // Removed at most at this generation (an emptied bucket has
            // no version of its own).
            for k in self.buckets[b].keys().filter(|k| !entries.contains_key(*k)) {
                delivered.push(Delivered {
                    table: k.0,
                    id: k.1.clone(),
                    version: generation,
                    value: None,
                });
            }
            buckets.push((b, entries));
        }
        if let Some((table, id)) = rows.keys().next() {
            return Err(not_indexed(*table, id));
        }
        for (b, entries) in buckets {
            self.buckets[b] = entries;
        }
        self.bucket_versions = root.buckets;
        self.legacy = false;
        self.generation = generation;
        self.root_sealed = root_raw;
        self.freshness.committed(generation);
        Ok(delivered)
    }

    /// Seals `changes` as the next write transaction; with `reseal`, every
    /// bucket too (a new sealing key). With `check`, a change whose
    /// expected version is not the record's is [`StoreError::Conflict`]
    /// and nothing is staged. The index changes in place: the backend then
    /// calls [`Self::committed`] or [`Self::abort`].
    pub fn stage(
        &mut self,
        changes: &[Change],
        reseal: bool,
        check: bool,
    ) -> Result<Staged, StoreError> {
        for c in changes {
            if is_index_id(c.table, &c.id) {
                return Err(StoreError::Database("reserved record id".into()));
            }
            if check && self.current(c.table, &c.id) != c.expected {
                return Err(StoreError::Conflict(format!(
                    "{}/{}",
                    c.table.name(),
                    shown(&c.id)
                )));
            }
        }
        let mut staged = Staged {
            version: self.generation + 1,
            rows: Vec::with_capacity(changes.len() + 2),
            undo: Vec::with_capacity(changes.len()),
            bucket_versions: self.bucket_versions.clone(),
            root_sealed: Vec::new(),
        };
        match self.stage_into(changes, reseal, &mut staged) {
            Ok(()) => Ok(staged),
            Err(e) => {
                self.abort(staged);
                Err(e)
            }
        }
    }

    fn stage_into(
        &mut self,
        changes: &[Change],
        reseal: bool,
        staged: &mut Staged,
    ) -> Result<(), StoreError> {
        // Every write gets the next store-wide generation as its version,
        // so no two sealed records of one id ever share a version, even
        // across delete and re-create.
        let version = staged.version;
        // A one-level index, or a re-seal under a new key: every bucket.
        let mut dirty = vec![self.legacy || reseal; BUCKETS];
        for c in changes {
            let k = (c.table, c.id.clone());
            let b = bucket_of(c.table, &c.id);
            dirty[b] = true;
            match &c.value {
                Some(plain) => {
                    let sealed = self.sealer.seal(c.table, &c.id, version, plain)?;
                    let old = self.buckets[b].insert(k.clone(), version);
                    staged.undo.push((k, old));
                    staged.rows.push((c.table, c.id.clone(), Some(sealed)));
                }
                None => {
                    let old = self.buckets[b].remove(&k);
                    staged.undo.push((k, old));
                    staged.rows.push((c.table, c.id.clone(), None));
                }
            }
        }
        for (b, _) in dirty.iter().enumerate().filter(|(_, d)| **d) {
            let id = bucket_id(b);
            if self.buckets[b].is_empty() {
                if staged.bucket_versions[b] != 0 {
                    staged.rows.push((Table::Meta, id, None));
                }
                staged.bucket_versions[b] = 0;
            } else {
                let plain = index_json(&self.buckets[b])?;
                let record = self.sealer.seal(Table::Meta, &id, version, &plain)?;
                staged.rows.push((Table::Meta, id, Some(record)));
                staged.bucket_versions[b] = version;
            }
        }
        let audit = if self.audit_head {
            self.freshness.audit_head()
        } else {
            None
        };
        let root = serde_json::to_vec(&Root {
            buckets: staged.bucket_versions.clone(),
            audit,
        })
        .map_err(|e| StoreError::Database(e.to_string()))?;
        let sealed = self.sealer.seal(Table::Meta, INDEX_ID, version, &root)?;
        staged.root_sealed.clone_from(&sealed);
        staged
            .rows
            .push((Table::Meta, INDEX_ID.to_string(), Some(sealed)));
        Ok(())
    }

    /// `staged` is durable.
    pub fn committed(&mut self, staged: Staged) {
        self.generation = staged.version;
        self.root_sealed = staged.root_sealed;
        self.freshness.committed(staged.version);
        self.bucket_versions = staged.bucket_versions;
        self.legacy = false;
    }

    /// `staged` was not written: the index is put back as it was.
    pub fn abort(&mut self, staged: Staged) {
        for (k, old) in staged.undo.into_iter().rev() {
            let bucket = &mut self.buckets[bucket_of(k.0, &k.1)];
            match old {
                Some(v) => bucket.insert(k, v),
                None => bucket.remove(&k),
            };
        }
    }
}

fn read_root(plain: &[u8]) -> Result<Root, StoreError> {
    let root: Root =
        serde_json::from_slice(plain).map_err(|_| tampered("unreadable index".into()))?;
    if root.buckets.len() != BUCKETS {
        return Err(tampered("unreadable index".into()));
    }
    Ok(root)
}

fn not_indexed(table: Table, id: &str) -> StoreError {
    tampered(format!(
        "record {}/{} is not in the index",
        table.name(),
        shown(id)
    ))
}
