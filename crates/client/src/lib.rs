//! The minikms client library and the `minikms` CLI's command-line types.
//!
//! # Layout
//!
//! - [`attested_tls`]: the rustls certificate verifier of attested TLS: a
//!   server is accepted only if its certificate's evidence verifies, binds
//!   the certificate's key and meets the policy. There is no unverified
//!   mode.
//! - [`connection`]: one attested HTTPS connection (HTTP/1.1 keep-alive).
//! - [`cli`]: the clap definitions (`minikms [OPTIONS] COMMAND`), with the
//!   attestation flags as one reusable [`cli::AttestationArgs`].
//! - [`commands`]: the commands that talk to a server.
//! - [`import`]: `minikms import`: bring your own key, wrapped client-side.
//! - [`trust`]: `minikms trust`: save the attested enclave's CA.
//! - [`bench`]: `minikms bench`, the load generator.
//! - [`verify_cmd`]: `minikms verify`, offline.
//! - [`audit_cmd`]: `minikms audit verify`: check an audit log offline
//!   with `minikms_verifier::audit`, print its summary.
//! - [`files`]: bounded reads of the user's files.

pub mod attested_tls;
pub mod audit_cmd;
pub mod bench;
pub mod cli;
pub mod commands;
pub mod connection;
pub mod files;
pub mod import;
pub mod trust;
pub mod verify_cmd;
