//! A PostgreSQL database shared by several replicas (`kms-host run
//! --storage postgres://…`): every replica serves every request from its
//! own memory, writes through the database, and catches up with the
//! others' writes before each request ([`crate::state`]).
//!
//! What the database holds (the host and the database's operator see all
//! of it):
//! - `minikms_header (name, value)`, not sealed: `format` (2),
//!   `seal_check` (the first 8 bytes, little-endian, of the record key's
//!   check value, [`super::seal`]) and `recovery` (a copy of the public
//!   facts about the recovery shares, which the sealed init record holds:
//!   written again when removed or edited). An edit of the others can
//!   only make replicas refuse to open.
//! - `minikms_records (tbl, id, version, sealed)`: every record sealed as
//!   in `keys.redb` (AES-256-GCM under the root key, associated data
//!   binding table, id and version), with the [`super::ledger`]'s sealed
//!   index among them. In the clear: the table names, the ids (key names,
//!   token accessors, policy names, `index.XX`), the versions (what
//!   replicas catch up by) and the sealed records' sizes.
//!
//! The root key is never in the database: each replica keeps it sealed
//! under its own CPU in its data dir ([`local_root`]); a replica without
//! it starts sealed, and gets it from recovery shares or an attested join.
//! Beside it, each replica keeps the highest store generation it has
//! seen ([`high_water`]), and refuses a database behind it.
//!
//! Writes: one transaction per group commit, in two round trips. The
//! first locks the header's `seal_check` row (so writers take turns and
//! versions follow commit order) and reads what other replicas committed
//! since (checked against the index); the write is refused if a record it
//! changes is not at the version it was decided on
//! ([`StoreError::Conflict`]); the second writes the records, the index
//! buckets and the index root, and commits. The commit is PostgreSQL's
//! (durable once it returns, with the server's default
//! `synchronous_commit`).
//!
//! The `postgres` client blocks on a runtime of its own, so database work
//! runs on threads of this store's ([`worker`]): one for setup and writes
//! ([`session`]), and one per catch-up round in flight ([`follower`]), so
//! that rounds overlap and do not wait for writes.

mod conn;
mod follower;
mod high_water;
mod local_root;
mod session;
mod worker;

pub use follower::ANSWER_WITHIN;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use super::freshness::Freshness;
use super::opening::{Found, Locked, Unsealed};
use super::root::RootKey;
use super::seal::Sealer;
use super::{Change, Delivered, Follower, Storage, StoreError};
use crate::platform::Platform;
use follower::{Known, PgFollower};
use high_water::HighWater;
use session::Session;
use worker::Worker;

/// An open store in a PostgreSQL database.
pub struct PgStore {
    db: Worker<Session>,
    follower: Arc<PgFollower>,
    high_water: Arc<HighWater>,
    freshness: Arc<Freshness>,
}

impl Storage for PgStore {
    fn write(&mut self, changes: &[Change]) -> Result<u64, StoreError> {
        if changes.is_empty() {
            // Nothing to write but what the store vouches for (at open and
            // at a clean stop): here, the high-water mark.
            self.high_water.advance(self.freshness.generation())?;
        }
        let changes: Vec<Change> = changes
            .iter()
            .map(|c| Change {
                table: c.table,
                id: c.id.clone(),
                value: c.value.clone(),
                expected: c.expected,
            })
            .collect();
        self.db.call(move |s| s.write(&changes))?
    }

    fn set_recovery(&mut self, recovery: &[u8]) -> Result<(), StoreError> {
        let recovery = recovery.to_vec();
        self.db.call(move |s| s.set_recovery(&recovery))?
    }

