//! Offline verification: attestation evidence (DCAP quotes, SEV-SNP
//! reports, Nitro documents) or an RA-TLS certificate (`minikms verify`),
//! and an enclave's audit log (`minikms audit verify`), under an
//! [`Attestation`]. No server is involved, and nothing is fetched.

use std::path::{Path, PathBuf};

use minikms_verifier::audit::{timeline, verify_log, LogOptions, Summary, Timed};
use minikms_verifier::{
    certificate_evidence, detect, verify_certificate_with, verify_document, verify_evidence,
    verify_report, CallerError, CertificateClaims, Claims, Detected, NitroClaims, VerifyError,
};

use crate::attested_tls::{check_validity, unix_now, Attestation};
use crate::error::Error;
use crate::files::read_file;

/// Files larger than this are not evidence or certificates.
pub const MAX_EVIDENCE_FILE: u64 = 4 << 20;
/// Logs larger than this are refused (read whole into memory).
pub const MAX_LOG_FILE: u64 = 1 << 30;

/// What verified evidence says.
#[derive(Debug, Clone)]
pub enum Verified {
    /// Evidence: a raw or hex quote, an Open Enclave remote report, the
    /// enclave's `/attestation` JSON, or an SEV-SNP report.
    Evidence(Claims),
    /// A Nitro attestation document.
    Nitro(NitroClaims),
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
            Verified::Nitro(claims) => serde_json::to_value(claims),
        }
        .map_err(|e| Error::System(e.to_string()))
    }
}

/// Reads an evidence or certificate file.
pub fn read_evidence(path: &Path) -> Result<Vec<u8>, Error> {
    read_file(path, MAX_EVIDENCE_FILE)
}

/// Verifies `input` (any form [`read_evidence`] reads: a certificate, an
/// SEV-SNP report, a Nitro document or a DCAP quote in any of its forms)
/// under `attestation`, at `at` (Unix seconds; `None`: now, except for a
/// Nitro document, whose certificates are checked at its own timestamp).
pub fn verify(input: &[u8], at: Option<u64>, attestation: &Attestation) -> Result<Verified, Error> {
    let nitro_at = at;
    let at = at.unwrap_or_else(unix_now);
    let policy = &attestation.policy;
    let detected = detect(input);
    let amd = attestation.amd_certs();
    let carries_snp = match &detected {
        Detected::SnpReport(_) => true,
        Detected::Certificate(der) => certificate_evidence(der).is_ok_and(|e| e.is_snp_report()),
        Detected::NitroDocument(_) | Detected::Other => false,
    };
    if amd.is_some() && !carries_snp {
        return Err(Error::Input(
            "--vcek and --amd-chain are for SEV-SNP reports (or certificates carrying one), \
             and this is not one"
                .into(),
        ));
    }
    let options = attestation.options(at);
    match detected {
        Detected::SnpReport(report) => {
            let amd = amd
                .ok_or(CallerError::NoAmdCerts)
                .map_err(VerifyError::from)?;
            let claims = verify_report(&report, amd.vcek, amd.amd_chain, at, policy)?;
            Ok(Verified::Evidence(claims))
        }
        Detected::NitroDocument(doc) => {
            Ok(Verified::Nitro(verify_document(&doc, nitro_at, policy)?))
        }
        Detected::Certificate(der) => {
            let claims = verify_certificate_with(&der, &options, amd.as_ref(), policy)?;
            let within_validity = certificate_evidence(&der)
                .is_ok_and(|e| check_validity(e.not_before, e.not_after, at).is_ok());
            Ok(Verified::Certificate {
                claims,
                within_validity,
            })
        }
        Detected::Other => Ok(Verified::Evidence(verify_evidence(
            input, &options, policy,
        )?)),
    }
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

    /// Its entries with their times (after [`Self::verify`]).
    pub fn timeline(&self) -> Result<Vec<Timed>, Error> {
        timeline(&self.bytes).map_err(|source| Error::Audit {
            path: self.path.clone(),
            source,
        })
    }
}

/// Several logs (one per replica), each verified, and all their entries
/// merged by time: `{"logs": [{"file", "summary"}...], "merged": [{"log":
/// INDEX, "entry": ENTRY}...]}`. The first log that fails ends it.
pub fn verify_logs(
    logs: &[AuditLog],
    attestation: &Attestation,
) -> Result<serde_json::Value, Error> {
    let mut summaries = Vec::with_capacity(logs.len());
    let mut merged = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        let summary = log.verify(attestation)?;
        summaries.push(serde_json::json!({
            "file": log.path.display().to_string(),
            "summary": summary,
        }));
        merged.extend(log.timeline()?.into_iter().map(|t| (i, t)));
    }
    merged.sort_by_key(|(log, t)| (t.time, *log, t.entry.seq()));
    let merged: Vec<serde_json::Value> = merged
        .into_iter()
        .map(|(i, t)| serde_json::json!({"log": i, "entry": t.entry}))
        .collect();
    Ok(serde_json::json!({"logs": summaries, "merged": merged}))
}
