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
//!   machine) opens as a [`RedbSealed`] that waits for the root key. A
//!   store of format 1 (records sealed under the CPU's key) is migrated
//!   at its first open, in one transaction. A store whose root key was
//!   sealed at a higher SVN than ours is refused (downgrade); one sealed
//!   at a lower SVN gets its root key re-sealed at ours, so the older
//!   (perhaps vulnerable) build can no longer open it by itself.
//! - The file is in redb's file format 3 (redb 3 and later). A file of
//!   format 2 (builds before redb 5) is copied into format 3 at its first
//!   open, crash-safely ([`upgrade`]).
//! - The records' versions and the sealed index beside them are the
//!   [`super::ledger`]'s: a record the host changed, swapped, replayed,
//!   added or removed is refused at open ([`StoreError::Tampered`]).
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

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase as _, ReadableTable, TableDefinition};

use super::freshness::Freshness;
use super::header::{self, Header, CURRENT_FORMAT};
use super::index::INDEX_ID;
use super::ledger::{Ledger, Rows, Staged};
use super::opening::{Found, Locked, Unsealed};
use super::root::{is_legacy, RootKey, Unsealing};
use super::seal::Sealer;
use super::{Change, Records, Storage, StoreError, Table};
use crate::platform::Platform;
use quietly::quietly;

/// The database file, in the data dir.
pub const FILE_NAME: &str = "keys.redb";
/// redb's page cache.
const CACHE_BYTES: usize = 4 << 20;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
const POLICIES: TableDefinition<&str, &[u8]> = TableDefinition::new("policies");
const SECRETS: TableDefinition<&str, &[u8]> = TableDefinition::new("secrets");
fn def(table: Table) -> TableDefinition<'static, &'static str, &'static [u8]> {
    match table {
        Table::Meta => META,
        Table::Keys => KEYS,
        Table::Tokens => TOKENS,
        Table::Policies => POLICIES,
        Table::Secrets => SECRETS,
    }
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

/// An opened store; holds the sealing key.
pub struct RedbStore {
    db: Database,
    ledger: Ledger,
    platform: Arc<dyn Platform>,
}

impl RedbStore {
    /// What this store and the audit log vouch for each other.
    pub fn freshness(&self) -> Arc<Freshness> {
        self.ledger.freshness()
    }

    fn new(db: Database, sealer: Sealer, platform: &Arc<dyn Platform>) -> Self {
        Self {
            db,
            ledger: Ledger::new(sealer, true),
            platform: platform.clone(),
        }
    }

    fn load(&mut self) -> Result<Records, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let mut raw = Rows::new();
        for table in Table::ALL {
            let t = tx.open_table(def(table)).map_err(db_err)?;
            for item in t.iter().map_err(db_err)? {
                let (k, v) = item.map_err(db_err)?;
                raw.insert((table, k.value().to_string()), v.value().to_vec());
            }
        }
        self.ledger.load(raw)
    }

    /// Writes `changes`; with `sealed_root`, also every bucket and the
    /// header of a store now sealed under that root key (the sealer's).
    /// With `check`, each change's expected version must be the record's.
    fn write_all(
        &mut self,
        changes: &[Change],
        sealed_root: Option<&[u8]>,
        check: bool,
    ) -> Result<u64, StoreError> {
        let staged = self.ledger.stage(changes, sealed_root.is_some(), check)?;
        match self.commit(&staged, sealed_root) {
            Ok(()) => {
                let version = staged.version;
                self.ledger.committed(staged);
                Ok(version)
            }
            Err(e) => {
                self.ledger.abort(staged);
                Err(e)
            }
        }
    }

    fn commit(&self, staged: &Staged, sealed_root: Option<&[u8]>) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut meta = tx.open_table(META).map_err(db_err)?;
            let mut keys = tx.open_table(KEYS).map_err(db_err)?;
            let mut tokens = tx.open_table(TOKENS).map_err(db_err)?;
            let mut policies = tx.open_table(POLICIES).map_err(db_err)?;
            let mut secrets = tx.open_table(SECRETS).map_err(db_err)?;
            for (table, id, value) in &staged.rows {
                let t = match table {
                    Table::Meta => &mut meta,
                    Table::Keys => &mut keys,
                    Table::Tokens => &mut tokens,
                    Table::Policies => &mut policies,
                    Table::Secrets => &mut secrets,
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
            if let Some(sealed_root) = sealed_root {
                let svn = self.platform.identity().security_version;
                header::write_root(&tx, svn, self.ledger.sealer().check_word(), sealed_root)?;
            }
        }
        // Immediate durability (redb's default): fsync before returning.
        tx.commit().map_err(db_err)
    }
}

