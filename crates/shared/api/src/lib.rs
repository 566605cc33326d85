//! What the enclave and its clients agree on, written once for both sides:
//!
//! - [`key_name`]: which names a managed key may have (the server refuses
//!   others; `minikms import` checks before it wraps anything).
//! - [`claims`]: the CBOR claims map that attestation evidence binds, and
//!   the report data that binds it (`SHA-256(claims) || 32 zero bytes`).
//! - [`release`]: secure key release: the report data a workload's login
//!   evidence carries, and how a secret is wrapped to its attested key.

pub mod claims;
pub mod key_name;
pub mod release;
