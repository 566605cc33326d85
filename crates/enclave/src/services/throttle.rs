//! Rate limits per client ([`Source`]) for the `/v1` requests that carry
//! no valid token: the open routes (join challenges, attestation nonces,
//! `sys/init`, `sys/unseal`, ...) and the refusals of tokenless or
//! bad-token requests. Such requests cost us work and an audit count
//! without costing the sender anything, so each address gets a token
//! bucket: [`BURST`] requests at once, then [`PER_SECOND`]; beyond that
//! it gets 429 with `Retry-After`. A legitimate operator (init, unseal
//! with its shares, a join, a workload's nonce and login) stays far below.
//! Requests with a valid token are not limited here.
//!
//! The table is bounded ([`MAX_TRACKED`] sources): buckets that have
//! refilled are dropped when it fills, and sources that find it full of
//! active ones share one overflow bucket, so rotating addresses buys no
//! more than one address's rate.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::source::Source;

/// Requests an address may make at once.
pub const BURST: f64 = 100.0;
/// Requests per second an address may make after its burst.
pub const PER_SECOND: f64 = 10.0;
/// Sources tracked at most (about 50 bytes each).
pub const MAX_TRACKED: usize = 16_384;
/// How often a full table is swept of refilled buckets at most.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The buckets of every source seen lately.
pub struct Throttle {
    inner: Mutex<Table>,
}

struct Table {
    buckets: HashMap<Source, Bucket>,
    /// Shared by the sources that found the table full.
    overflow: Bucket,
    swept: Option<Instant>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(now: Instant) -> Self {
        Self {
            tokens: BURST,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * PER_SECOND).min(BURST);
        self.at = now;
    }

    /// Takes one token, or says in how many whole seconds one is back.
    fn take(&mut self, now: Instant) -> Result<(), u64> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - self.tokens) / PER_SECOND).ceil();
            // At most 1 / PER_SECOND: small and positive.
            Err((wait as u64).max(1))
        }
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new()
    }
}

impl Throttle {
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Table {
                buckets: HashMap::new(),
                overflow: Bucket::full(Instant::now()),
                swept: None,
            }),
        }
    }

    /// One request from `source` without a valid token: `Ok`, or `Err`
    /// with the seconds to wait (`Retry-After`).
    pub fn take(&self, source: Source) -> Result<(), u64> {
        self.take_at(source, Instant::now())
    }

    fn take_at(&self, source: Source, now: Instant) -> Result<(), u64> {
        let mut table = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = table.buckets.get_mut(&source) {
            return bucket.take(now);
        }
        if table.buckets.len() >= MAX_TRACKED {
            table.sweep(now);
        }
        if table.buckets.len() >= MAX_TRACKED {
            return table.overflow.take(now);
        }
        let mut bucket = Bucket::full(now);
        let taken = bucket.take(now);
        table.buckets.insert(source, bucket);
        taken
    }
}

impl Table {
    /// Drops the buckets that have refilled (their sources have been
    /// quiet for a while): at most once per [`SWEEP_EVERY`].
    fn sweep(&mut self, now: Instant) {
        if self
            .swept
            .is_some_and(|at| now.saturating_duration_since(at) < SWEEP_EVERY)
        {
            return;
        }
        self.swept = Some(now);
        self.buckets.retain(|_, b| {
            b.refill(now);
            b.tokens < BURST
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::services::source::test_source as source;

    #[test]
    fn an_address_gets_its_burst_then_its_rate() {
        let throttle = Throttle::new();
        let t0 = Instant::now();
        for _ in 0..BURST as usize {
            throttle.take_at(source(1), t0).unwrap();
        }
        assert_eq!(throttle.take_at(source(1), t0), Err(1));
        // Another address is not held back.
        throttle.take_at(source(2), t0).unwrap();
        // One token back after 1 / PER_SECOND.
        let later = t0 + Duration::from_secs_f64(1.0 / PER_SECOND);
        throttle.take_at(source(1), later).unwrap();
        assert!(throttle.take_at(source(1), later).is_err());
    }

    #[test]
    fn the_table_is_bounded_and_overflow_is_shared() {
        let throttle = Throttle::new();
        let t0 = Instant::now();
        for n in 0..MAX_TRACKED as u32 {
            throttle.take_at(source(n), t0).unwrap();
        }
        // Full of active sources: newcomers share one bucket.
        for n in 0..BURST as u32 {
            throttle.take_at(source(1_000_000 + n), t0).unwrap();
        }
        assert!(throttle.take_at(source(2_000_000), t0).is_err());
        assert_eq!(throttle.inner.lock().unwrap().buckets.len(), MAX_TRACKED);
        // Once the old ones have refilled, they make room.
        let later = t0 + Duration::from_secs(60);
        throttle.take_at(source(3_000_000), later).unwrap();
        assert_eq!(throttle.inner.lock().unwrap().buckets.len(), 1);
    }
}
