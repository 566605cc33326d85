//! The minikms client library and the `minikms` CLI's command-line types.
//!
//! # Layout
//!
//! - [`cli`]: the clap definitions (`minikms [GLOBAL OPTIONS] COMMAND`), with
//!   the policy flags as one reusable [`cli::PolicyArgs`].
//! - [`verify_cmd`]: `minikms verify`: read evidence and collateral, call
//!   `minikms_verifier`, print the claims.
//! - [`audit_cmd`]: `minikms audit verify`: check an audit log offline
//!   with `minikms_verifier::audit`, print its summary.

pub mod audit_cmd;
pub mod cli;
pub mod verify_cmd;