    fn catch_up(&mut self) -> Result<Vec<Delivered>, StoreError> {
        self.db.call(|s| s.catch_up())?
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn follower(&self) -> Option<Arc<dyn Follower>> {
        Some(self.follower.clone())
    }
}

/// The database named by a `postgres://` URL, as messages show it
/// (without a password).
fn shown(config: &postgres::Config) -> String {
    let user = config.get_user().unwrap_or("");
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{db}")
}

/// Opens the store in the database at `url` (creating its tables if
/// needed) with the root key this machine keeps in `data_dir`; or, if it
/// keeps none that opens, a sealed store waiting for it. An empty
/// database is initialised with a new root key, unless `data_dir` holds
/// the root key of another one. A root key sealed at a higher security
/// version than ours is [`StoreError::Downgrade`], or, with
/// `newer_is_sealed`, a sealed store.
pub fn open_or_sealed(
    platform: &Arc<dyn Platform>,
    url: &str,
    data_dir: &Path,
    newer_is_sealed: bool,
) -> Result<Found, StoreError> {
    let mut config = postgres::Config::from_str(url).map_err(|e| {
        StoreError::Database(format!(
            "--storage is not a PostgreSQL URL (postgres://USER@HOST:PORT/DB): {e}"
        ))
    })?;
    config.connect_timeout(ANSWER_WITHIN);
    // A database cut off (packets lost) breaks the connection in bounded
    // time, not after the kernel's retransmissions (minutes).
    config.tcp_user_timeout(2 * ANSWER_WITHIN);
    config.keepalives_idle(ANSWER_WITHIN);
    config.application_name("minikms");
    let db_shown = shown(&config);
    let ours = platform.identity().security_version;
    let local = local_root::read(data_dir, local_root::FILE_NAME)?;
    let root = match &local {
        Some(l) if l.svn > ours && newer_is_sealed => None,
        Some(l) if l.svn > ours => {
            return Err(StoreError::Downgrade {
                sealed_at: u64::from(l.svn),
                ours,
            })
        }
        Some(l) => RootKey::unseal(platform, l.svn, &l.sealed)?,
        None => None,
    };
    let fresh = RootKey::generate(platform.as_ref())?;
    let fresh_check = Sealer::from_root(platform, &fresh)?.check_word();
    let known = Arc::new(Known::default());
    let follower = Arc::new(PgFollower::new(
        known.clone(),
        config.clone(),
        db_shown.clone(),
    ));
    let session = Session::new(config, db_shown.clone(), known);
    let db = Worker::spawn("minikms-postgres", session)?;
    let may_create = local.is_none();
    let header = db.call(move |s| s.prepare(may_create.then_some(fresh_check)))??;
    let store = Opening {
        db,
        follower,
        platform: platform.clone(),
        data_dir: data_dir.to_path_buf(),
        shown: db_shown,
        check: header.check,
        recovery: header.recovery,
    };
    if header.created {
        return store.open_with(fresh, true).map(Found::Ready);
    }
    match root {
        Some(root) if store.is_root(&root)? => {
            let reseal = local.is_some_and(|l| l.svn < ours);
            store.open_with(root, reseal).map(Found::Ready)
        }
        Some(_) => Err(StoreError::ForeignKey(format!(
            "{} (the root key in {} is another database's)",
            store.shown,
            data_dir.display()
        ))),
        None => Ok(Found::Sealed(Box::new(store))),
    }
}

/// A database being opened, or waiting (sealed) for its root key.
struct Opening {
    db: Worker<Session>,
    follower: Arc<PgFollower>,
    platform: Arc<dyn Platform>,
    data_dir: PathBuf,
    shown: String,
    check: u64,
    recovery: Option<Vec<u8>>,
}

impl Opening {
    /// Opens with `root`; with `keep`, first keeps it sealed under this
    /// CPU in the data dir (so the next start opens by itself).
    fn open_with(self, root: RootKey, keep: bool) -> Result<Unsealed, StoreError> {
        let sealer = Sealer::from_root(&self.platform, &root)?;
        if keep {
            let svn = self.platform.identity().security_version;
            local_root::write(
                &self.data_dir,
                local_root::FILE_NAME,
                svn,
                &root.seal(&self.platform)?,
            )?;
        }
        let (records, versions, freshness) = self.db.call(move |s| s.load(sealer))??;
        let generation = freshness.generation();
        let high_water = HighWater::open(
            &self.platform,
            &self.data_dir,
            self.check,
            generation,
            &self.shown,
        )?;
        high_water.keep(&freshness)?;
        Ok(Unsealed {
            store: Box::new(PgStore {
                db: self.db,
                follower: self.follower,
                high_water,
                freshness: freshness.clone(),
            }),
            freshness,
            records,
            versions,
            root,
            recovery: self.recovery,
        })
    }
}

impl Locked for Opening {
    fn recovery(&self) -> Option<&[u8]> {
        self.recovery.as_deref()
    }

    fn is_root(&self, root: &RootKey) -> Result<bool, StoreError> {
        Ok(Sealer::from_root(&self.platform, root)?.check_word() == self.check)
    }

    fn unseal(self: Box<Self>, root: RootKey) -> Result<Unsealed, StoreError> {
        if !self.is_root(&root)? {
            return Err(StoreError::WrongRootKey(self.shown));
        }
        self.open_with(root, true)
    }

    fn is_shared(&self) -> bool {
        true
    }
}
