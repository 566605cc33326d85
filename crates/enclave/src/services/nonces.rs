//! Single-use nonces with a short life, kept in this enclave's memory: what
//! a peer asking to join (`join`) or a workload logging in
//! (`attest_login`) binds into its evidence, so that evidence cannot be
//! replayed.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::platform::Platform;

/// How long a nonce may be answered.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(60);

/// Open nonces, at most `capacity` (the oldest is dropped beyond).
pub struct Nonces {
    open: Mutex<HashMap<[u8; 32], Instant>>,
    capacity: usize,
}

impl Nonces {
    pub fn new(capacity: usize) -> Self {
        Self {
            open: Mutex::default(),
            capacity,
        }
    }

    /// A fresh nonce, open for [`NONCE_LIFETIME`].
    pub fn issue(&self, platform: &dyn Platform) -> Result<[u8; 32], Error> {
        let mut nonce = [0u8; 32];
        platform
            .fill_random(&mut nonce)
            .map_err(|e| Error::platform("random", e))?;
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|_, at| at.elapsed() < NONCE_LIFETIME);
        if open.len() >= self.capacity {
            let oldest = open.iter().min_by_key(|(_, at)| **at).map(|(n, _)| *n);
            if let Some(oldest) = oldest {
                open.remove(&oldest);
            }
        }
        open.insert(nonce, Instant::now());
        Ok(nonce)
    }

    /// Takes an open nonce: each answers one request.
    pub fn take(&self, nonce: &[u8; 32]) -> bool {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.remove(nonce)
            .is_some_and(|at| at.elapsed() < NONCE_LIFETIME)
    }
}
