//! What the state holds in memory, and how a record read from the store
//! (at open, or delivered later from another replica's write) becomes
//! part of it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::acl::{self, Access};
use super::key::Key;
use super::kv::Secret;
use super::params::Params;
use super::policies::{NamedPolicy, Policies};
use super::tokens::{self, TokenRecord, Tokens};
use crate::error::Error;
use crate::store::recovery::RecoveryInfo;
use crate::store::{Delivered, Table, Versions};

/// A sealed record that does not read as what its table holds, named
/// `table/id`.
#[derive(Debug, thiserror::Error)]
#[error("sealed record {0} is not readable")]
pub struct Unreadable(pub String);

/// The meta record of what init made: the root token's hash, and the
/// recovery shares' public facts.
pub const INIT_ID: &str = "init";

#[derive(serde::Serialize, serde::Deserialize)]
pub struct InitRecord {
    pub root_token_sha256: String,
    /// Sealed here, so that removing the unsealed copy beside the store
    /// cannot make the store forget that shares were made (absent in
    /// records written before; [`super::State::reconcile_recovery`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryInfo>,
    /// Whether `recovery` is the whole truth (`None`: no shares). False in
    /// init records of builds that kept the facts only unsealed.
    #[serde(default)]
    pub recovery_sealed: bool,
}

/// Every record of the store, unsealed, in the form requests use.
pub struct Inner {
    /// Records being written.
    pub busy: BTreeSet<(Table, String)>,
    pub keys: BTreeMap<String, Arc<Key>>,
    /// The KV engine's secrets, by path.
    pub secrets: BTreeMap<String, Arc<Secret>>,
    /// SHA-256 of the root token, once initialised.
    pub root_hash: Option<[u8; 32]>,
    /// The public facts of the recovery shares, if any were made (sealed
    /// in the init record).
    pub recovery: Option<RecoveryInfo>,
    /// Whether the init record holds the recovery facts (false: written
    /// by an older build, migrated at open).
    pub recovery_sealed: bool,
    /// Sealed singletons of the meta table other than `init` (the import
    /// wrapping key, the TLS CA, ...), by id.
    pub meta: BTreeMap<String, Zeroizing<Vec<u8>>>,
    /// Tokens other than root, by accessor.
    pub tokens: Tokens,
    /// ACL policies by name; `default` always (built in until rewritten).
    pub policies: Policies,
    /// The version of every record, as last read or written.
    pub versions: Versions,
    /// Records another replica changed while ours were being written:
    /// applied once our write is (if still newer).
    pub deferred: Vec<Delivered>,
}

impl Inner {
    /// Nothing yet but the built-in `default` policy.
    pub fn empty(versions: Versions) -> Result<Self, Unreadable> {
        let mut inner = Self {
            busy: BTreeSet::new(),
            keys: BTreeMap::new(),
            secrets: BTreeMap::new(),
            root_hash: None,
            recovery: None,
            recovery_sealed: false,
            meta: BTreeMap::new(),
            tokens: Tokens::default(),
            policies: Policies::default(),
            versions,
            deferred: Vec::new(),
        };
        inner.default_policy()?;
        Ok(inner)
    }

    /// The built-in `default` policy, unless one is stored.
    fn default_policy(&mut self) -> Result<(), Unreadable> {
        if !self.policies.contains("default") {
            let policy = NamedPolicy::parse(acl::DEFAULT_POLICY.to_string())
                .map_err(|_| Unreadable("the built-in default policy".into()))?;
            self.policies.insert("default".to_string(), policy);
        }
        Ok(())
    }

