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
mod error;
pub mod image;
pub mod measure;
mod measurement;
pub mod sigstruct;

pub use config::EnclaveConfig;
pub use error::Error;
pub use image::{verify_image, SignedImage};
pub use measurement::Measurement;
pub use sigstruct::{Identity, SigningKey, Sigstruct};
