//! The sealed, crash-safe record store, behind one trait.
//!
//! - [`Storage`]: what every backend does: write (or remove) sealed records
//!   in one durable transaction. Opening is the backend's own (it returns
//!   every record, unsealed and checked).
//! - [`redb`]: the embedded default, one file `keys.redb` in the data dir.
//! - [`postgres`]: a PostgreSQL database shared by several replicas.
//! - [`opening`]: what opening a store finds: open, or sealed and waiting
//!   for its root key.
//! - [`ledger`] and [`index`]: the sealed index every backend keeps beside
//!   its records, which makes an edited, swapped, replayed or removed
//!   record seen, and tells a replica what other replicas changed.
//! - [`seal`]: the record format: AES-256-GCM under a key derived from the
//!   store's root key, with table, id and version as associated data.
//! - [`root`]: the root key, kept sealed under the CPU's sealing key;
//!   [`recovery`]: the root key split into recovery shares and rebuilt
//!   from them.
//! - [`header`]: what is read before any record: format, sealed root key.
//! - [`group`]: group commit: concurrent writers share one transaction.
//! - [`freshness`]: what the store and the audit log vouch for each other.
//!
//! The host can read and write whatever a backend stores; it only ever sees
//! sealed records.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

pub mod freshness;
pub mod group;
pub mod header;
pub mod index;
pub mod ledger;
pub mod opening;
pub mod postgres;
pub mod recovery;
pub mod redb;
pub mod root;
pub mod seal;

/// A store backend: writes records durably. Implementations keep the
/// records sealed and refuse, at open, anything the host changed.
pub trait Storage: Send + 'static {
    /// Writes (or, with `None`, removes) records in one durable
    /// transaction: when this returns `Ok`, the change is on disk, and the
    /// answer is the store's generation that holds it. A change whose
    /// `expected` version is not the record's current one (another replica
    /// wrote it meanwhile) fails the whole write with
    /// [`StoreError::Conflict`], and nothing is written.
    fn write(&mut self, changes: &[Change]) -> Result<u64, StoreError>;
    /// Replaces the unsealed copy of the public facts about the recovery
    /// shares (a sealed server must read them; the sealed init record
    /// decides, [`crate::state::State::reconcile_recovery`]).
    fn set_recovery(&mut self, recovery: &[u8]) -> Result<(), StoreError>;
    /// What other writers (replicas sharing the store) committed since
    /// this one last looked, checked against the sealed index. A store of
    /// one server has none.
    fn catch_up(&mut self) -> Result<Vec<Delivered>, StoreError> {
        Ok(Vec::new())
    }
    /// Whether other servers write to this store too (then every request
    /// first catches up).
    fn is_shared(&self) -> bool {
        false
    }
    /// Catching up outside this store's lock, several rounds at once (a
    /// store shared by replicas); `None`: [`Self::catch_up`] only.
    fn follower(&self) -> Option<std::sync::Arc<dyn Follower>> {
        None
    }
}

/// Catching up in rounds that overlap: [`Self::fetch`] runs on several
/// threads at once (each on a connection of its own), and
/// [`Self::take_in`] checks each fetch against the sealed index, in any
/// order: a fetch older than what is already known delivers nothing.
pub trait Follower: Send + Sync {
    /// Reads what the database holds newer than what we know.
    fn fetch(&self) -> Result<Fetched, StoreError>;
    /// What other writers committed, as of `fetched`.
    fn take_in(&self, fetched: Fetched) -> Result<Vec<Delivered>, StoreError>;
}

/// Rows read by a [`Follower`]: the generation known when the read was
/// sent, and each row's table, id, version column and sealed value.
pub struct Fetched {
    pub since: u64,
    pub rows: Vec<(Table, String, u64, Vec<u8>)>,
}

/// One record to write (`value`), or to remove (`None`), if its current
/// version is still `expected` (0: there is none).
pub struct Change {
    pub table: Table,
    pub id: String,
    pub value: Option<Zeroizing<Vec<u8>>>,
    pub expected: u64,
}

/// A record another writer changed (`value`) or removed (`None`), at
/// `version`.
pub struct Delivered {
    pub table: Table,
    pub id: String,
    pub version: u64,
    pub value: Option<Zeroizing<Vec<u8>>>,
}

