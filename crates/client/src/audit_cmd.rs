//! `minikms audit verify FILE`: checks an enclave's audit log offline
//! (signatures, hash chain, and each start entry's attestation evidence
//! under the same policy flags as `minikms verify`) and returns its summary.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use minikms_verifier::audit::{verify_log, LogOptions, Summary};

use crate::cli::AuditVerifyArgs;

/// Logs larger than this are refused (read whole into memory).
const MAX_LOG_LEN: u64 = 1 << 30;
/// Collateral files larger than this are not collateral.
const MAX_COLLATERAL_LEN: u64 = 4 << 20;

/// `minikms audit verify`: prints the summary as JSON and exits 0, or
/// prints one line naming the first failure on stderr and exits 1.
pub fn run(args: &AuditVerifyArgs) -> ExitCode {
    let json = verify(args).and_then(|summary| {
        serde_json::to_string_pretty(&summary).map_err(|e| format!("cannot print the summary: {e}"))
    });
    match json {
        Ok(json) => {
            // A closed stdout (e.g. `| head`) is not worth a panic.
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{json}").and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Err(message) => {
            eprintln!(
                "{}",
                message.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            ExitCode::FAILURE
        }
    }
}

/// Run `audit verify`: the summary, or one line naming the first failure.
pub fn verify(args: &AuditVerifyArgs) -> Result<Summary, String> {
    let log = read_file(&args.file, MAX_LOG_LEN)?;
    let collateral = args
        .collateral
        .as_deref()
        .map(|p| read_file(p, MAX_COLLATERAL_LEN))
        .transpose()?;
    let options = LogOptions {
        collateral: collateral.as_deref(),
        offline: args.offline,
    };
    verify_log(&log, &options, &args.policy.to_policy())
        .map_err(|e| format!("{}: {e}", args.file.display()))
}

fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > limit {
        return Err(format!("{} is larger than {limit} bytes", path.display()));
    }
    Ok(bytes)
}
