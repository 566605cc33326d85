//! Offline verification: attestation evidence (DCAP quotes, SEV-SNP
//! reports, Nitro documents) or an RA-TLS certificate (`minikms verify`),
//! and an enclave's audit log (`minikms audit verify`), under an
//! [`Attestation`]. No server is involved, and nothing is fetched.

use std::path::{Path, PathBuf};

use minikms_verifier::audit::{ends, timeline, Chain, LogOptions, Summary, Timed};
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

/// An audit log file read into memory (`audit.log` in the enclave's data
/// dir, or a rotated `audit.log.SEQ`).
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

    /// Its entries with their times (after verifying).
    pub fn timeline(&self) -> Result<Vec<Timed>, Error> {
        timeline(&self.bytes).map_err(|source| Error::Audit {
            path: self.path.clone(),
            source,
        })
    }
}

/// Verifies one log given as `files` in order (a rotated log: signatures,
/// hash chain across the files, and each segment's evidence under
/// `attestation`) and summarises it. An error names the file.
pub fn verify_chain(files: &[&AuditLog], attestation: &Attestation) -> Result<Summary, Error> {
    let options = LogOptions {
        collateral: attestation.collateral.as_deref(),
        offline: attestation.offline,
    };
    let mut chain = Chain::new(&options, &attestation.policy);
    for file in files {
        chain.file(&file.bytes).map_err(|source| Error::Audit {
            path: file.path.clone(),
            source,
        })?;
    }
    let last = files.last().map(|f| f.path.clone()).unwrap_or_default();
    chain
        .finish()
        .map_err(|source| Error::Audit { path: last, source })
}

/// The files grouped into logs, each in chain order: a file whose first
/// entry is a `continue` entry that follows another file's last entry
/// (the same seq plus one, `prev` its hash) comes after that file. The
/// logs are in the order of the first file of each in `files`.
pub fn group_logs(files: &[AuditLog]) -> Vec<Vec<&AuditLog>> {
    let ends: Vec<_> = files.iter().map(|f| ends(&f.bytes)).collect();
    let follows = |j: usize, i: usize| match (&ends[j], &ends[i]) {
        (Some(later), Some(earlier)) => later.continues.as_ref().is_some_and(|(seq, prev)| {
            i != j && *seq == earlier.last.0 + 1 && *prev == earlier.last.1
        }),
        _ => false,
    };
    let before: Vec<Option<usize>> = (0..files.len())
        .map(|j| (0..files.len()).find(|&i| follows(j, i)))
        .collect();
    let mut logs = Vec::new();
    let mut placed = vec![false; files.len()];
    for head in 0..files.len() {
        if before[head].is_some() || placed[head] {
            continue;
        }
        let mut log = vec![&files[head]];
        placed[head] = true;
        let mut at = head;
        while let Some(next) = (0..files.len()).find(|&j| !placed[j] && before[j] == Some(at)) {
            log.push(&files[next]);
            placed[next] = true;
            at = next;
        }
        logs.push(log);
    }
    // Files left in a cycle (only a forged set could link so): alone.
    logs.extend(
        (0..files.len())
            .filter(|&i| !placed[i])
            .map(|i| vec![&files[i]]),
    );
    logs
}

/// Several logs (one per replica), each verified, and all their entries
/// merged by time: `{"logs": [{"file", "files", "summary"}...], "merged":
/// [{"log": INDEX, "entry": ENTRY}...]}`. The first log that fails ends it.
pub fn verify_logs(
    logs: &[Vec<&AuditLog>],
    attestation: &Attestation,
) -> Result<serde_json::Value, Error> {
    let mut summaries = Vec::with_capacity(logs.len());
    let mut merged = Vec::new();
    for (i, files) in logs.iter().enumerate() {
        let summary = verify_chain(files, attestation)?;
        let names: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
        summaries.push(serde_json::json!({
            "file": names.last(),
            "files": names,
            "summary": summary,
        }));
        for file in files {
            merged.extend(file.timeline()?.into_iter().map(|t| (i, t)));
        }
    }
    merged.sort_by_key(|(log, t)| (t.time, *log, t.entry.seq()));
    let merged: Vec<serde_json::Value> = merged
        .into_iter()
        .map(|(i, t)| serde_json::json!({"log": i, "entry": t.entry}))
        .collect();
    Ok(serde_json::json!({"logs": summaries, "merged": merged}))
}
