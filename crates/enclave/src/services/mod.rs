//! What every request goes through, and what the enclave keeps beside its
//! keys. No HTTP types here either: `crate::http` calls these.
//!
//! - [`classify`]: the one request classifier: method, decoded path and
//!   query → operation, mount, key name, capability. The guard and the
//!   audit log both use its answer, so they never disagree.
//! - [`guard`]: the decision whether a request's token allows it.
//! - [`audit`]: the signed, hash-chained audit log of every `/v1` request.
//! - [`ca`]: the enclave's TLS certificate authority, kept sealed.
//! - [`evidence`]: attestation evidence binding the enclave's keys.
//! - [`rsa_pool`]: RSA-2048 pairs made ahead of demand.
//! - [`join`]: attested join: the root key handed to a verified peer.
//! - [`nonces`]: single-use, short-lived nonces that join and login bind.
//! - [`bound`]: the check of evidence bound to such a nonce and a key.
//! - [`attest_login`]: workloads in TEEs log in with evidence, and get a
//!   token bound to their attested key.
//! - [`rotation`]: keys rotated on their `auto_rotate_period`.
//! - [`source`]: a request's client (its address, from the connection).
//! - [`throttle`]: rate limits per client for requests without a valid
//!   token.

pub mod attest_login;
pub mod audit;
pub mod bound;
pub mod ca;
pub mod classify;
pub mod evidence;
pub mod guard;
pub mod join;
pub mod nonces;
pub mod rotation;
pub mod rsa_pool;
pub mod source;
pub mod throttle;
