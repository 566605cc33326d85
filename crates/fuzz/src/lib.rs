//! Fuzz entry points: one public function per target, each handing
//! arbitrary bytes to the real parser of bytes that an attacker (a client)
//! or the untrusted host controls. The cargo-fuzz targets in `fuzz/` are
//! one-liners calling these; `tests/corpora.rs` replays every corpus file
//! through them on stable, as part of `cargo test`.
//!
//! An entry point ignores the parser's answer (an error is a correct
//! refusal); a panic, a hang or an abort is a finding. Costly set-up
//! (a wrapping key, an opened API) is made once per process.
//!
//! - [`enclave`]: what the enclave reads: requests (classifier, JSON
//!   bodies through the real router), ACL policies, `vault:vN:` strings,
//!   BYOK, the key store, its audit log, ECALL frames, Gramine's files.
//! - [`verifier`]: what clients and auditors read: quotes, evidence,
//!   SEV-SNP reports, Nitro documents, RA-TLS certificates, PEM chains, held-data claims, collateral, the
//!   audit log offline, and the host's reading of OCALL frames.
//! - [`kmip`]: what the KMIP listener reads: TTLV, whole request messages.

pub mod enclave;
mod frames;
pub mod kmip;
pub mod verifier;

pub use enclave::*;
pub use kmip::*;
pub use verifier::*;

/// A target's entry point.
pub type Entry = fn(&[u8]);

/// Every target: its name (its `fuzz/corpus/<name>/` folder and its
/// cargo-fuzz binary) and its entry point.
pub const TARGETS: &[(&str, Entry)] = &[
    ("classify", classify),
    ("http_request", http_request),
    ("restore", restore),
    ("acl_policy", acl_policy),
    ("versioned", versioned),
    ("import_key", import_key),
    ("byok_unwrap", byok_unwrap),
    ("store_open", store_open),
    ("state_records", state_records),
    ("audit_reader", audit_reader),
    ("audit_line", audit_line),
    ("audit_verify", audit_verify),
    ("ecall", ecall),
    ("ocall", ocall),
    ("gramine", gramine),
    ("quote", quote),
    ("evidence", evidence),
    ("ratls_cert", ratls_cert),
    ("pem_chain", pem_chain),
    ("held_claims", held_claims),
    ("collateral", collateral),
    ("snp_report", snp_report),
    ("nitro_document", nitro_document),
    ("kmip_ttlv", kmip_ttlv),
    ("kmip_request", kmip_request),
];