/// The version of every record as its holder last saw it. A removed
/// record keeps the version of its removal, so that an older copy
/// delivered late cannot bring it back.
#[derive(Debug, Default, Clone)]
pub struct Versions(BTreeMap<(Table, String), (u64, bool)>);

impl Versions {
    /// The version a write of `table/id` expects: the record's, or 0 if
    /// there is none.
    pub fn expected(&self, table: Table, id: &str) -> u64 {
        match self.0.get(&(table, id.to_string())) {
            Some(&(version, true)) => version,
            _ => 0,
        }
    }

    /// Whether `version` of `table/id` is newer than what was seen.
    pub fn is_newer(&self, table: Table, id: &str, version: u64) -> bool {
        self.0
            .get(&(table, id.to_string()))
            .is_none_or(|&(seen, _)| version > seen)
    }

    /// Records that `table/id` is at `version`, present or removed.
    pub fn saw(&mut self, table: Table, id: &str, version: u64, present: bool) {
        self.0.insert((table, id.to_string()), (version, present));
    }
}

/// The tables a caller may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    Meta,
    Keys,
    /// Tokens other than root, by accessor.
    Tokens,
    /// ACL policies, by name.
    Policies,
    /// The KV v2 engine's secrets (every version of one), by path.
    Secrets,
}

impl Table {
    /// Every table, in the order they are read at open.
    pub const ALL: [Table; 5] = [
        Table::Meta,
        Table::Keys,
        Table::Tokens,
        Table::Policies,
        Table::Secrets,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Keys => "keys",
            Table::Tokens => "tokens",
            Table::Policies => "policies",
            Table::Secrets => "secrets",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Every record's plaintext, as read and checked at open.
pub type Records = BTreeMap<(Table, String), Zeroizing<Vec<u8>>>;

/// What went wrong, by who is at fault. No variant carries secret data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The host changed, swapped, replayed or removed sealed records.
    #[error("the key store was tampered with: {0}")]
    Tampered(String),
    /// Sealed under another sealing key: another signer's enclave, or
    /// another machine (in simulation, another platform file).
    #[error("the key store {0} was sealed by another signer or on another machine: use a new --data-dir, or the original signing key and machine")]
    ForeignKey(String),
    /// The database itself (I/O).
    #[error("key store database: {0}")]
    Database(String),
    /// The shared database cannot be reached now (down, restarting): try
    /// again later.
    #[error("the key store's database is unreachable: {0}")]
    Unavailable(String),
    /// The shared database did not return rows the sealed index says
    /// changed (their `version` column was rewritten, or they were
    /// removed): this replica cannot see the others' writes.
    #[error("the key store's database hides what the other replicas wrote: {0}; this replica refuses to serve what may be stale: remove whatever rewrites minikms_records.version (a trigger?), then restart this replica")]
    Hidden(String),
    /// The shared database is older than what this replica has seen (put
    /// back from an older copy).
    #[error("the key store's database was rolled back: {0}")]
    RolledBack(String),
    /// Another replica changed a record this write was based on: catch up
    /// and decide again.
    #[error("record {0} was changed by another replica meanwhile")]
    Conflict(String),
    /// The database file is damaged (cut short, bytes changed): redb
    /// cannot read it.
    #[error("{path} is corrupt: restore it from a backup, or move it away to start with an empty store ({detail})")]
    Corrupt { path: String, detail: String },
    /// Another process has the database open.
    #[error("the key store {0} is in use by another minikms server: stop that one first, or use another --data-dir")]
    InUse(String),
    /// The platform failed us (sealing key, randomness).
    #[error("platform: {0}")]
    Platform(String),
    /// A root key (rebuilt from shares, or from a peer) that is not this
    /// store's.
    #[error("the root key given does not open the key store {0}: the shares (or the peer) belong to another store")]
    WrongRootKey(String),
    /// Sealed by a newer enclave: running an older build on it is a
    /// downgrade.
    #[error("the key store was sealed by an enclave of security version {sealed_at}; this one has {ours}: refusing to downgrade")]
    Downgrade { sealed_at: u64, ours: u16 },
}
