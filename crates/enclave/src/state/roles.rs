//! [`State`]'s attested-login roles (`auth/attest/role/NAME`): each is a
//! sealed record of the meta table under [`ROLE_PREFIX`]`NAME`, written
//! under the state's lock like a policy (rare, and a login must never see
//! a role that is not on disk). What a role says is `crate::core::attest_roles`.

use zeroize::Zeroizing;

use super::owner::State;
use super::tokens::TokenRecord;
use crate::clock::now;
use crate::error::Error;
use crate::store::Table;

/// Meta record ids of roles start with this.
pub const ROLE_PREFIX: &str = "attest_role/";
/// Most stored roles.
pub const MAX_ROLES: usize = 1000;

impl State {
    /// Every role's name, sorted.
    pub fn role_names(&self) -> Vec<String> {
        self.lock()
            .meta
            .keys()
            .filter_map(|id| id.strip_prefix(ROLE_PREFIX).map(str::to_string))
            .collect()
    }

    /// Role `name` as stored.
    pub fn role(&self, name: &str) -> Option<Zeroizing<Vec<u8>>> {
        self.lock().meta.get(&role_id(name)).cloned()
    }

    /// Stores role `name`, replacing any.
    pub fn put_role(&self, name: &str, record: Zeroizing<Vec<u8>>) -> Result<(), Error> {
        let id = role_id(name);
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            let count = inner
                .meta
                .keys()
                .filter(|k| k.starts_with(ROLE_PREFIX))
                .count();
            if !inner.meta.contains_key(&id) && count >= MAX_ROLES {
                return Err(Error::invalid(format!(
                    "too many roles (limit {MAX_ROLES})"
                )));
            }
            self.store.writer(&mut inner.versions).write(vec![(
                Table::Meta,
                id.clone(),
                Some(record.clone()),
            )])?;
            inner.meta.insert(id.clone(), record.clone());
            Ok(())
        })
    }

    /// Deletes role `name` (nothing to do if there is none).
    pub fn delete_role(&self, name: &str) -> Result<(), Error> {
        let id = role_id(name);
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            if inner.meta.contains_key(&id) {
                self.store.writer(&mut inner.versions).write(vec![(
                    Table::Meta,
                    id.clone(),
                    None,
                )])?;
                inner.meta.remove(&id);
            }
            Ok(())
        })
    }
}

impl State {
    /// Stores the token of an attested login (it has no parent: no token
    /// made it), purging expired tokens first if the store is full.
    pub fn insert_login_token(&self, accessor: &str, rec: &TokenRecord) -> Result<(), Error> {
        self.retrying(|| {
            let mut guard = self.lock();
            let inner = &mut *guard;
            let mut store = self.store.writer(&mut inner.versions);
            inner.tokens.make_room(&mut store, now())?;
            inner.tokens.write(&mut store, accessor, rec)
        })
    }
}

fn role_id(name: &str) -> String {
    format!("{ROLE_PREFIX}{name}")
}
