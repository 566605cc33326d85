//! Attestation evidence verification: Intel DCAP SGX (quote v3) and TDX
//! (quote v4/v5) quotes, real or simulated, checked against a [`Policy`].
//!
//! # Layout
//!
//! - [`evidence`]: the input forms (raw or hex quote, Open Enclave remote
//!   report, the enclave's `/attestation` JSON), reduced to one quote.
//! - [`quote`]: the quote, parsed once with dcap-qvl's parser; its length
//!   comes from its structure.
//! - [`chain`]: strict PEM chains and offline chain verification.
//! - [`roots`]: the Intel SGX Root CA and the published simulation root, and
//!   how a quote's certification chain picks one.
//! - [`verify`]: the flow. Signatures first (PCK chain, QE report, attestation
//!   key binding, quote signature; needs no collateral), then, with
//!   collateral, full DCAP verification by dcap-qvl (TCB info, QE identity,
//!   CRLs, TCB status), then the policy.
//! - [`held_data`]: the EnclaveHeldData binding (report_data = SHA-256 of it).
//! - [`audit`]: offline verification of the enclave's signed, hash-chained
//!   audit log, whose start entries carry evidence for the signing key.
//! - [`ratls`]: RA-TLS certificates: their evidence extensions and the
//!   binding of the evidence to the certificate's key.
//!
//! # Design
//!
//! Sync, cheap and I/O-free, so that a rustls certificate verifier can call
//! it: the caller reads files and picks the time. Simulation differs from
//! hardware only in the root; evidence under the simulation root is refused
//! unless [`Policy::allow_simulation`], and its claims always say
//! `"simulation": true`. Identity comes only from the verified quote.

pub mod audit;
pub mod chain;
pub mod claims;
pub mod error;
pub mod evidence;
pub mod held_data;
pub mod policy;
pub mod quote;
pub mod ratls;
pub mod roots;
pub mod verify;

pub use claims::{Claims, TdMeasurements};
pub use error::{CallerError, CollateralError, EvidenceError, PolicyError, VerifyError};
pub use evidence::{parse_evidence, Evidence};
pub use held_data::{AuditHead, Binding, HeldClaims, HeldData};
pub use policy::{Policy, TcbStatus};
pub use ratls::{certificate_evidence, verify_certificate, CertificateClaims, EvidenceFormat};
pub use roots::Root;
pub use verify::{
    collateral_window_json, verify_evidence, verify_parsed, verify_quote, VerifyOptions,
};
