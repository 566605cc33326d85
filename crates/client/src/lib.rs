//! The minikms client library, and the `minikms` CLI's command-line types.
//! The library needs no clap: open a [`client::Client`] with a server URL
//! and an [`attested_tls::Attestation`] policy, and every call returns
//! typed results or the server's JSON, or an [`error::Error`].
//!
//! # Layout
//!
//! Library (no module here imports [`cli`]):
//!
//! - [`error`]: the one error type, its variants grouped by who is at
//!   fault; also why the attested TLS verifier refused a server.
//! - [`attested_tls`]: the rustls certificate verifier of attested TLS: a
//!   server is accepted only if its certificate's evidence verifies, binds
//!   the certificate's key and meets the policy. There is no unverified
//!   mode. Also what to accept ([`attested_tls::Attestation`], pinned to a
//!   signed enclave file).
//! - [`connection`]: one attested HTTPS connection (HTTP/1.1 keep-alive),
//!   its requests and responses.
//! - [`client`]: [`client::Client`], the calls a server answers: status,
//!   keys, fresh evidence, any `/v1` call, import, the enclave's CA.
//! - [`import`]: bring your own key: read a key file, wrap it for the
//!   enclave's wrapping key (key names as [`minikms_api::key_name`] says).
//! - [`trust`]: the enclave's CA, checked against the evidence, saved for
//!   ordinary TLS clients.
//! - [`freshness`]: remembers how fresh each server's state was, and
//!   refuses one that went backwards (a rollback of its whole state).
//! - [`workload`] and [`login`]: secure key release, the workload's side:
//!   a workload in a TEE (or a simulated one) logs in with evidence and
//!   gets secrets wrapped to its attested key.
//! - [`offline`]: verify evidence, an RA-TLS certificate or an audit log
//!   with no server.
//! - [`bench`](mod@bench): the load generator: a plain
//!   [`bench::Config`] in, a [`bench::Report`] out.
//! - [`files`]: bounded reads of the user's files.
//! - [`random`]: random bytes, from aws-lc.
//!
//! CLI:
//!
//! - [`cli`]: the clap definitions (`minikms [OPTIONS] COMMAND`), with the
//!   attestation flags as one reusable [`cli::AttestationArgs`], and their
//!   conversion to library types; `main.rs` runs the commands and prints.

pub mod attested_tls;
pub mod bench;
pub mod cli;
pub mod client;
pub mod connection;
pub mod error;
pub mod files;
pub mod freshness;
pub mod import;
pub mod login;
pub mod offline;
pub mod random;
pub mod recovery;
pub mod trust;
pub mod workload;
