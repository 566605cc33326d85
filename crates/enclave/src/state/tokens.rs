//! Tokens other than root, as the state keeps them, and the decision
//! whether a token may do something.
//!
//! A token is `hvs.` and base64url of 32 random bytes, shown once at
//! creation. Only its SHA-256 is kept, sealed, in the store's `tokens`
//! table under its accessor ([`accessor`] of that hash), with its policies,
//! expiry and remaining uses. The root token's hash is kept in `meta/init`.
//!
//! - Expired tokens are refused and purged when next presented. Time comes
//!   from the host's clock ([`crate::clock`]): a host that moves the clock
//!   back extends token lifetimes (it cannot make or read tokens).
//! - `num_uses`: each request the token's policies allow uses one. The
//!   decrement is written (sealed, fsynced) before the request goes on, so
//!   a crash cannot give a use back; the last use revokes the token, and
//!   that request still runs. Refused requests use nothing.
//! - Revoking a token revokes the tokens it made, and theirs (as Vault).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::acl::{self, Access};
use super::params::Params;
use crate::error::Error;
use crate::store::group::Writer;
use crate::store::Table;

/// Most live tokens at once (every token is in the store's sealed index).
pub const MAX_TOKENS: usize = 10_000;

/// A token as stored (sealed), by accessor. Holds the token's hash only.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub token_sha256: String,
    pub policies: Vec<String>,
    pub display_name: String,
    pub meta: BTreeMap<String, String>,
    /// Unix seconds.
    pub creation_time: u64,
    pub creation_ttl: u64,
    /// Unix seconds; `None`: never (only for a parent-less record, which
    /// [`Transit::create_token`] does not make).
    pub expire_time: Option<u64>,
    /// Uses left; 0 is unlimited.
    pub num_uses: u64,
    /// The creator's accessor.
    pub parent: String,
    /// Whether `renew` may extend it (records from before renewal: no).
    #[serde(default)]
    pub renewable: bool,
    /// For a token from an attested login: SHA-256 (hex) of the workload's
    /// public key (SubjectPublicKeyInfo DER). Requests with it must come
    /// over a TLS connection whose client certificate holds that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_key: Option<String>,
}

/// Every token but root, by accessor, as the state holds them.
#[derive(Default)]
pub struct Tokens(BTreeMap<String, TokenRecord>);

impl Tokens {
    pub fn insert(&mut self, accessor: String, rec: TokenRecord) {
        self.0.insert(accessor, rec);
    }

    pub fn remove(&mut self, accessor: &str) {
        self.0.remove(accessor);
    }

    pub fn get(&self, accessor: &str) -> Option<&TokenRecord> {
        self.0.get(accessor)
    }

    pub fn accessors(&self) -> impl Iterator<Item = String> + '_ {
        self.0.keys().cloned()
    }

    pub fn contains(&self, accessor: &str) -> bool {
        self.0.contains_key(accessor)
    }

    /// The live record for `accessor`, purging it if expired.
    pub fn live(
        &mut self,
        store: &mut Writer<'_>,
        accessor: &str,
        now: u64,
    ) -> Option<TokenRecord> {
        let rec = self.0.get(accessor)?.clone();
        if rec.expire_time.is_some_and(|t| t <= now) {
            if let Err(e) = self.revoke_tree(store, accessor) {
                tracing::warn!("purging an expired token failed: {e}");
            }
            return None;
        }
        Some(rec)
    }

    /// Removes `accessor` and every token made from it, in one durable write.
    pub fn revoke_tree(&mut self, store: &mut Writer<'_>, accessor: &str) -> Result<(), Error> {
        let mut gone: BTreeSet<String> = BTreeSet::from([accessor.to_string()]);
        loop {
            let more: Vec<String> = self
                .0
                .iter()
                .filter(|(a, r)| gone.contains(&r.parent) && !gone.contains(*a))
                .map(|(a, _)| a.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            gone.extend(more);
        }
        let changes: Vec<_> = gone
            .iter()
            .filter(|a| self.0.contains_key(*a))
            .map(|a| (Table::Tokens, a.clone(), None))
            .collect();
        if !changes.is_empty() {
            store.write(changes).map_err(Error::from)?;
        }
        for a in &gone {
            self.0.remove(a);
        }
        Ok(())
    }

    /// Writes `rec` durably, then keeps it.
    pub fn write(
        &mut self,
        store: &mut Writer<'_>,
        accessor: &str,
        rec: &TokenRecord,
    ) -> Result<(), Error> {
        let bytes = serde_json::to_vec(rec).map_err(|_| Error::failed("token serialisation"))?;
        store
            .write(vec![(
                Table::Tokens,
                accessor.to_string(),
                Some(Zeroizing::new(bytes)),
            )])
            .map_err(Error::from)?;
        self.0.insert(accessor.to_string(), rec.clone());
        Ok(())
    }

    /// Renews the live token `accessor` for `increment` seconds from `now`
    /// (its creation TTL if `None`), never past `max_expiry` nor its
    /// parent's expiry; the record as now stored.
    pub fn renew(
        &mut self,
        store: &mut Writer<'_>,
        accessor: &str,
        increment: Option<u64>,
        now: u64,
        max_expiry: impl Fn(&TokenRecord) -> u64,
    ) -> Result<TokenRecord, Error> {
        let mut rec = self
            .live(store, accessor, now)
            .ok_or_else(|| Error::invalid("invalid token"))?;
        if !rec.renewable {
            return Err(Error::invalid("lease is not renewable"));
        }
        let mut expire = now
            .saturating_add(increment.unwrap_or(rec.creation_ttl))
            .min(max_expiry(&rec));
        if let Some(parent) = self.0.get(&rec.parent).and_then(|p| p.expire_time) {
            expire = expire.min(parent);
        }
        rec.expire_time = Some(expire);
        self.write(store, accessor, &rec)?;
        Ok(rec)
    }

    /// Makes room for one more token: purges expired ones if the limit is
    /// reached; refuses if that does not help.
    pub fn make_room(&mut self, store: &mut Writer<'_>, now: u64) -> Result<(), Error> {
        if self.0.len() < MAX_TOKENS {
            return Ok(());
        }
        let expired: Vec<String> = self
            .0
            .iter()
            .filter(|(_, r)| r.expire_time.is_some_and(|t| t <= now))
            .map(|(a, _)| a.clone())
            .collect();
        for a in expired {
            self.revoke_tree(store, &a)?;
        }
        if self.0.len() >= MAX_TOKENS {
            return Err(Error::invalid(format!(
                "too many tokens (limit {MAX_TOKENS}); revoke some first"
            )));
        }
        Ok(())
    }
}

