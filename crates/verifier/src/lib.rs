//! Attestation evidence verification: Intel DCAP SGX (quote v3) and TDX
//! (quote v4/v5) quotes, real or simulated, AMD SEV-SNP reports and AWS
//! Nitro Enclaves attestation documents, checked against a [`Policy`].
//!
//! # Layout
//!
//! - [`detect`]: which kind of evidence a file holds (SEV-SNP report, Nitro
//!   document, or the DCAP forms below).
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
//!   CRLs, TCB status), then the policy (`policy_check`, shared with
//!   [`snp`]).
//! - [`held_data`]: the EnclaveHeldData binding (report_data = SHA-256 of it).
//! - [`audit`]: offline verification of the enclave's signed, hash-chained
//!   audit log, whose start entries carry evidence for the signing key.
//! - [`ratls`]: RA-TLS certificates (SGX or TDX quote, or SEV-SNP report):
//!   their evidence extensions and the binding of the evidence to the
//!   certificate's key.
//! - [`snp`]: SEV-SNP reports (fixed layout read with zerocopy in
//!   `snp::report`): VCEK → ASK → ARK up to a built-in ARK, the report
//!   signature, the VCEK's TCB and chip id against the report, the policy.
//! - [`nitro`]: Nitro documents (COSE_Sign1 via coset, payload via
//!   ciborium): the cabundle up to the built-in AWS root, the COSE
//!   signature, PCRs and binding fields as claims.
//! - [`pki`]: X.509 signatures and chains for the AMD and AWS PKIs (ECDSA
//!   P-256/P-384, RSA-PSS SHA-384), separate from Intel's stricter
//!   [`chain`].
//! - [`tls`]: the rustls verifier all of minikms' TLS peers use: the
//!   caller's certificate check, rustls' handshake signature check.
//!
//! # Design
//!
//! Sync, cheap and I/O-free, so that a rustls certificate verifier can call
//! it: the caller reads files and picks the time. Simulation differs from
//! hardware only in the root; evidence under the simulation root is refused
//! unless [`Policy::allow_simulation`], and its claims always say
//! `"simulation": true`. Identity comes only from the verified quote. The
//! roots of real hardware (Intel, AMD, AWS) are built in and pinned by
//! fingerprint; nothing is fetched.

pub mod audit;
pub mod chain;
pub mod claims;
pub mod detect;
pub mod error;
pub mod evidence;
pub mod held_data;
pub mod nitro;
pub mod pki;
pub mod policy;
mod policy_check;
pub mod quote;
pub mod ratls;
pub mod roots;
pub mod snp;
pub mod tls;
pub mod verify;

pub use claims::{Claims, SnpMeasurements, TdMeasurements};
pub use detect::{detect, Detected};
pub use error::{CallerError, CertError, CollateralError, EvidenceError, PolicyError, VerifyError};
pub use evidence::{parse_evidence, Evidence};
pub use held_data::{AuditHead, Binding, HeldClaims, HeldData};
pub use nitro::{verify_document, NitroClaims};
pub use policy::{Policy, TcbStatus};
pub use ratls::{
    certificate_evidence, verify_certificate, verify_certificate_with, CertificateClaims,
    EvidenceFormat,
};
pub use roots::Root;
pub use snp::{verify_report, AmdCerts};
pub use verify::{
    collateral_window_json, verify_evidence, verify_parsed, verify_quote, VerifyOptions,
};