    /// Takes in record `table/id` as `plain` (`None`: removed). The error
    /// names the record that does not read.
    pub fn apply(
        &mut self,
        table: Table,
        id: &str,
        plain: Option<&[u8]>,
    ) -> Result<(), Unreadable> {
        let unreadable = || Unreadable(format!("{}/{id}", table.name()));
        let Some(plain) = plain else {
            match table {
                Table::Keys => drop(self.keys.remove(id)),
                Table::Secrets => drop(self.secrets.remove(id)),
                Table::Meta if id == INIT_ID => {
                    self.root_hash = None;
                    self.recovery = None;
                    self.recovery_sealed = false;
                }
                Table::Meta => drop(self.meta.remove(id)),
                Table::Tokens => self.tokens.remove(id),
                Table::Policies => {
                    self.policies.remove(id);
                    self.default_policy()?;
                }
            }
            return Ok(());
        };
        match table {
            Table::Keys => {
                let key: Key = serde_json::from_slice(plain).map_err(|_| unreadable())?;
                self.keys.insert(id.to_string(), Arc::new(key));
            }
            Table::Secrets => {
                let secret: Secret = serde_json::from_slice(plain).map_err(|_| unreadable())?;
                self.secrets.insert(id.to_string(), Arc::new(secret));
            }
            Table::Meta if id == INIT_ID => {
                let init: InitRecord = serde_json::from_slice(plain).map_err(|_| unreadable())?;
                let mut h = [0u8; 32];
                hex::decode_to_slice(&init.root_token_sha256, &mut h).map_err(|_| unreadable())?;
                self.root_hash = Some(h);
                self.recovery = init.recovery;
                self.recovery_sealed = init.recovery_sealed;
            }
            Table::Meta => {
                self.meta
                    .insert(id.to_string(), Zeroizing::new(plain.to_vec()));
            }
            Table::Tokens => {
                let rec: TokenRecord = serde_json::from_slice(plain).map_err(|_| unreadable())?;
                self.tokens.insert(id.to_string(), rec);
            }
            Table::Policies => {
                let text = String::from_utf8(plain.to_vec()).map_err(|_| unreadable())?;
                let policy = NamedPolicy::parse(text).map_err(|_| unreadable())?;
                self.policies.insert(id.to_string(), policy);
            }
        }
        Ok(())
    }

    /// Takes in a record another replica wrote, unless we hold a newer
    /// one; a record being written here waits in `deferred`.
    pub fn deliver(&mut self, d: Delivered) -> Result<(), Error> {
        if self.busy.contains(&(d.table, d.id.clone())) {
            self.deferred.push(d);
            return Ok(());
        }
        if !self.versions.is_newer(d.table, &d.id, d.version) {
            return Ok(());
        }
        self.apply(d.table, &d.id, d.value.as_deref().map(|v| v.as_slice()))
            .map_err(|what| Error::internal("reading another replica's record", what))?;
        self.versions
            .saw(d.table, &d.id, d.version, d.value.is_some());
        Ok(())
    }

    /// Delivers what waited for `table/id` to be written here.
    pub fn deliver_deferred(&mut self, table: Table, id: &str) -> Result<(), Error> {
        let (ours, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|d| d.table == table && d.id == id);
        self.deferred = others;
        ours.into_iter().try_for_each(|d| self.deliver(d))
    }

    pub fn is_root(&self, hash: &[u8; 32]) -> bool {
        self.root_hash.is_some_and(|root| {
            aws_lc_rs::constant_time::verify_slices_are_equal(hash, &root).is_ok()
        })
    }

    /// Whether the policies of live token `rec` grant `op` on `path`; if
    /// so, the parameter constraints the request's body must meet. A list
    /// (`transit/keys/`) is decided first by the rules for the path
    /// without its trailing slash, as Vault does, if any matches it.
    pub fn grants(&self, rec: &TokenRecord, path: &str, op: Access) -> Result<Params, Error> {
        let needed = match (op, path.strip_prefix("secret/data/")) {
            // A KV write creates the secret or updates it, as in Vault.
            (Access::Write, Some(secret)) if !self.secrets.contains_key(secret) => acl::Cap::Create,
            (Access::Write, Some(_)) => acl::Cap::Update,
            _ => tokens::needed(op, path, |name| self.keys.contains_key(name)),
        };
        let mut permissions = self.policies.permissions(&rec.policies, path);
        if let (Access::List, Some(bare)) = (op, path.strip_suffix('/')) {
            if let Some((caps, params)) = self.policies.permissions(&rec.policies, bare) {
                if caps != 0 {
                    permissions = Some((caps, params));
                }
            }
        }
        match permissions {
            None => Ok(Params::default()),
            Some((caps, _)) if caps & needed as u8 == 0 => Err(Error::Denied),
            Some((_, params)) => Ok(params),
        }
    }
}
