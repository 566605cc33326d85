//! Enclave identity, as SGX defines it, shared by the untrusted host (which
//! signs and checks before launch) and the enclave (which re-checks itself).
//!
//! Layout:
//! - [`config`]: the enclave configuration (the tutorial's `kms.conf`, in TOML)
//!   and its canonical binary form, the "enclave properties".
//! - [`measure`]: MRENCLAVE, computed the way SGX builds it (ECREATE, EADD,
//!   EEXTEND over a page layout holding the properties, the binary, heap,
//!   stacks and TCSs).
//! - [`sigstruct`]: the 1808-byte SGX SIGSTRUCT: layout, RSA-3072 (e = 3)
//!   PKCS#1 v1.5 SHA-256 signing and verification, MRSIGNER.
//! - [`image`]: the signed enclave file: the enclave ELF followed by its
//!   properties, SIGSTRUCT and a trailer. It stays directly executable.
//!
//! Everything here parses untrusted bytes with bounded, exact-length readers
//! and returns [`Error`]; nothing panics on bad input.

pub mod config;
pub mod image;
pub mod measure;
pub mod sigstruct;

pub use config::EnclaveConfig;
pub use image::{verify_image, SignedImage};
pub use sigstruct::{Identity, SigningKey, Sigstruct};

/// A 32-byte SGX measurement (MRENCLAVE or MRSIGNER).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Measurement(pub [u8; 32]);

impl Measurement {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Measurement({})", self.to_hex())
    }
}

/// Why an enclave config, signing key or signed image was refused. Messages
/// are written for the operator and never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid enclave config: {0}")]
    Config(String),
    #[error("signing key must be RSA-3072 with public exponent 3 (the SGX rule); {0}")]
    SigningKey(String),
    #[error("not a signed enclave: {0}")]
    Format(String),
    #[error("enclave signature does not verify: the SIGSTRUCT was not signed by the key it names")]
    BadSignature,
    #[error("enclave measurement mismatch: the binary or its config changed after signing (signed MRENCLAVE {signed}, measured {measured})")]
    MeasurementMismatch {
        signed: Measurement,
        measured: Measurement,
    },
}
