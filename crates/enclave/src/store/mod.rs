//! The sealed, crash-safe record store: one redb file, `keys.redb`, in the
//! enclave's data dir. The host can read and write that file; it only ever
//! sees sealed records.
//!
//! Format (version 1):
//! - Tables `meta`, `keys`, `tokens` and `policies`, all `&str -> &[u8]`.
//!   `meta` holds `index` (see below) and `init` (the root token's
//!   SHA-256); `keys` holds one record per managed key, by name; `tokens`
//!   one record per token other than root, by accessor (the record holds
//!   the token's SHA-256, never the token); `policies` one ACL policy per
//!   name. A file made before `tokens` and `policies` existed opens
//!   unchanged: the tables are created empty.
//! - A record is `"MKS1" || version (u64 LE) || nonce (12) || AES-256-GCM
//!   ciphertext || tag (16)`. The key is HKDF-SHA256 (salt
//!   `minikms store v1`, info `minikms store v1 aes-256-gcm`) of the
//!   platform sealing key under [`SealPolicy::MrSigner`] with key id
//!   SHA-256("minikms store v1"), so a newer enclave of the same signer and
//!   product keeps access. The nonce is random per write.
//! - The associated data is `"minikms store v1" || 0 || table || 0 || id ||
//!   0 || version (u64 LE)`: a record moved to another table or id, or
//!   edited in any way, fails to open.
//! - Table `header` (`&str -> u64`, not sealed) holds `seal_svn`: the
//!   ISVSVN the sealing key was derived at. Opening derives the key at that
//!   SVN (EGETKEY allows any SVN up to ours), and an enclave with a higher
//!   SVN re-seals every record at its own SVN in one transaction, so an
//!   upgrade keeps the data and the older (perhaps vulnerable) build can no
//!   longer read it. A store sealed at a higher SVN than ours is refused.
//!   The host may edit the header; a wrong SVN only makes every record fail
//!   to open.
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
//!   is tampering: [`Store::open`] refuses with [`StoreError::Tampered`].
//!   A store whose `meta/index` is still the one-level list (builds before
//!   the buckets) opens, and its next write converts it.
//!   Rolling the whole file back to an earlier state (index and records
//!   together) cannot be detected without a monotonic counter, which the
//!   platform does not offer yet.
//!
//! Durability: every write is one redb transaction committed with redb's
//! default immediate durability (fsync) before the call returns. Concurrent
//! writers share transactions through [`group::GroupCommit`]; each is
//! still answered only once its own records are on disk.
//!
//! Everything is read and checked at open; callers keep the decrypted
//! records in memory (zeroized on drop) and write through this store.

use std::collections::BTreeMap;
use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{digest, hkdf};
use redb::{Database, ReadableTable, TableDefinition};
use zeroize::Zeroizing;

use crate::platform::{Platform, SealPolicy};

pub mod group;

/// The database file, in the data dir.
pub const FILE_NAME: &str = "keys.redb";
/// redb's page cache.
const CACHE_BYTES: usize = 4 << 20;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
const HEADER: TableDefinition<&str, u64> = TableDefinition::new("header");
const SEAL_SVN: &str = "seal_svn";
const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
const POLICIES: TableDefinition<&str, &[u8]> = TableDefinition::new("policies");
const INDEX_ID: &str = "index";
/// Bucket records are `index.00` to `index.ff` in `meta`.
const BUCKET_PREFIX: &str = "index.";
const BUCKETS: usize = 256;
const MAGIC: &[u8; 4] = b"MKS1";
const LABEL: &[u8] = b"minikms store v1";

/// The tables a caller may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    Meta,
    Keys,
    /// Tokens other than root, by accessor.
    Tokens,
    /// ACL policies, by name.
    Policies,
}

impl Table {
    /// Every table, in the order they are read at open.
    const ALL: [Table; 4] = [Table::Meta, Table::Keys, Table::Tokens, Table::Policies];

    fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Keys => "keys",
            Table::Tokens => "tokens",
            Table::Policies => "policies",
        }
    }

    fn def(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        match self {
            Table::Meta => META,
            Table::Keys => KEYS,
            Table::Tokens => TOKENS,
            Table::Policies => POLICIES,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// What went wrong, by who is at fault. No variant carries secret data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The host changed, swapped, replayed or removed sealed records.
    #[error("the key store was tampered with: {0}")]
    Tampered(String),
    /// The database itself (I/O, a corrupt file).
    #[error("key store database: {0}")]
    Database(String),
    /// The platform failed us (sealing key, randomness).
    #[error("platform: {0}")]
    Platform(String),
    /// Sealed by a newer enclave: running an older build on it is a
    /// downgrade.
    #[error("the key store was sealed by an enclave of security version {sealed_at}; this one has {ours}: refusing to downgrade")]
    Downgrade { sealed_at: u64, ours: u16 },
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

/// An opened store; holds the sealing key.
pub struct Store {
    db: Database,
    key: LessSafeKey,
    platform: std::sync::Arc<dyn Platform>,
    /// The current version of every record but the index, by bucket.
    buckets: Vec<BTreeMap<(Table, String), u64>>,
    /// Each bucket record's version (0: none), as the root lists them.
    bucket_versions: Vec<u64>,
    /// Opened from a one-level index: the next write writes every bucket.
    legacy: bool,
    index_version: u64,
}

/// The index root's plaintext.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Root {
    buckets: Vec<u64>,
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

/// Every record's plaintext, as read and checked at open.
pub type Records = BTreeMap<(Table, String), Zeroizing<Vec<u8>>>;

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

impl Store {
    /// Opens (creating if needed) `data_dir/keys.redb`, unseals every record
    /// and checks it against the index.
    pub fn open(
        platform: &std::sync::Arc<dyn Platform>,
        data_dir: &Path,
    ) -> Result<(Self, Records), StoreError> {
        let ours = platform.identity().security_version;
        let path = data_dir.join(FILE_NAME);
        // Every record lives unsealed in memory above us, so redb's page
        // cache only saves re-reading B-tree pages when writing: 4 MiB, not
        // its default 1 GiB (an enclave's memory is small; issue 7). With
        // the two-level index a commit touches few pages: create-key runs
        // as fast as with 16 MiB.
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(db_err)?;
        // Only sealed records in it, but nobody else needs to read it.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(db_err)?;
        }
        // Make sure every table exists, so readers never see "no table";
        // a new store (or one from before the header) is sealed at our SVN.
        let tx = db.begin_write().map_err(db_err)?;
        for table in Table::ALL {
            tx.open_table(table.def()).map_err(db_err)?;
        }
        let sealed_at = {
            let mut header = tx.open_table(HEADER).map_err(db_err)?;
            let stored = header.get(SEAL_SVN).map_err(db_err)?.map(|v| v.value());
            match stored {
                Some(svn) => svn,
                None => {
                    header.insert(SEAL_SVN, u64::from(ours)).map_err(db_err)?;
                    u64::from(ours)
                }
            }
        };
        tx.commit().map_err(db_err)?;
        let sealed_at = match u16::try_from(sealed_at) {
            Ok(svn) if svn <= ours => svn,
            _ => return Err(StoreError::Downgrade { sealed_at, ours }),
        };

        let mut store = Self {
            db,
            key: store_key(platform.as_ref(), sealed_at)?,
            platform: platform.clone(),
            buckets: vec![BTreeMap::new(); BUCKETS],
            bucket_versions: vec![0; BUCKETS],
            legacy: false,
            index_version: 0,
        };
        let records = store.load()?;
        if sealed_at < ours {
            store.reseal(&records, ours)?;
        }
        Ok((store, records))
    }

    /// Re-seals every record under the key of security version `svn`, in
    /// one durable transaction that also records `svn`.
    fn reseal(&mut self, records: &Records, svn: u16) -> Result<(), StoreError> {
        self.key = store_key(self.platform.as_ref(), svn)?;
        let changes: Vec<(Table, &str, Option<&[u8]>)> = records
            .iter()
            .map(|((table, id), plain)| (*table, id.as_str(), Some(plain.as_slice())))
            .collect();
        self.write_with_svn(&changes, Some(svn))
    }

    fn load(&mut self) -> Result<Records, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let mut raw: BTreeMap<(Table, String), Vec<u8>> = BTreeMap::new();
        for table in Table::ALL {
            let t = tx.open_table(table.def()).map_err(db_err)?;
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
        let (index_version, root_plain) = self.unseal(Table::Meta, INDEX_ID, &index_raw)?;
        let mut buckets = vec![BTreeMap::new(); BUCKETS];
        let mut bucket_versions = vec![0u64; BUCKETS];
        let legacy = root_plain.first() == Some(&b'[');
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
                        let (version, plain) = self.unseal(Table::Meta, &id, &sealed)?;
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
            let (version, plain) = self.unseal(table, &id, &sealed)?;
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
        Ok(records)
    }

    /// Writes (or, with `None`, removes) records in one durable transaction.
    /// When this returns `Ok`, the change is on disk (fsync).
    pub fn write(&mut self, changes: &[(Table, &str, Option<&[u8]>)]) -> Result<(), StoreError> {
        self.write_with_svn(changes, None)
    }

    fn write_with_svn(
        &mut self,
        changes: &[(Table, &str, Option<&[u8]>)],
        seal_svn: Option<u16>,
    ) -> Result<(), StoreError> {
        // The index is changed in place and put back if the write fails.
        let mut undo: Vec<((Table, String), Option<u64>)> = Vec::with_capacity(changes.len());
        let result = self.write_changes(changes, seal_svn, &mut undo);
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
        seal_svn: Option<u16>,
        undo: &mut Vec<((Table, String), Option<u64>)>,
    ) -> Result<(), StoreError> {
        // Every write gets the next store-wide generation as its version,
        // so no two sealed records of one id ever share a version, even
        // across delete and re-create.
        let index_version = self.index_version + 1;
        let mut sealed = Vec::with_capacity(changes.len());
        // A one-level index, or a re-seal under a new key: every bucket.
        let mut dirty = vec![self.legacy || seal_svn.is_some(); BUCKETS];
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
                    let sealed_record = self.seal(*table, id, version, plain)?;
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
                let record = self.seal(Table::Meta, &id, index_version, &plain)?;
                sealed.push((Table::Meta, id, Some(record)));
                bucket_versions[b] = index_version;
            }
        }
        let root = serde_json::to_vec(&Root {
            buckets: bucket_versions.clone(),
        })
        .map_err(db_err)?;
        let index_sealed = self.seal(Table::Meta, INDEX_ID, index_version, &root)?;

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
            if let Some(svn) = seal_svn {
                let mut header = tx.open_table(HEADER).map_err(db_err)?;
                header.insert(SEAL_SVN, u64::from(svn)).map_err(db_err)?;
            }
        }
        // Immediate durability (redb's default): fsync before returning.
        tx.commit().map_err(db_err)?;
        self.index_version = index_version;
        self.bucket_versions = bucket_versions;
        self.legacy = false;
        Ok(())
    }

    fn seal(
        &self,
        table: Table,
        id: &str,
        version: u64,
        plain: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.platform
            .fill_random(&mut nonce)
            .map_err(|e| StoreError::Platform(e.to_string()))?;
        let mut buf = Zeroizing::new(plain.to_vec());
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(table, id, version)),
                buf.as_mut_slice(),
            )
            .map_err(|_| StoreError::Platform("sealing failed".into()))?;
        let mut out = Vec::with_capacity(4 + 8 + NONCE_LEN + buf.len() + 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    fn unseal(
        &self,
        table: Table,
        id: &str,
        sealed: &[u8],
    ) -> Result<(u64, Zeroizing<Vec<u8>>), StoreError> {
        let bad = || {
            StoreError::Tampered(format!(
                "record {}/{} does not open under our sealing key",
                table.name(),
                shown(id)
            ))
        };
        let rest = sealed.strip_prefix(MAGIC.as_slice()).ok_or_else(bad)?;
        let (version, rest) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
        let version = u64::from_le_bytes(*version);
        let (nonce, ct) = rest.split_first_chunk::<NONCE_LEN>().ok_or_else(bad)?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad(table, id, version)),
                buf.as_mut_slice(),
            )
            .map_err(|_| bad())?
            .len();
        buf.truncate(len);
        Ok((version, buf))
    }
}

