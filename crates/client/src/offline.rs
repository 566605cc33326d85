//! Offline verification: attestation evidence or an RA-TLS certificate
//! (`minikms verify`), and an enclave's audit log (`minikms audit verify`),
//! under an [`Attestation`]. No server is involved.

use std::path::{Path, PathBuf};

use minikms_verifier::audit::{verify_log, LogOptions, Summary};
use minikms_verifier::{
    certificate_evidence, verify_certificate, verify_evidence, CertificateClaims, Claims,
};

use crate::attested_tls::{check_validity, Attestation};
use crate::error::Error;
use crate::files::read_file;

/// Files larger than this are not evidence or certificates.
pub const MAX_EVIDENCE_FILE: u64 = 4 << 20;
/// Logs larger than this are refused (read whole into memory).
pub const MAX_LOG_FILE: u64 = 1 << 30;

/// What verified evidence says.
#[derive(Debug, Clone)]
pub enum Verified {
    /// Evidence: a raw or hex quote, an Open Enclave remote report, or the
    /// enclave's `/attestation` JSON.
    Evidence(Claims),
    /// An RA-TLS certificate (PEM or DER) whose evidence verifies and binds
    /// its key.
    Certificate {
        /// What it proves.
        claims: CertificateClaims,
        /// Whether the verification time is within the certificate's
        /// validity. The dates matter to a TLS client, not to what the
        /// evidence proves: a certificate outside them still verifies.
        within_validity: bool,
    },
}

impl Verified {
    /// The claims as JSON.
    pub fn to_json(&self) -> Result<serde_json::Value, Error> {
        match self {
            Verified::Evidence(claims) => serde_json::to_value(claims),
            Verified::Certificate { claims, .. } => serde_json::to_value(claims),
        }
        .map_err(|e| Error::System(e.to_string()))
    }
}

/// Reads an evidence or certificate file.
pub fn read_evidence(path: &Path) -> Result<Vec<u8>, Error> {
    read_file(path, MAX_EVIDENCE_FILE)
}

/// Verifies `input` (any form [`read_evidence`] reads) at `at` (Unix
/// seconds) under `attestation`.
pub fn verify(input: &[u8], attestation: &Attestation, at: u64) -> Result<Verified, Error> {
    let options = attestation.options(at);
    match certificate_der(input)? {
        Some(der) => {
            let claims = verify_certificate(&der, &options, &attestation.policy)?;
            let within_validity = certificate_evidence(&der)
                .is_ok_and(|e| check_validity(e.not_before, e.not_after, at).is_ok());
            Ok(Verified::Certificate {
                claims,
                within_validity,
            })
        }
        None => Ok(Verified::Evidence(verify_evidence(
            input,
            &options,
            &attestation.policy,
        )?)),
    }
}

/// The certificate in `input` (PEM or DER), or `None` if it is not one.
fn certificate_der(input: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let text = input.trim_ascii_start();
    if text.starts_with(b"-----BEGIN CERTIFICATE-----") {
        let pem = pem::parse(text).map_err(|e| Error::Input(format!("certificate PEM: {e}")))?;
        return Ok(Some(pem.into_contents()));
    }
    // A DER certificate is a SEQUENCE (0x30) with a long-form length;
    // quotes start with their version (3, 4, 5), OE reports with 1, JSON
    // with '{', hex text with ASCII ('0' is 0x30, but never followed by a
    // byte >= 0x80).
    if input.first() == Some(&0x30) && input.get(1).is_some_and(|b| b & 0x80 != 0) {
        return Ok(Some(input.to_vec()));
    }
    Ok(None)
}

/// An audit log read into memory (`audit.log` in the enclave's data dir).
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl AuditLog {
    /// Reads the log at `path`.
    pub fn read(path: &Path) -> Result<Self, Error> {
        Ok(Self {
            path: path.to_path_buf(),
            bytes: read_file(path, MAX_LOG_FILE)?,
        })
    }

    /// Verifies the log (signatures, hash chain, and each start entry's
    /// evidence under `attestation`) and summarises it.
    pub fn verify(&self, attestation: &Attestation) -> Result<Summary, Error> {
        let options = LogOptions {
            collateral: attestation.collateral.as_deref(),
            offline: attestation.offline,
        };
        verify_log(&self.bytes, &options, &attestation.policy).map_err(|source| Error::Audit {
            path: self.path.clone(),
            source,
        })
    }
}
