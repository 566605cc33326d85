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

use aws_lc_rs::digest;
use redb::{Database, ReadableTable, TableDefinition};

use super::freshness::{AuditHead, Freshness};
use super::header;
use super::seal::{shown, Sealer};
use super::{Records, Storage, StoreError, Table};
use crate::platform::Platform;

/// The database file, in the data dir.
pub const FILE_NAME: &str = "keys.redb";
/// redb's page cache.
const CACHE_BYTES: usize = 4 << 20;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
const POLICIES: TableDefinition<&str, &[u8]> = TableDefinition::new("policies");
const INDEX_ID: &str = "index";
/// Bucket records are `index.00` to `index.ff` in `meta`.
const BUCKET_PREFIX: &str = "index.";
const BUCKETS: usize = 256;

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

/// The index root's plaintext.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Root {
    buckets: Vec<u64>,
    /// The audit log's head when this was written ([`Freshness`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    audit: Option<AuditHead>,
}

/// The bucket of a record: the first byte of SHA-256(table || 0 || id).
/// Not secret (the ids are the database's plaintext keys); it only spreads
/// records evenly.
fn bucket_of(table: Table, id: &str) -> usize {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(table.name().as_bytes());
    ctx.update(&[0]);
    ctx.update(id.as_bytes());
    usize::from(ctx.finish().as_ref()[0])
}

fn bucket_id(bucket: usize) -> String {
    format!("{BUCKET_PREFIX}{bucket:02x}")
}

fn is_index_id(table: Table, id: &str) -> bool {
    table == Table::Meta && (id == INDEX_ID || id.starts_with(BUCKET_PREFIX))
}

/// A record's place: its table and id.
type RecordKey = (Table, String);

/// An index list's entries (the one-level index, or one bucket).
fn index_entries(plain: &[u8]) -> Result<Vec<(RecordKey, u64)>, StoreError> {
    let entries: Vec<IndexEntry> = serde_json::from_slice(plain)
        .map_err(|_| StoreError::Tampered("unreadable index".into()))?;
    entries
        .into_iter()
        .map(|e| {
            let table = Table::from_name(&e.table)
                .ok_or_else(|| StoreError::Tampered("unknown table in the index".into()))?;
            Ok(((table, e.id), e.version))
        })
        .collect()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct IndexEntry {
    table: String,
    id: String,
    version: u64,
}

/// The index as JSON (`[{"table":T,"id":ID,"version":N},...]`, what
/// serde_json writes for a `Vec<IndexEntry>`), written straight from the
/// map: it is rewritten with every transaction, so this is a hot path. Ids
/// that need no escaping (key names always) are copied as they are; any
/// other goes through serde_json.
fn index_json(index: &BTreeMap<(Table, String), u64>) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(index.len() * 48 + 2);
    out.push(b'[');
    for (i, ((table, id), version)) in index.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"table\":\"");
        out.extend_from_slice(table.name().as_bytes());
        out.extend_from_slice(b"\",\"id\":");
        if id.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
            serde_json::to_writer(&mut out, id).map_err(db_err)?;
        } else {
            out.push(b'"');
            out.extend_from_slice(id.as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b",\"version\":");
        out.extend_from_slice(version.to_string().as_bytes());
        out.push(b'}');
    }
    out.push(b']');
    Ok(out)
}

/// Runs `f`; a panic becomes its message, unprinted (the caller reports
/// it). redb asserts, rather than returning an error, on some damaged
/// files: that is a corrupt file to refuse, not a bug to crash on.
fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "an internal check failed".into())
    })
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

mod open;
pub use open::{Opened, SealedStore, Unsealed};

#[cfg(test)]
mod tests;
