//! Single-use nonces with a short life, kept in this enclave's memory: what
//! a peer asking to join (`join`) or a workload logging in
//! (`attest_login`) binds into its evidence, so that evidence cannot be
//! replayed.
//!
//! Anyone may ask for one, so the store is bounded per [`Source`]: a
//! source holding its share gets a new nonce for its own oldest, and when
//! the whole store is full, the source holding the most loses its oldest.
//! A flood from one address therefore only ever drops its own nonces
//! (when the oldest of all went, a flood of challenges made every real
//! join fail).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::source::Source;
use crate::error::Error;
use crate::platform::Platform;

/// How long a nonce may be answered.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(60);

/// Open nonces: at most `capacity`, and `per_source` from one [`Source`].
pub struct Nonces {
    open: Mutex<HashMap<[u8; 32], Issued>>,
    capacity: usize,
    per_source: usize,
}

struct Issued {
    at: Instant,
    to: Source,
}

impl Nonces {
    pub fn new(capacity: usize, per_source: usize) -> Self {
        Self {
            open: Mutex::default(),
            capacity,
            per_source,
        }
    }

    /// A fresh nonce for a client at `to`, open for [`NONCE_LIFETIME`].
    pub fn issue(&self, platform: &dyn Platform, to: Source) -> Result<[u8; 32], Error> {
        let mut nonce = [0u8; 32];
        platform
            .fill_random(&mut nonce)
            .map_err(|e| Error::platform("random", e))?;
        self.open(nonce, to);
        Ok(nonce)
    }

    /// Opens `nonce`, dropping one to make room if need be: the oldest of
    /// `to`'s own at its share, else (store full) the oldest of the
    /// source holding the most.
    fn open(&self, nonce: [u8; 32], to: Source) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|_, issued| issued.at.elapsed() < NONCE_LIFETIME);
        let mut held: HashMap<Source, usize> = HashMap::new();
        for issued in open.values() {
            *held.entry(issued.to).or_default() += 1;
        }
        let most = held.values().copied().max().unwrap_or(0);
        let dropped = if held.get(&to).copied().unwrap_or(0) >= self.per_source {
            oldest(&open, |source| source == to)
        } else if open.len() >= self.capacity {
            oldest(&open, |source| held.get(&source) == Some(&most))
        } else {
            None
        };
        if let Some(dropped) = dropped {
            open.remove(&dropped);
        }
        open.insert(
            nonce,
            Issued {
                at: Instant::now(),
                to,
            },
        );
    }

    /// Takes an open nonce: each answers one request.
    pub fn take(&self, nonce: &[u8; 32]) -> bool {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.remove(nonce)
            .is_some_and(|issued| issued.at.elapsed() < NONCE_LIFETIME)
    }
}

/// The oldest open nonce of the sources `pick` chooses.
fn oldest(open: &HashMap<[u8; 32], Issued>, pick: impl Fn(Source) -> bool) -> Option<[u8; 32]> {
    open.iter()
        .filter(|(_, issued)| pick(issued.to))
        .min_by_key(|(_, issued)| issued.at)
        .map(|(nonce, _)| *nonce)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn source(ip: &str) -> Source {
        Source::of(ip.parse().unwrap())
    }

    fn nonce(n: u32) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..4].copy_from_slice(&n.to_le_bytes());
        out
    }

    #[test]
    fn a_flood_from_one_source_drops_only_its_own() {
        let nonces = Nonces::new(8, 3);
        let (victim, flooder) = (source("10.0.0.1"), source("10.0.0.2"));
        nonces.open(nonce(0), victim);
        for n in 1..1000 {
            nonces.open(nonce(n), flooder);
        }
        assert_eq!(nonces.open.lock().unwrap().len(), 4);
        assert!(nonces.take(&nonce(0)), "the victim's nonce was dropped");
        assert!(!nonces.take(&nonce(0)), "a nonce answers once");
        // The flooder keeps its newest three.
        assert!(nonces.take(&nonce(999)) && !nonces.take(&nonce(996)));
    }

    #[test]
    fn a_full_store_drops_from_the_source_holding_the_most() {
        let nonces = Nonces::new(4, 3);
        let (a, b, c) = (source("10.0.0.1"), source("10.0.0.2"), source("::1"));
        nonces.open(nonce(0), a);
        nonces.open(nonce(1), b);
        nonces.open(nonce(2), b);
        nonces.open(nonce(3), b);
        // Full: c's nonce takes b's oldest, not a's (older still).
        nonces.open(nonce(4), c);
        assert!(!nonces.take(&nonce(1)));
        for kept in [0, 2, 3, 4] {
            assert!(nonces.take(&nonce(kept)), "{kept}");
        }
    }
}
