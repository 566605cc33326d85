//! RSA-2048 key pairs made ahead of demand, for `/generate-rsa-key-pair`.
//!
//! Generating a pair takes tens of milliseconds; a request that finds a
//! pair in the pool answers at once. The pool is bounded ([`CAPACITY`]
//! pairs, about 2.2 KiB each as PEM), refilled on one blocking thread at a
//! time after each take (so it starts filling on first use: a server that
//! never serves the route spends nothing on it), and a pair is moved out
//! when taken, so it is handed out exactly once. The private keys are held as zeroizing PEM
//! strings; the rest of a pair is public. When the pool is empty the
//! request generates its own pair.

use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use zeroize::Zeroizing;

use crate::error::Error;

/// Most pairs kept ready.
pub const CAPACITY: usize = 32;

/// One RSA-2048 pair as PEM: PKCS#8 private key, SubjectPublicKeyInfo
/// public key. No `Debug`: it holds a private key.
pub struct PemPair {
    pub public: String,
    pub private: Zeroizing<String>,
}

/// Generates a fresh RSA-2048 pair (e = 65537) as PEM.
pub fn generate() -> Result<PemPair, Error> {
    let failed = |_| Error::failed("RSA key generation");
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
    let private = pair.as_der().map_err(failed)?;
    let public = pair.public_key().as_der().map_err(failed)?;
    let lf = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    Ok(PemPair {
        public: pem::encode_config(&pem::Pem::new("PUBLIC KEY", public.as_ref()), lf),
        private: Zeroizing::new(pem::encode_config(
            &pem::Pem::new("PRIVATE KEY", private.as_ref()),
            lf,
        )),
    })
}

/// The pool.
pub struct RsaPool {
    state: Mutex<State>,
    capacity: usize,
}

struct State {
    ready: Vec<PemPair>,
    refilling: bool,
}

impl RsaPool {
    /// An empty pool of at most `capacity` pairs; call
    /// [`RsaPool::refill`] to fill it.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                ready: Vec::with_capacity(capacity),
                refilling: false,
            }),
            capacity,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a ready pair out of the pool (it is never handed out again)
    /// and starts a refill; `None` if the pool is empty.
    pub fn take(self: &Arc<Self>) -> Option<PemPair> {
        let pair = self.lock().ready.pop();
        self.refill();
        pair
    }

    /// How many pairs are ready (a metric, `minikms_rsa_pool_ready`).
    pub fn ready(&self) -> usize {
        self.lock().ready.len()
    }

    /// Starts filling the pool on a blocking thread, unless it is full or
    /// a refill is already running (or there is no runtime).
    pub fn refill(self: &Arc<Self>) {
        {
            let mut state = self.lock();
            if state.refilling || state.ready.len() >= self.capacity {
                return;
            }
            state.refilling = true;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.lock().refilling = false;
            return;
        };
        let pool = self.clone();
        runtime.spawn_blocking(move || pool.fill());
    }

    fn fill(&self) {
        loop {
            if self.lock().ready.len() >= self.capacity {
                break;
            }
            match generate() {
                Ok(pair) => {
                    let mut state = self.lock();
                    if state.ready.len() < self.capacity {
                        state.ready.push(pair);
                    }
                }
                Err(e) => {
                    tracing::error!("RSA key pool refill failed: {e}");
                    break;
                }
            }
        }
        self.lock().refilling = false;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fills_to_capacity_and_hands_each_pair_out_once() {
        let pool = RsaPool::new(3);
        assert!(pool.take().is_none(), "starts empty");
        for _ in 0..600 {
            if pool.ready() == 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(pool.ready(), 3);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..3 {
            let pair = pool.take().unwrap();
            assert!(pair.private.starts_with("-----BEGIN PRIVATE KEY-----"));
            assert!(seen.insert(pair.private.to_string()), "handed out twice");
        }
        // Refills never go past the bound.
        for _ in 0..600 {
            if pool.ready() == 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(pool.ready(), 3);
        for _ in 0..3 {
            let pair = pool.take().unwrap();
            assert!(seen.insert(pair.private.to_string()), "handed out twice");
        }
    }
}
