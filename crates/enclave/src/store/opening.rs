//! What opening a store finds, whatever its backend: an open store, or
//! one whose root key this CPU cannot unseal, waiting for it (recovery
//! shares or an attested join).

use std::sync::Arc;

use super::freshness::Freshness;
use super::root::RootKey;
use super::{Records, Storage, StoreError, Versions};

/// An open store, and what it was opened with.
pub struct Unsealed {
    pub store: Box<dyn Storage>,
    /// What the store and the audit log vouch for each other.
    pub freshness: Arc<Freshness>,
    pub records: Records,
    /// The version of every record in `records`.
    pub versions: Versions,
    pub root: RootKey,
    /// The public recovery facts, if shares were made.
    pub recovery: Option<Vec<u8>>,
}

/// What opening a store found.
pub enum Found {
    Ready(Unsealed),
    /// This CPU cannot unseal the root key: recovery shares or a peer must
    /// give it.
    Sealed(Box<dyn Locked>),
}

/// A store whose root key this CPU cannot unseal, waiting for it.
pub trait Locked: Send + 'static {
    /// The public recovery facts, if shares were made.
    fn recovery(&self) -> Option<&[u8]>;
    /// Whether `root` is this store's root key (its record key's check
    /// value is the stored one).
    fn is_root(&self, root: &RootKey) -> Result<bool, StoreError>;
    /// Opens the store with its root key, which is then sealed under this
    /// CPU (so the next start opens by itself).
    fn unseal(self: Box<Self>, root: RootKey) -> Result<Unsealed, StoreError>;
    /// Why the root key sealed beside the store does not open, when it is
    /// damaged (not sealed by another CPU): the file and the cause.
    fn damaged(&self) -> Option<String> {
        None
    }
    /// Whether other servers share this store (a database), as
    /// [`super::Storage::is_shared`].
    fn is_shared(&self) -> bool {
        false
    }
}
