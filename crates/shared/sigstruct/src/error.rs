//! [`Error`], the crate's one error type, on its own so that every other
//! module can return it without a cycle.

use crate::measurement::Measurement;

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
