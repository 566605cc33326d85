//! The enclave's sealed state, and its one owner: [`State`] holds every
//! managed key, token, policy and sealed singleton (the root token's hash,
//! the import wrapping key, the TLS CA, the audit key) in memory, and
//! writes every change through the store before anyone sees it.
//!
//! - [`key`]: the managed-key model; [`kv`]: the KV engine's secrets
//!   ([`secrets`]: their reads and writes).
//! - [`tokens`]: token records, the root token, and the decision whether a
//!   token may do something ([`State::authorize`]).
//! - [`acl`]: ACL policies (Vault's HCL path form) and how they match;
//!   [`params`]: their parameter constraints.
//! - [`policies`]: named policies as stored.
//! - [`roles`]: the roles of the attested login, and its tokens.
//! - [`inner`]: what is held in memory, and how a record becomes part of it.
//! - [`follow`]: catching up with other replicas before a request.
//! - [`owner`]: [`State`] itself: opening, catching up, and writing keys
//!   and sealed singletons; [`access`]: its token and policy side.
//!
//! Writes are durable before they are visible: a change is prepared under
//! the lock, written (group commit, see [`crate::store::group`]) without
//! holding it, and applied in memory once on disk. Meanwhile its record is
//! busy: another writer of the same record waits, readers see the old
//! state, and writers of other records go on (and share the fsync).
//!
//! A store shared by replicas ([`crate::store::postgres`]) also changes
//! under us: every request first catches up ([`State::caught_up`]), and
//! every write says which version of its record it was decided on. If
//! another replica wrote that record meanwhile, the write is refused
//! whole; we catch up and decide again, so no write is lost.

pub mod access;
pub mod acl;
pub mod follow;
pub mod hcl1;
pub mod inner;
pub mod key;
pub mod kv;
pub mod owner;
pub mod params;
pub mod policies;
pub mod roles;
pub mod secrets;
pub mod tokens;

pub use owner::State;
