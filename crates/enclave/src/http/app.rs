//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::Error;
use crate::platform::Platform;
use crate::services::attest_login;
use crate::services::audit::AuditLog;
use crate::services::ca::TlsCa;
use crate::services::join::desk::Desk;
use crate::services::rsa_pool::RsaPool;
use crate::services::throttle::Throttle;
use crate::state::State;
use crate::store::recovery::Recovery;

/// Shared state of every handler: one `Arc`, since axum clones the state
/// for every request and every middleware.
#[derive(Clone)]
pub struct AppState(pub Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What the handlers share.
pub struct Services {
    pub platform: Arc<dyn Platform>,
    /// The sealed state: keys, tokens, policies.
    pub state: Arc<State>,
    /// The TLS CA, whose key evidence binds.
    pub ca: Arc<TlsCa>,
    /// The audit log every `/v1` request is recorded in.
    pub audit: Arc<AuditLog>,
    /// The root key and what is known of its recovery shares.
    pub recovery: Arc<Recovery>,
    /// Open join challenges.
    pub join: Desk,
    /// Open attested-login nonces.
    pub attest: attest_login::Desk,
    /// RSA-2048 pairs made ahead of demand.
    pub rsa_pool: Arc<RsaPool>,
    /// `GET /`'s answer, written once (`crate::http::status::document`).
    pub status: axum::body::Bytes,
    /// Turns at the expensive routes anyone may call without a token (an
    /// RSA key made on demand, fresh evidence): half the CPUs, so they
    /// cannot starve `/v1` traffic.
    pub expensive: Semaphore,
    /// Rate limits per client for requests without a valid token.
    pub throttle: Throttle,
}

/// How long a request waits for an expensive turn before it gets 503.
const EXPENSIVE_WAIT: Duration = Duration::from_secs(5);

impl Services {
    /// The number of expensive turns for this machine.
    pub fn expensive_turns() -> usize {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        (cpus / 2).max(1)
    }

    /// Waits (a little) for a turn at an expensive unauthenticated route.
    pub async fn expensive_turn(&self) -> Result<SemaphorePermit<'_>, Error> {
        match tokio::time::timeout(EXPENSIVE_WAIT, self.expensive.acquire()).await {
            Ok(Ok(turn)) => Ok(turn),
            _ => Err(Error::Busy(
                "server busy: too many key generations or attestations at once; try again shortly"
                    .into(),
            )),
        }
    }
}
