//! `minikms audit verify FILE`: checks an enclave's audit log offline
//! (signatures, hash chain, and each start entry's attestation evidence
//! under the same attestation flags as `minikms verify`) and returns its
//! summary.

use minikms_verifier::audit::{verify_log, LogOptions};

use crate::cli::{AttestationArgs, AuditVerifyArgs};
use crate::commands::attestation;
use crate::files::read_file;

/// Logs larger than this are refused (read whole into memory).
const MAX_LOG_LEN: u64 = 1 << 30;

/// Run `audit verify`: the summary as JSON, or one line naming the first
/// failure.
pub fn run(args: &AuditVerifyArgs, flags: &AttestationArgs) -> Result<serde_json::Value, String> {
    let log = read_file(&args.file, MAX_LOG_LEN)?;
    let attestation = attestation(flags)?;
    let options = LogOptions {
        collateral: attestation.collateral.as_deref(),
        offline: attestation.offline,
    };
    let summary = verify_log(&log, &options, &attestation.policy)
        .map_err(|e| format!("{}: {e}", args.file.display()))?;
    serde_json::to_value(&summary).map_err(|e| format!("cannot print the summary: {e}"))
}
