//! Counts of the requests without a valid token, per client and interval:
//! written as one `unauthenticated` entry per address every
//! [`INTERVAL`] (and at shutdown) instead of one entry each, so that
//! nobody can fill the disk with requests that cost them nothing.
//!
//! What is counted rather than recorded one by one: every refusal of a
//! request without a valid token (403, and the 429s of
//! [`crate::services::throttle`]), every refused request to an open route
//! (a bad body, an unknown challenge), and the open requests that succeed
//! but change nothing and hand out nothing that matters (a join challenge,
//! an attestation nonce, `sys/seal-status`, `sys/unseal` of an unsealed
//! store, `sys/init`'s status). An open request that succeeds and matters
//! keeps its own entry: `sys/init` (the root token is made), `sys/join`
//! (the root key leaves to a verified peer), an attested login (a token is
//! made). The classifier says which is which
//! ([`crate::services::classify::Classified::recorded_alone`]).
//!
//! Bounded: at most [`MAX_SOURCES`] addresses per interval (the rest are
//! counted together under `*`), and [`MAX_OPERATIONS`] operation and
//! status pairs per address (the rest under `other`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use minikms_audit::Counted;

use crate::services::source::Source;

/// How often the counts are written.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// Addresses counted apart per interval.
pub const MAX_SOURCES: usize = 4096;
/// Operation and status pairs counted apart per address.
pub const MAX_OPERATIONS: usize = 64;

/// The counts of the current interval.
#[derive(Default)]
pub(super) struct Tally {
    table: Mutex<HashMap<Option<Source>, Counts>>,
}

/// One address's counts over an interval.
pub(super) struct Counts {
    /// `*` for the addresses beyond [`MAX_SOURCES`].
    pub(super) address: String,
    pub(super) since: String,
    pub(super) requests: u64,
    operations: BTreeMap<(String, u16), u64>,
}

impl Counts {
    /// The counts as the entry lists them.
    pub(super) fn operations(&self) -> Vec<Counted> {
        self.operations
            .iter()
            .map(|((operation, status), count)| Counted {
                operation: operation.clone(),
                status: *status,
                count: *count,
            })
            .collect()
    }
}

impl Tally {
    /// Counts one request from `source`: `verb route`, answered `status`.
    pub(super) fn count(&self, source: Source, verb: &str, route: &str, status: u16) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let key = if table.len() < MAX_SOURCES || table.contains_key(&Some(source)) {
            Some(source)
        } else {
            None
        };
        let counts = table.entry(key).or_insert_with(|| Counts {
            address: key.map_or_else(|| "*".to_string(), |s| s.to_string()),
            since: crate::clock::now_rfc3339_millis(),
            requests: 0,
            operations: BTreeMap::new(),
        });
        counts.requests = counts.requests.saturating_add(1);
        let mut operation = (format!("{verb} {route}"), status);
        if counts.operations.len() >= MAX_OPERATIONS && !counts.operations.contains_key(&operation)
        {
            operation = ("other".to_string(), 0);
        }
        let n = counts.operations.entry(operation).or_insert(0);
        *n = n.saturating_add(1);
    }

    /// The counts so far, and a fresh interval.
    pub(super) fn take(&self) -> Vec<Counts> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *table).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::services::source::test_source as source;

    #[test]
    fn one_count_per_address_and_bounded() {
        let tally = Tally::default();
        for _ in 0..3 {
            tally.count(source(1), "read", "transit/keys/{name}", 403);
        }
        tally.count(source(1), "update", "sys/join/challenge", 200);
        for n in 0..MAX_SOURCES as u32 + 10 {
            tally.count(source(100 + n), "read", "sys/seal-status", 200);
        }
        for n in 0..MAX_OPERATIONS as u32 + 5 {
            tally.count(source(1), "read", &format!("r{n}"), 429);
        }
        let counts = tally.take();
        assert_eq!(counts.len(), MAX_SOURCES + 1);
        let one = counts.iter().find(|c| c.address == "0.0.0.1").unwrap();
        assert_eq!(one.requests, 4 + MAX_OPERATIONS as u64 + 5);
        let ops = one.operations();
        assert_eq!(ops.len(), MAX_OPERATIONS + 1);
        assert!(ops
            .iter()
            .any(|c| c.operation == "read transit/keys/{name}" && c.status == 403 && c.count == 3));
        let others = counts.iter().find(|c| c.address == "*").unwrap();
        assert_eq!(others.requests, 11);
        assert!(tally.take().is_empty());
    }
}