fn aad(table: Table, id: &str, version: u64) -> Vec<u8> {
    let mut a = Vec::with_capacity(LABEL.len() + id.len() + 16);
    a.extend_from_slice(LABEL);
    a.push(0);
    a.extend_from_slice(table.name().as_bytes());
    a.push(0);
    a.extend_from_slice(id.as_bytes());
    a.push(0);
    a.extend_from_slice(&version.to_le_bytes());
    a
}

/// Record ids in messages, shortened (they are key names, not secrets).
fn shown(id: &str) -> String {
    id.chars().take(64).collect()
}

/// The store's AES-256-GCM key, from the platform's MRSIGNER sealing key of
/// security version `svn`.
fn store_key(platform: &dyn Platform, svn: u16) -> Result<LessSafeKey, StoreError> {
    let id = digest::digest(&digest::SHA256, LABEL);
    let mut key_id = [0u8; 32];
    key_id.copy_from_slice(id.as_ref());
    let sealing = platform
        .sealing_key_at_svn(SealPolicy::MrSigner, svn, &key_id)
        .map_err(|e| StoreError::Platform(e.to_string()))?;
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, LABEL);
    let prk = salt.extract(sealing.as_ref());
    let info = [b"minikms store v1 aes-256-gcm".as_slice()];
    let okm = prk
        .expand(&info, &AES_256_GCM)
        .map_err(|_| StoreError::Platform("key derivation failed".into()))?;
    let unbound = UnboundKey::from(okm);
    Ok(LessSafeKey::new(unbound))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::platform::{BoxFuture, Evidence, PlatformError};
    use minikms_sigstruct::{EnclaveConfig, Identity, Measurement};
    use std::sync::Arc;

    /// Just enough platform for the store: a fixed sealing key.
    struct Fixed(Identity, EnclaveConfig);

    impl Platform for Fixed {
        fn name(&self) -> &'static str {
            "test"
        }
        fn identity(&self) -> &Identity {
            &self.0
        }
        fn config(&self) -> &EnclaveConfig {
            &self.1
        }
        fn sealing_key(
            &self,
            _: SealPolicy,
            key_id: &[u8; 32],
        ) -> Result<Zeroizing<[u8; 16]>, PlatformError> {
            let mut k = [7u8; 16];
            k[..].copy_from_slice(&key_id[..16]);
            Ok(Zeroizing::new(k))
        }
        fn evidence(&self, _: [u8; 64]) -> BoxFuture<'_, Result<Evidence, PlatformError>> {
            Box::pin(async { Err(PlatformError::Quote("no quotes in this test".into())) })
        }
    }

    fn platform() -> Arc<dyn Platform> {
        let config = EnclaveConfig::from_toml(
            "Debug = true\nNumHeapPages = 1\nNumStackPages = 1\nNumTCS = 1\nProductID = 1\nSecurityVersion = 1\n",
        )
        .unwrap();
        Arc::new(Fixed(
            Identity {
                mrenclave: Measurement([1; 32]),
                mrsigner: Measurement([2; 32]),
                product_id: 1,
                security_version: 1,
                attributes: [0; 16],
                debug: true,
            },
            config,
        ))
    }

    fn open(dir: &Path) -> Result<(Store, Records), StoreError> {
        Store::open(&platform(), dir)
    }

    fn tampered(dir: &Path) -> String {
        match open(dir) {
            Err(StoreError::Tampered(why)) => why,
            Err(e) => panic!("expected tampering, got {e}"),
            Ok(_) => panic!("expected tampering, the store opened"),
        }
    }

    /// Reads (`None` value) or edits the raw `meta` table.
    fn raw_meta(dir: &Path, id: &str, value: Option<Option<&[u8]>>) -> Option<Vec<u8>> {
        let db = Database::open(dir.join(FILE_NAME)).unwrap();
        let tx = db.begin_write().unwrap();
        let old = {
            let mut t = tx.open_table(META).unwrap();
            let old = t.get(id).unwrap().map(|v| v.value().to_vec());
            match value {
                None => {}
                Some(Some(v)) => {
                    t.insert(id, v).unwrap();
                }
                Some(None) => {
                    t.remove(id).unwrap();
                }
            }
            old
        };
        tx.commit().unwrap();
        old
    }

    fn key(n: usize) -> String {
        format!("key-{n}")
    }

    #[test]
    fn records_spread_over_buckets_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, records) = open(dir.path()).unwrap();
        assert!(records.is_empty());
        for n in 0..300 {
            let v = format!("value {n}");
            store
                .write(&[(Table::Keys, &key(n), Some(v.as_bytes()))])
                .unwrap();
        }
        store.write(&[(Table::Keys, &key(7), None)]).unwrap();
        let used = store.bucket_versions.iter().filter(|v| **v != 0).count();
        // 300 records in 256 buckets: about 176 used if they spread evenly.
        assert!(used > 150, "{used} buckets used");
        drop(store);
        let (_, records) = open(dir.path()).unwrap();
        assert_eq!(records.len(), 299);
        assert_eq!(
            records[&(Table::Keys, key(42))].as_slice(),
            b"value 42".as_slice()
        );
        assert!(!records.contains_key(&(Table::Keys, key(7))));
    }

    #[test]
    fn a_replayed_removed_or_added_bucket_is_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = open(dir.path()).unwrap();
        store.write(&[(Table::Keys, "a", Some(b"1"))]).unwrap();
        let bucket = bucket_id(bucket_of(Table::Keys, "a"));
        drop(store);
        let old = raw_meta(dir.path(), &bucket, None).unwrap();
        let (mut store, _) = open(dir.path()).unwrap();
        store.write(&[(Table::Keys, "a", Some(b"2"))]).unwrap();
        drop(store);

        // The bucket as it was before the second write (with the record
        // put back too, it would pass only with the old root as well: a
        // whole-store rollback, which no sealed data can detect).
        let current = raw_meta(dir.path(), &bucket, Some(Some(&old))).unwrap();
        assert!(tampered(dir.path()).contains("replayed"), "bucket replay");
        raw_meta(dir.path(), &bucket, Some(None));
        assert!(tampered(dir.path()).contains("missing"), "bucket removed");
        raw_meta(dir.path(), &bucket, Some(Some(&current)));
        open(dir.path()).unwrap();

        // A bucket the root does not list.
        let empty = (0..BUCKETS)
            .map(bucket_id)
            .find(|id| raw_meta(dir.path(), id, None).is_none())
            .unwrap();
        raw_meta(dir.path(), &empty, Some(Some(&current)));
        assert!(tampered(dir.path()).contains("added"), "bucket added");
        raw_meta(dir.path(), &empty, Some(None));
        open(dir.path()).unwrap();

        // Index ids are not for callers.
        let (mut store, _) = open(dir.path()).unwrap();
        assert!(store
            .write(&[(Table::Meta, "index.00", Some(b"x"))])
            .is_err());
    }

    #[test]
    fn a_one_level_index_opens_and_is_converted_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = open(dir.path()).unwrap();
        for n in 0..20 {
            store
                .write(&[(Table::Keys, &key(n), Some(b"k".as_slice()))])
                .unwrap();
        }
        // Rewrite it as a build before the buckets left it: the list of
        // every record under `meta/index`, no bucket records.
        let mut all = BTreeMap::new();
        for b in &store.buckets {
            all.extend(b.iter().map(|(k, v)| (k.clone(), *v)));
        }
        let root = store
            .seal(
                Table::Meta,
                INDEX_ID,
                store.index_version,
                &index_json(&all).unwrap(),
            )
            .unwrap();
        drop(store);
        for b in 0..BUCKETS {
            raw_meta(dir.path(), &bucket_id(b), Some(None));
        }
        raw_meta(dir.path(), INDEX_ID, Some(Some(&root)));

        let (mut store, records) = open(dir.path()).unwrap();
        assert_eq!(records.len(), 20);
        assert!(store.legacy);
        store
            .write(&[(Table::Keys, &key(99), Some(b"new"))])
            .unwrap();
        drop(store);
        let buckets = (0..BUCKETS)
            .filter(|b| raw_meta(dir.path(), &bucket_id(*b), None).is_some())
            .count();
        assert!(buckets >= 15, "{buckets} bucket records after conversion");
        let (store, records) = open(dir.path()).unwrap();
        assert!(!store.legacy);
        assert_eq!(records.len(), 21);
    }

    #[test]
    fn index_json_is_what_serde_json_writes() {
        let mut index = BTreeMap::new();
        assert_eq!(index_json(&index).unwrap(), b"[]");
        index.insert((Table::Keys, "app-1.x_Y".to_string()), 7);
        index.insert((Table::Meta, "init".to_string()), 1);
        index.insert((Table::Meta, "odd \"id\"\\\n é".to_string()), u64::MAX);
        let entries: Vec<IndexEntry> = index
            .iter()
            .map(|((t, id), v)| IndexEntry {
                table: t.name().to_string(),
                id: id.clone(),
                version: *v,
            })
            .collect();
        assert_eq!(
            index_json(&index).unwrap(),
            serde_json::to_vec(&entries).unwrap()
        );
    }
}
