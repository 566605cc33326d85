//! The HTTP API: routes, Vault's envelope and error shapes. Handlers parse
//! a request into a `crate::core` call and its result into Vault's answer;
//! they hold no key logic.
//!
//! - [`routes`]: the route table ([`router`]), and which layers guard
//!   which routes.
//! - [`layers`]: the audit and guard layers in front of every `/v1` route.
//! - [`app`]: what every handler shares.
//! - [`error`]: the one map from an error to a status and Vault's
//!   `{"errors": [...]}`.
//! - [`envelope`]: Vault's envelope, batches, 204s, and the facts an
//!   answer gives its audit entry (through the request's slot).
//! - [`body`]: bounded JSON request bodies.
//! - [`secret`]: answer bodies that hold secrets, wiped once sent.
//! - [`exec`]: where handler work runs (a blocking thread; the key
//!   operations choose for themselves, `crate::core::transit::run`).
//! - [`sealed`]: what a sealed enclave answers until it is unsealed.
//! - Handlers, one module per family: [`keys`] (manage, import),
//!   [`crypto`] (encrypt, decrypt, sign, hash, random, ...; one generic
//!   handler per key operation type), [`auth`]
//!   (`sys/init`, tokens), [`attest`] (the attested login and its
//!   roles), [`policies`], [`sys`] (seal status, unseal),
//!   [`mounts`] (the mounts and a token's capabilities), [`kv`] (the KV
//!   v2 engine at `secret/`), [`help`] (Vault's `?help=1` on the Transit
//!   paths),
//!   and the tutorial's routes:
//!   [`tutorial`], [`status`], [`attestation`].

pub mod app;
pub mod attest;
pub mod attestation;
pub mod auth;
pub mod body;
pub mod crypto;
pub mod envelope;
pub mod error;
pub mod exec;
pub mod help;
pub mod keys;
pub mod kv;
pub mod layers;
pub mod metrics;
pub mod mounts;
pub mod policies;
pub mod routes;
pub mod sealed;
pub mod secret;
pub mod status;
pub mod sys;
pub mod tutorial;
