//! Attested join: a new instance (the joiner) gets the store's root key
//! from a running one (the peer), so that it can open a copy of the store
//! (and, later, a shared one) on a machine whose CPU never sealed it.
//!
//! 1. The joiner connects to the peer over TLS and verifies the peer's
//!    RA-TLS certificate with the verifier crate ([`ask`]) under the join
//!    policy below: an impostor could otherwise hand it a store of its own
//!    making, with that store's root key.
//! 2. `POST /v1/sys/join/challenge` gives a fresh single-use nonce (valid
//!    [`crate::services::nonces::NONCE_LIFETIME`]).
//! 3. The joiner makes a fresh RSA-2048 key and evidence whose report data
//!    binds the nonce and its public key, as an attested login's does
//!    ([`crate::services::bound`]), and posts them to `POST /v1/sys/join`
//!    ([`desk`]). The peer verifies the evidence with the verifier crate,
//!    the binding, and the join policy, then answers the root key
//!    RSA-OAEP-SHA256-encrypted to the joiner's key.
//! 4. The joiner checks the root key against its store (its check value),
//!    seals it under its own CPU and opens the store.
//!
//! The join policy, both ways: same MRSIGNER and product id, the same
//! debug and simulation mode, and (for a joiner) a security version not
//! lower than the peer's.

pub mod ask;
pub mod desk;

use crate::platform::{Platform, PlatformError};

/// Why a join failed, on the joiner's side ([`ask`]). The peer's refusals
/// come back as [`JoinError::Answered`], with the reason it gave.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// `--join` is not `https://HOST:PORT`.
    #[error("--join {0}: give the peer as https://HOST:PORT")]
    Url(String),
    #[error("cannot reach the peer {url}: {error}")]
    Unreachable { url: String, error: std::io::Error },
    /// The peer's certificate did not pass the join policy.
    #[error("the peer {url} failed attestation: {why}")]
    Attestation { url: String, why: String },
    #[error("TLS with the peer {url}: {error}")]
    Tls { url: String, error: std::io::Error },
    #[error("HTTP with the peer: {0}")]
    Http(String),
    /// The peer answered with an error.
    #[error("the peer answered {path} with {status}: {why}")]
    Answered {
        path: &'static str,
        status: u16,
        why: String,
    },
    /// The peer's answer lacks what a join answer has.
    #[error("the peer's {0}")]
    BadAnswer(&'static str),
    /// Ours: the join key, the TLS configuration.
    #[error("{0} failed")]
    Local(&'static str),
    #[error("cannot make evidence for the join: {0}")]
    Evidence(#[from] PlatformError),
}

/// The join policy for a peer or joiner of `platform`'s enclave. With
/// `min_svn`, the other side's security version must be at least ours.
pub fn policy(platform: &dyn Platform, min_svn: bool) -> minikms_verifier::Policy {
    let me = platform.identity();
    minikms_verifier::Policy {
        mrsigner: Some(me.mrsigner.0),
        product_id: Some(me.product_id),
        min_svn: min_svn.then_some(me.security_version),
        allow_debug: me.debug,
        allow_simulation: platform.is_simulation(),
        ..Default::default()
    }
}

/// The other side is not in our debug or simulation mode.
#[derive(Debug, thiserror::Error)]
pub enum OtherMode {
    #[error("a {} enclave and a {} one cannot share a root key", mode(*.theirs), mode(*.ours))]
    Debug { theirs: bool, ours: bool },
    #[error("a simulated enclave and a hardware one cannot share a root key")]
    Simulation,
}

fn mode(debug: bool) -> &'static str {
    if debug {
        "debug"
    } else {
        "production"
    }
}

/// The other side must be in our debug and simulation mode exactly (the
/// policy only says what is allowed).
pub fn same_mode(
    platform: &dyn Platform,
    claims: &minikms_verifier::Claims,
) -> Result<(), OtherMode> {
    let ours = platform.identity().debug;
    if claims.debug != ours {
        return Err(OtherMode::Debug {
            theirs: claims.debug,
            ours,
        });
    }
    if claims.simulation != platform.is_simulation() {
        return Err(OtherMode::Simulation);
    }
    Ok(())
}
