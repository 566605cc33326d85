//! [`State`]'s token and policy side: the decision for each request, and
//! token and policy writes (made under the state's lock: they are rare,
//! and a request must never see one that is not on disk).

use zeroize::Zeroizing;

use super::acl::Access;
use super::owner::State;
use super::policies::{self, NamedPolicy};
use super::tokens::{self, Credential, Identity, TokenRecord};
use crate::clock::now;
use crate::error::Error;
use crate::store::Table;

impl State {
    /// The decision for one request: the token (`credential`) must be root
    /// or a live token whose policies grant `op` on `path`. Every request
    /// made with a limited token uses one of its uses, durably, allowed or
    /// not (as in Vault: a limited token cannot probe the ACL for free).
    pub fn authorize(
        &self,
        credential: &Credential,
        path: &str,
        op: Access,
    ) -> Result<Identity, Error> {
        self.retrying(|| self.authorize_once(credential, path, op))
    }

    fn authorize_once(
        &self,
        credential: &Credential,
        path: &str,
        op: Access,
    ) -> Result<Identity, Error> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let (hash, accessor) = (&credential.hash, credential.accessor.clone());
        if inner.is_root(hash) {
            return Ok(Identity::root(accessor));
        }
        let mut store = self.store.writer(&mut inner.versions);
        let mut rec = inner
            .tokens
            .live(&mut store, &accessor, now())
            .ok_or(Error::Unauthenticated)?;
        tokens::check_hash(&rec, hash)?;
        let limited = rec.num_uses > 0;
        if limited {
            rec.num_uses -= 1;
            if rec.num_uses == 0 {
                inner.tokens.revoke_tree(&mut store, &accessor)?;
            } else {
                inner.tokens.write(&mut store, &accessor, &rec)?;
            }
        }
        let params = inner.grants(&rec, path, op)?;
        Ok(Identity {
            accessor,
            record: Some(rec),
            limited,
            params,
        })
    }

    /// [`Self::authorize`] without waiting or writing, for the I/O thread:
    /// `None` when the decision needs the store (a limited token's use, an
    /// expired token to purge) or the lock stays held (a token writer holds
    /// it across an fsync); the caller then runs `authorize` on a blocking
    /// thread. Same decision, same code.
    pub fn authorize_in_memory(
        &self,
        credential: &Credential,
        path: &str,
        op: Access,
    ) -> Option<Result<Identity, Error>> {
        let inner = self.try_lock_briefly()?;
        let (hash, accessor) = (&credential.hash, credential.accessor.clone());
        if inner.is_root(hash) {
            return Some(Ok(Identity::root(accessor)));
        }
        let Some(rec) = inner.tokens.get(&accessor) else {
            return Some(Err(Error::Unauthenticated));
        };
        if rec.num_uses > 0 || rec.expire_time.is_some_and(|t| t <= now()) {
            return None;
        }
        let decision = tokens::check_hash(rec, hash).and_then(|()| inner.grants(rec, path, op));
        Some(decision.map(|params| Identity {
            accessor,
            record: Some(rec.clone()),
            limited: false,
            params,
        }))
    }

    /// Whether `identity`'s policies (as they are now) also grant `op` on
    /// `path`: for an operation that reaches beyond its own path (a forced
    /// restore replaces the key at `transit/keys/NAME`).
    pub fn also_allows(&self, identity: &Identity, path: &str, op: Access) -> Result<(), Error> {
        match &identity.record {
            None => Ok(()),
            Some(rec) => self.lock().grants(rec, path, op).map(|_| ()),
        }
    }

    /// Stores `rec` as the token `accessor`, a child of `creator`: purges
    /// expired tokens first if the store is full; refuses if `creator` was
    /// revoked meanwhile.
    pub fn insert_token(
        &self,
        creator: &Identity,
        accessor: &str,
        rec: &TokenRecord,
    ) -> Result<(), Error> {
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            let mut store = self.store.writer(&mut inner.versions);
            inner.tokens.make_room(&mut store, now())?;
            // A creator revoked meanwhile makes no children.
            if !creator.is_root() && !inner.tokens.contains(&creator.accessor) {
                return Err(Error::Denied);
            }
            // Only a caller-chosen token can be one that exists.
            let root = inner.root_hash.map(|h| tokens::accessor(&h));
            if inner.tokens.contains(accessor) || root.as_deref() == Some(accessor) {
                return Err(Error::invalid("cannot create a token with a duplicate ID"));
            }
            inner.tokens.write(&mut store, accessor, rec)
        })
    }

    /// Looks a token up by accessor: the root token (`Some(None)`) or a
    /// live record.
    pub fn lookup_token(&self, accessor: &str) -> Option<Option<TokenRecord>> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if let Some(root) = inner.root_hash {
            if tokens::accessor(&root) == accessor {
                return Some(None);
            }
        }
        let mut store = self.store.writer(&mut inner.versions);
        inner.tokens.live(&mut store, accessor, now()).map(Some)
    }

    /// Renews the token `accessor` (see [`Tokens::renew`]).
    pub fn renew_token(
        &self,
        accessor: &str,
        increment: Option<u64>,
        max_expiry: impl Fn(&TokenRecord) -> u64,
    ) -> Result<TokenRecord, Error> {
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            let mut store = self.store.writer(&mut inner.versions);
            inner
                .tokens
                .renew(&mut store, accessor, increment, now(), &max_expiry)
        })
    }

    /// Every token's accessor, the root token's first.
    pub fn token_accessors(&self) -> Vec<String> {
        let inner = self.lock();
        let root = inner.root_hash.map(|h| tokens::accessor(&h));
        root.into_iter().chain(inner.tokens.accessors()).collect()
    }

    /// Revokes the token `accessor` and every token made from it.
    pub fn revoke(&self, accessor: &str) -> Result<(), Error> {
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            if inner
                .root_hash
                .is_some_and(|r| tokens::accessor(&r) == accessor)
            {
                return Err(Error::invalid("the root token cannot be revoked"));
            }
            let mut store = self.store.writer(&mut inner.versions);
            if inner.tokens.live(&mut store, accessor, now()).is_none() {
                return Err(Error::invalid("invalid token or accessor"));
            }
            inner.tokens.revoke_tree(&mut store, accessor)
        })
    }

    /// Revokes `accessor` and its children without the checks of
    /// [`State::revoke`] (a token revoking itself).
    pub fn revoke_self(&self, accessor: &str) -> Result<(), Error> {
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            let mut store = self.store.writer(&mut inner.versions);
            inner.tokens.revoke_tree(&mut store, accessor)
        })
    }
}

