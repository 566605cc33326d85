//! Offline verification: attestation evidence (DCAP quotes, SEV-SNP
//! reports, Nitro documents) or an RA-TLS certificate (`minikms verify`),
//! and an enclave's audit log (`minikms audit verify`), under an
//! [`Attestation`]. No server is involved, and nothing is fetched.

use std::path::{Path, PathBuf};

use minikms_verifier::audit::{timeline, verify_log, LogOptions, Summary, Timed};
use minikms_verifier::{
    certificate_evidence, detect, verify_certificate, verify_document, verify_evidence,
    verify_report, CertificateClaims, Claims, Detected, NitroClaims,
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

/// What `minikms verify` checks evidence with, besides the policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyInputs<'a> {
    /// Verification time, Unix seconds. `None`: now, except for a Nitro
    /// document, whose certificates are checked at its own timestamp.
    pub at: Option<u64>,
    /// SEV-SNP: the VCEK (DER) that signed the report.
    pub vcek: Option<&'a [u8]>,
    /// SEV-SNP: AMD's ASK then ARK (PEM).
    pub amd_chain: Option<&'a [u8]>,
}

/// Verifies `input` (any form [`read_evidence`] reads: a certificate, an
/// SEV-SNP report, a Nitro document or a DCAP quote in any of its forms)
/// under `attestation`.
pub fn verify(
    input: &[u8],
    inputs: &VerifyInputs<'_>,
    attestation: &Attestation,
) -> Result<Verified, Error> {
    let at = inputs.at.unwrap_or_else(unix_now);
    let policy = &attestation.policy;
    let detected = match certificate_der(input)? {
        Some(_) => Detected::Other,
        None => detect(input),
    };
    let snp_files = inputs.vcek.is_some() || inputs.amd_chain.is_some();
    if snp_files && !matches!(detected, Detected::SnpReport(_)) {
        return Err(Error::Input(
            "--vcek and --amd-chain are for SEV-SNP reports, and this is not one".into(),
        ));
    }
    match detected {
        Detected::SnpReport(report) => {
            let (Some(vcek), Some(chain)) = (inputs.vcek, inputs.amd_chain) else {
                return Err(Error::Input(
                    "an SEV-SNP report: pass --vcek VCEK.der and --amd-chain ASK_ARK.pem \
                     (nothing is fetched)"
                        .into(),
                ));
            };
            let claims = verify_report(&report, vcek, chain, at, policy)?;
            return Ok(Verified::Evidence(claims));
        }
        Detected::NitroDocument(doc) => {
            return Ok(Verified::Nitro(verify_document(&doc, inputs.at, policy)?));
        }
        Detected::Other => {}
    }
    let options = attestation.options(at);
    match certificate_der(input)? {
        Some(der) => {
            let claims = verify_certificate(&der, &options, policy)?;
            let within_validity = certificate_evidence(&der)
                .is_ok_and(|e| check_validity(e.not_before, e.not_after, at).is_ok());
            Ok(Verified::Certificate {
                claims,
                within_validity,
            })
        }
        None => Ok(Verified::Evidence(verify_evidence(
            input, &options, policy,
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
