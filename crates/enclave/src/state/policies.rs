//! ACL policies by name, as the state keeps them: sealed in the store's
//! `policies` table. `root` (everything) is built in and never stored;
//! `default` is built in ([`acl::DEFAULT_POLICY`]) until rewritten.

use std::collections::BTreeMap;

use super::acl;
use super::params::Params;
use crate::error::Error;

/// Most stored policies.
pub const MAX_STORED: usize = 1000;

/// A policy as kept in memory: its text (as written), its rules, and when
/// this server saw it written or read it from the store (Unix seconds:
/// the store keeps only the text).
#[derive(Clone)]
pub struct NamedPolicy {
    pub text: String,
    pub parsed: acl::Policy,
    pub seen: u64,
}

impl NamedPolicy {
    pub fn parse(text: String) -> Result<Self, Error> {
        let parsed = acl::parse(&text)?;
        Ok(Self {
            text,
            parsed,
            seen: crate::clock::now(),
        })
    }
}

/// Every stored policy (and `default`), by name, as the state holds them.
#[derive(Default)]
pub struct Policies(BTreeMap<String, NamedPolicy>);

impl Policies {
    pub fn insert(&mut self, name: String, policy: NamedPolicy) {
        self.0.insert(name, policy);
    }

    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Every name, `root` included, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.0.keys().cloned().collect();
        names.push("root".into());
        names.sort();
        names
    }

    /// A policy's text and when it was seen written ([`NamedPolicy`]).
    pub fn text_seen(&self, name: &str) -> Option<(String, u64)> {
        self.0.get(name).map(|p| (p.text.clone(), p.seen))
    }

    /// Capability bits the named `policies` give on `path`; `None` means
    /// root (all).
    pub fn caps(&self, policies: &[String], path: &str) -> Option<u8> {
        self.permissions(policies, path).map(|(caps, _)| caps)
    }

    /// [`Self::caps`] and the parameter constraints that come with them.
    pub fn permissions(&self, policies: &[String], path: &str) -> Option<(u8, Params)> {
        if policies.iter().any(|p| p == "root") {
            return None;
        }
        let parsed = policies.iter().filter_map(|p| self.0.get(p));
        Some(acl::permissions(parsed.map(|p| &p.parsed), path))
    }
}
