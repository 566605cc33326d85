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
//!    is [`binding`]`(nonce, its public key)`, and posts them to
//!    `POST /v1/sys/join` ([`desk`]). The peer verifies the evidence with
//!    the verifier crate, the binding, and the join policy, then answers
//!    the root key RSA-OAEP-SHA256-encrypted to the joiner's key.
//! 4. The joiner checks the root key against its store (its check value),
//!    seals it under its own CPU and opens the store.
//!
//! The join policy, both ways: same MRSIGNER and product id, the same
//! debug and simulation mode, and (for a joiner) a security version not
//! lower than the peer's.

pub mod ask;
pub mod desk;

use aws_lc_rs::digest;

use crate::platform::Platform;

/// What a joiner's evidence must carry as report data: SHA-256("minikms
/// join v1" || nonce || the joiner's public key, SubjectPublicKeyInfo DER)
/// followed by 32 zero bytes.
pub fn binding(nonce: &[u8; 32], public_key: &[u8]) -> [u8; 64] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"minikms join v1");
    ctx.update(nonce);
    ctx.update(public_key);
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(ctx.finish().as_ref());
    out
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
        allow_simulation: platform.name() == "simulation",
        ..Default::default()
    }
}

/// The other side must be in our debug and simulation mode exactly (the
/// policy only says what is allowed).
pub fn same_mode(platform: &dyn Platform, claims: &minikms_verifier::Claims) -> Result<(), String> {
    let debug = platform.identity().debug;
    if claims.debug != debug {
        return Err(format!(
            "a {} enclave and a {} one cannot share a root key",
            if claims.debug { "debug" } else { "production" },
            if debug { "debug" } else { "production" },
        ));
    }
    let simulation = platform.name() == "simulation";
    if claims.simulation != simulation {
        return Err("a simulated enclave and a hardware one cannot share a root key".into());
    }
    Ok(())
}