impl State {
    /// Every policy name, `root` included.
    pub fn policy_names(&self) -> Vec<String> {
        self.lock().policies.names()
    }

    /// The capability bits the named policies give on `path` (`None`: root).
    pub fn capabilities(&self, policies: &[String], path: &str) -> Option<u8> {
        self.lock().policies.caps(policies, path)
    }

    /// A policy's text and when this server saw it written.
    pub fn policy_text_seen(&self, name: &str) -> Option<(String, u64)> {
        self.lock().policies.text_seen(name)
    }

    pub fn put_policy(&self, name: String, policy: NamedPolicy) -> Result<(), Error> {
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            if !inner.policies.contains(&name) && inner.policies.len() >= policies::MAX_STORED {
                return Err(Error::invalid(format!(
                    "too many policies (limit {})",
                    policies::MAX_STORED
                )));
            }
            // Under the lock: policy writes are rare, and a request must
            // never see a policy that is not on disk.
            self.store.writer(&mut inner.versions).write(vec![(
                Table::Policies,
                name.clone(),
                Some(Zeroizing::new(policy.text.as_bytes().to_vec())),
            )])?;
            inner.policies.insert(name.clone(), policy.clone());
            Ok(())
        })
    }

    pub fn delete_policy(&self, name: &str) -> Result<(), Error> {
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            if inner.policies.contains(name) {
                self.store.writer(&mut inner.versions).write(vec![(
                    Table::Policies,
                    name.to_string(),
                    None,
                )])?;
                inner.policies.remove(name);
            }
            Ok(())
        })
    }
}