impl Storage for RedbStore {
    fn write(&mut self, changes: &[Change]) -> Result<u64, StoreError> {
        self.write_all(changes, None, true)
    }

    fn set_recovery(&mut self, recovery: &[u8]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        header::write_recovery(&tx, recovery)?;
        tx.commit().map_err(db_err)
    }
}

mod quietly;
mod upgrade;

impl RedbStore {
    /// Opens `data_dir/keys.redb` on the machine that sealed it (or a new
    /// one); a store this CPU cannot unseal is an error here
    /// ([`StoreError::ForeignKey`]). See [`RedbStore::open_or_sealed`].
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn open(
        platform: &Arc<dyn Platform>,
        data_dir: &Path,
    ) -> Result<(Self, Records), StoreError> {
        let path = data_dir.join(FILE_NAME);
        match Self::open_file(platform, &path, false)? {
            RedbFound::Ready(o) => Ok((o.store, o.records)),
            RedbFound::Sealed(_) => Err(StoreError::ForeignKey(path.display().to_string())),
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
        let found = quietly(|| Self::open_file(platform, &path, newer_is_sealed)).unwrap_or_else(
            |panic| {
                Err(StoreError::Corrupt {
                    path: path.display().to_string(),
                    detail: panic.0,
                })
            },
        )?;
        Ok(match found {
            RedbFound::Ready(opened) => Found::Ready(opened.unsealed()),
            RedbFound::Sealed(sealed) => Found::Sealed(Box::new(sealed)),
        })
    }

    fn open_file(
        platform: &Arc<dyn Platform>,
        path: &Path,
        newer_is_sealed: bool,
    ) -> Result<RedbFound, StoreError> {
        let ours = platform.identity().security_version;
        let db = match create(path) {
            Err(redb::DatabaseError::UpgradeRequired(2)) => {
                let rows = upgrade::from_format_2(path)?;
                tracing::info!(
                    "upgraded {} to redb's file format 3 ({rows} rows copied as they were)",
                    path.display()
                );
                create(path)
            }
            opened => opened,
        }
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
            let (root, damaged) = match &header.sealed_root {
                Some(sealed) if !newer => {
                    match RootKey::unseal_or_why(platform, sealed_at, sealed)? {
                        Unsealing::Opened(root) => (Some(root), None),
                        Unsealing::Foreign => (None, None),
                        Unsealing::Damaged(why) => (None, Some(why)),
                    }
                }
                // Sealed by a newer enclave: whoever gives the root key decides.
                Some(_) => (None, None),
                // Written with the format in one transaction: not lost but damaged.
                None => (None, Some("table `root` has no sealed root key".into())),
            };
            // A root key sealed by an older build is re-sealed with its
            // check value, or at our newer security version.
            let reseal = sealed_at < ours || header.sealed_root.as_deref().is_some_and(is_legacy);
            let sealed = RedbSealed {
                db,
                platform: platform.clone(),
                path: shown_path,
                check: header.seal_check,
                recovery: header.recovery,
                damaged,
            };
            return match root {
                Some(root) => sealed.open_with(root, reseal).map(RedbFound::Ready),
                None => Ok(RedbFound::Sealed(sealed)),
            };
        }
        // Format 1 (or new): records sealed under the CPU's key. Migrate
        // them to a new root key, in one transaction.
        let root = RootKey::generate(platform.as_ref())?;
        let sealer = if empty {
            Sealer::from_root(platform, &root)?
        } else {
            let legacy = Sealer::legacy(platform, sealed_at)?;
            if header.seal_check.is_some_and(|c| c != legacy.check_word()) {
                return Err(StoreError::ForeignKey(shown_path));
            }
            legacy
        };
        let mut store = Self::new(db, sealer, platform);
        let records = store.load()?;
        store.ledger.set_sealer(Sealer::from_root(platform, &root)?);
        let sealed_root = root.seal(platform)?;
        let changes: Vec<Change> = records
            .iter()
            .map(|((table, id), plain)| Change {
                table: *table,
                id: id.clone(),
                value: Some(plain.clone()),
                expected: 0,
            })
            .collect();
        store.write_all(&changes, Some(&sealed_root), false)?;
        if !empty {
            tracing::info!(
                "migrated {shown_path} to format {CURRENT_FORMAT}: its records are now sealed under a root key of its own"
            );
        }
        Ok(RedbFound::Ready(Opened {
            store,
            records,
            root,
            recovery: header.recovery,
        }))
    }
}