/// Checks that `hash` is the hash `rec` keeps (in constant time).
pub fn check_hash(rec: &TokenRecord, hash: &[u8; 32]) -> Result<(), Error> {
    let mut stored = [0u8; 32];
    hex::decode_to_slice(&rec.token_sha256, &mut stored).map_err(|_| Error::Unauthenticated)?;
    aws_lc_rs::constant_time::verify_slices_are_equal(hash, &stored)
        .map_err(|_| Error::Unauthenticated)
}

/// The capability `op` on `path` needs: `create` for a write that would
/// make a new transit key (`key_exists` says), else as `op` says.
pub fn needed(op: Access, path: &str, key_exists: impl Fn(&str) -> bool) -> acl::Cap {
    match op {
        Access::Read => acl::Cap::Read,
        Access::List => acl::Cap::List,
        Access::Delete => acl::Cap::Delete,
        Access::Write => match new_key_name(path) {
            Some(name) if !key_exists(name) => acl::Cap::Create,
            _ => acl::Cap::Update,
        },
    }
}

/// `transit/keys/NAME` (or `transit/encrypt/NAME`, Vault's upsert) for a
/// POST: the key a write would create.
fn new_key_name(path: &str) -> Option<&str> {
    let name = path
        .strip_prefix("transit/keys/")
        .or_else(|| path.strip_prefix("transit/encrypt/"))?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

/// SHA-256 of a token: all that is stored of it.
pub fn token_hash(token: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A token's accessor: names the token in logs and admin calls without
/// revealing it. Derived from the token's hash (one-way), so whoever holds
/// only the stored hash can name the token, and nobody can go back.
pub fn accessor(token_hash: &[u8; 32]) -> String {
    let mut input = b"minikms token accessor v1".to_vec();
    input.extend_from_slice(token_hash);
    let d = digest::digest(&digest::SHA256, &input);
    hex::encode(&d.as_ref()[..12])
}

/// The token a request came with, after its use was counted.
pub struct Identity {
    pub accessor: Arc<str>,
    /// `None` for the root token.
    pub record: Option<TokenRecord>,
    /// Whether the token has a use limit (it then makes no children).
    pub limited: bool,
    /// The parameter constraints its policies put on this request's body.
    pub params: Params,
}

impl Identity {
    pub fn root(accessor: Arc<str>) -> Self {
        Self {
            accessor,
            record: None,
            limited: false,
            params: Params::default(),
        }
    }

    pub fn is_root(&self) -> bool {
        self.record.is_none()
    }

    pub fn policies(&self) -> Vec<String> {
        match &self.record {
            None => vec!["root".into()],
            Some(r) => r.policies.clone(),
        }
    }

    /// The attested key the token is bound to, if any (hex SHA-256 of its
    /// SubjectPublicKeyInfo).
    pub fn bound_key(&self) -> Option<&str> {
        self.record.as_ref().and_then(|r| r.bound_key.as_deref())
    }
}

/// The token a request presents, as the guard and the audit log know it:
/// its SHA-256 and its accessor, both made once per request.
#[derive(Clone)]
pub struct Credential {
    pub hash: [u8; 32],
    /// Shared: the audit entry, the guard and the identity each keep it.
    pub accessor: Arc<str>,
}

impl Credential {
    pub fn of_token(token: &str) -> Self {
        let hash = token_hash(token);
        Self {
            accessor: accessor(&hash).into(),
            hash,
        }
    }
}
