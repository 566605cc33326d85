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
//! - Versions are a store-wide generation counter: each write transaction
//!   takes the next one, for the index and every record it writes.
//! - `meta/index` is a sealed map of every other record to its current
//!   version, rewritten in the same transaction as each record. A record
//!   whose version differs from the index (an old copy replayed), or that
//!   the index does not list, or an index entry without its record, is
//!   tampering: [`Store::open`] refuses with [`StoreError::Tampered`].
//!   Rolling the whole file back to an earlier state (index and records
//!   together) cannot be detected without a monotonic counter, which the
//!   platform does not offer yet.
//!
//! Durability: every write is one redb transaction committed with redb's
//! default immediate durability (fsync) before the call returns.
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

/// The database file, in the data dir.
pub const FILE_NAME: &str = "keys.redb";

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
const POLICIES: TableDefinition<&str, &[u8]> = TableDefinition::new("policies");
const INDEX_ID: &str = "index";
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
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

/// An opened store; holds the sealing key.
pub struct Store {
    db: Database,
    key: LessSafeKey,
    platform: std::sync::Arc<dyn Platform>,
    /// The current version of every record but the index.
    index: BTreeMap<(Table, String), u64>,
    index_version: u64,
}

/// Every record's plaintext, as read and checked at open.
pub type Records = BTreeMap<(Table, String), Zeroizing<Vec<u8>>>;

#[derive(serde::Serialize, serde::Deserialize)]
struct IndexEntry {
    table: String,
    id: String,
    version: u64,
}

impl Store {
    /// Opens (creating if needed) `data_dir/keys.redb`, unseals every record
    /// and checks it against the index.
    pub fn open(
        platform: &std::sync::Arc<dyn Platform>,
        data_dir: &Path,
    ) -> Result<(Self, Records), StoreError> {
        let key = store_key(platform.as_ref())?;
        let path = data_dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(db_err)?;
        // Only sealed records in it, but nobody else needs to read it.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(db_err)?;
        }
        // Make sure every table exists, so readers never see "no table".
        let tx = db.begin_write().map_err(db_err)?;
        for table in Table::ALL {
            tx.open_table(table.def()).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;

        let mut store = Self {
            db,
            key,
            platform: platform.clone(),
            index: BTreeMap::new(),
            index_version: 0,
        };
        let records = store.load()?;
        Ok((store, records))
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
        let (index_version, index_plain) = self.unseal(Table::Meta, INDEX_ID, &index_raw)?;
        let entries: Vec<IndexEntry> = serde_json::from_slice(&index_plain)
            .map_err(|_| StoreError::Tampered("unreadable index".into()))?;
        let mut index = BTreeMap::new();
        for e in entries {
            let table = Table::from_name(&e.table)
                .ok_or_else(|| StoreError::Tampered("unknown table in the index".into()))?;
            index.insert((table, e.id), e.version);
        }
        if index.len() != raw.len() {
            return Err(StoreError::Tampered(
                "records and index do not match (added or removed records)".into(),
            ));
        }
        for ((table, id), sealed) in raw {
            let Some(expected) = index.get(&(table, id.clone())) else {
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
        self.index = index;
        self.index_version = index_version;
        Ok(records)
    }

    /// Writes (or, with `None`, removes) records in one durable transaction.
    /// When this returns `Ok`, the change is on disk (fsync).
    pub fn write(&mut self, changes: &[(Table, &str, Option<&[u8]>)]) -> Result<(), StoreError> {
        let mut index = self.index.clone();
        // Every write gets the next store-wide generation as its version,
        // so no two sealed records of one id ever share a version, even
        // across delete and re-create.
        let index_version = self.index_version + 1;
        let mut sealed = Vec::with_capacity(changes.len());
        for (table, id, value) in changes {
            if *table == Table::Meta && *id == INDEX_ID {
                return Err(StoreError::Database("reserved record id".into()));
            }
            let k = (*table, id.to_string());
            match value {
                Some(plain) => {
                    let version = index_version;
                    index.insert(k, version);
                    sealed.push((*table, *id, Some(self.seal(*table, id, version, plain)?)));
                }
                None => {
                    index.remove(&k);
                    sealed.push((*table, *id, None));
                }
            }
        }
        let entries: Vec<IndexEntry> = index
            .iter()
            .map(|((t, id), v)| IndexEntry {
                table: t.name().to_string(),
                id: id.clone(),
                version: *v,
            })
            .collect();
        let index_plain = serde_json::to_vec(&entries).map_err(db_err)?;
        let index_sealed = self.seal(Table::Meta, INDEX_ID, index_version, &index_plain)?;

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
                        t.insert(*id, v.as_slice()).map_err(db_err)?;
                    }
                    None => {
                        t.remove(*id).map_err(db_err)?;
                    }
                }
            }
            meta.insert(INDEX_ID, index_sealed.as_slice())
                .map_err(db_err)?;
        }
        // Immediate durability (redb's default): fsync before returning.
        tx.commit().map_err(db_err)?;
        self.index = index;
        self.index_version = index_version;
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

/// The store's AES-256-GCM key, from the platform's MRSIGNER sealing key.
fn store_key(platform: &dyn Platform) -> Result<LessSafeKey, StoreError> {
    let id = digest::digest(&digest::SHA256, LABEL);
    let mut key_id = [0u8; 32];
    key_id.copy_from_slice(id.as_ref());
    let sealing = platform
        .sealing_key(SealPolicy::MrSigner, &key_id)
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