/// Opens (or makes) the file as redb reads it now (format 3).
fn create(path: &Path) -> Result<Database, redb::DatabaseError> {
    // Every record lives unsealed in memory above us, so redb's page
    // cache only saves re-reading B-tree pages when writing: a small
    // cache, not redb's default 1 GiB (an enclave's memory is small).
    // With the two-level index a commit touches few pages.
    redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path)
}

/// What opening the file found.
enum RedbFound {
    Ready(Opened),
    Sealed(RedbSealed),
}

/// An open store, and what it was opened with.
struct Opened {
    store: RedbStore,
    records: Records,
    root: RootKey,
    recovery: Option<Vec<u8>>,
}

impl Opened {
    fn unsealed(self) -> Unsealed {
        Unsealed {
            freshness: self.store.freshness(),
            versions: self.store.ledger.versions(),
            store: Box::new(self.store),
            records: self.records,
            root: self.root,
            recovery: self.recovery,
        }
    }
}

/// A store whose root key this CPU cannot unseal.
pub struct RedbSealed {
    db: Database,
    platform: Arc<dyn Platform>,
    path: String,
    check: Option<u64>,
    recovery: Option<Vec<u8>>,
    /// Why the root key does not open, if it is damaged rather than
    /// another CPU's.
    damaged: Option<String>,
}

impl Locked for RedbSealed {
    fn recovery(&self) -> Option<&[u8]> {
        self.recovery.as_deref()
    }

    fn damaged(&self) -> Option<String> {
        self.damaged
            .as_ref()
            .map(|why| format!("the root key sealed in {} is damaged: {why}", self.path))
    }

    fn is_root(&self, root: &RootKey) -> Result<bool, StoreError> {
        let sealer = Sealer::from_root(&self.platform, root)?;
        Ok(self.check == Some(sealer.check_word()))
    }

    fn unseal(self: Box<Self>, root: RootKey) -> Result<Unsealed, StoreError> {
        if !self.is_root(&root)? {
            return Err(StoreError::WrongRootKey(self.path));
        }
        self.open_with(root, true).map(Opened::unsealed)
    }
}

impl RedbSealed {
    /// Opens with `root`; with `reseal`, first records it sealed under this
    /// CPU at our security version.
    fn open_with(self, root: RootKey, reseal: bool) -> Result<Opened, StoreError> {
        let sealer = Sealer::from_root(&self.platform, &root)?;
        if self.check != Some(sealer.check_word()) {
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
            header::write_root(&tx, svn, store.ledger.sealer().check_word(), &sealed_root)?;
            tx.commit().map_err(db_err)?;
        }
        Ok(Opened {
            store,
            records,
            root,
            recovery: self.recovery,
        })
    }
}

#[cfg(test)]
mod tests;
