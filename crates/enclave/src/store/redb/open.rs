//! Opening `keys.redb`: the header first, then the root key (unsealed by
//! this CPU, or waited for), then every record; a store of format 1 is
//! migrated here.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableTable};

use super::{check_word, db_err, def, quietly, RedbStore, CACHE_BYTES, FILE_NAME, INDEX_ID, META};
use crate::platform::Platform;
use crate::store::header::{self, Header, CURRENT_FORMAT};
use crate::store::root::RootKey;
use crate::store::seal::Sealer;
use crate::store::{Records, StoreError, Table};

impl RedbStore {
    /// Opens `data_dir/keys.redb` on the machine that sealed it (or a new
    /// one); a store this CPU cannot unseal is an error here
    /// ([`StoreError::ForeignKey`]). See [`RedbStore::open_or_sealed`].
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn open(
        platform: &Arc<dyn Platform>,
        data_dir: &Path,
    ) -> Result<(Self, Records), StoreError> {
        match Self::open_or_sealed(platform, data_dir)? {
            Opened::Ready(u) => Ok((u.store, u.records)),
            Opened::Sealed(s) => Err(StoreError::ForeignKey(s.path)),
        }
    }

    /// Opens (creating if needed) `data_dir/keys.redb`, unseals every record
    /// and checks it against the index; or, if this CPU cannot unseal the
    /// root key, a sealed store waiting for it. A file redb cannot read is
    /// [`StoreError::Corrupt`].
    pub fn open_or_sealed(
        platform: &Arc<dyn Platform>,
        data_dir: &Path,
    ) -> Result<Opened, StoreError> {
        let path = data_dir.join(FILE_NAME);
        quietly(|| Self::open_file(platform, &path)).unwrap_or_else(|panic| {
            Err(StoreError::Corrupt {
                path: path.display().to_string(),
                detail: panic,
            })
        })
    }

    fn open_file(platform: &Arc<dyn Platform>, path: &Path) -> Result<Opened, StoreError> {
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
        let sealed_at = match header.seal_svn.map(u16::try_from) {
            None => ours,
            Some(Ok(svn)) if svn <= ours => svn,
            Some(_) => {
                return Err(StoreError::Downgrade {
                    sealed_at: header.seal_svn.unwrap_or_default(),
                    ours,
                })
            }
        };
        let shown_path = path.display().to_string();
        if header.format >= CURRENT_FORMAT {
            let root = match &header.sealed_root {
                Some(sealed) => RootKey::unseal(platform, sealed_at, sealed)?,
                None => None,
            };
            let sealed = SealedStore {
                db,
                platform: platform.clone(),
                path: shown_path,
                check: header.seal_check,
                recovery: header.recovery,
            };
            return match root {
                Some(root) => sealed.open_with(root, sealed_at < ours).map(Opened::Ready),
                None => Ok(Opened::Sealed(sealed)),
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
        Ok(Opened::Ready(Unsealed {
            store,
            records,
            root,
            recovery: header.recovery,
        }))
    }
}

/// What opening found.
pub enum Opened {
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
