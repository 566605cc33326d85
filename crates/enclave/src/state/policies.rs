//! ACL policies by name, as the state keeps them: sealed in the store's
//! `policies` table. `root` (everything) is built in and never stored;
//! `default` is built in ([`acl::DEFAULT_POLICY`]) until rewritten.

use std::collections::BTreeMap;

use super::acl;

/// Most stored policies.
pub const MAX_STORED: usize = 1000;

/// A policy as kept in memory: its text (as written) and its rules.
#[derive(Clone)]
pub struct NamedPolicy {
    pub text: String,
    pub parsed: acl::Policy,
}

impl NamedPolicy {
    pub fn parse(text: String) -> Result<Self, String> {
        let parsed = acl::parse(&text)?;
        Ok(Self { text, parsed })
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

    pub fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|p| p.text.clone())
    }

    /// Capability bits the named `policies` give on `path`; `None` means
    /// root (all).
    pub fn caps(&self, policies: &[String], path: &str) -> Option<u8> {
        if policies.iter().any(|p| p == "root") {
            return None;
        }
        let parsed = policies.iter().filter_map(|p| self.0.get(p));
        Some(acl::capabilities(parsed.map(|p| &p.parsed), path))
    }
}
