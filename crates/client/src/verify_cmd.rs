//! `minikms verify`: evidence or an RA-TLS certificate, offline.

use minikms_verifier::{verify_certificate, verify_evidence, VerifyOptions};

use crate::attested_tls::unix_now;
use crate::cli::{AttestationArgs, VerifyArgs};
use crate::commands::attestation;
use crate::files::read_file;

/// Files larger than this are not evidence or certificates.
const MAX_FILE_LEN: u64 = 4 << 20;

/// Run `verify`: the claims as JSON, or one line naming the first failed
/// check.
pub fn run(args: &VerifyArgs, flags: &AttestationArgs) -> Result<serde_json::Value, String> {
    let input = read_file(&args.file, MAX_FILE_LEN)?;
    let attestation = attestation(flags)?;
    let at = args.at.unwrap_or_else(unix_now);
    let options = VerifyOptions {
        at,
        collateral: attestation.collateral.as_deref(),
        offline: attestation.offline,
    };
    let json = match certificate_der(&input)? {
        Some(der) => {
            let claims = verify_certificate(&der, &options, &attestation.policy)
                .map_err(|e| e.to_string())?;
            // The dates matter to a TLS client, not to what the evidence
            // proves: say so, but verify.
            let at_rfc = minikms_verifier::verify::rfc3339(at);
            if at_rfc < claims.not_before || at_rfc > claims.not_after {
                eprintln!(
                    "note: the certificate is valid only from {} to {}; a TLS client would refuse it now",
                    claims.not_before, claims.not_after
                );
            }
            serde_json::to_value(&claims)
        }
        None => serde_json::to_value(
            verify_evidence(&input, &options, &attestation.policy).map_err(|e| e.to_string())?,
        ),
    };
    json.map_err(|e| e.to_string())
}

/// The certificate in `input` (PEM or DER), or `None` if it is not one.
fn certificate_der(input: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let text = input.trim_ascii_start();
    if text.starts_with(b"-----BEGIN CERTIFICATE-----") {
        let pem = pem::parse(text).map_err(|e| format!("certificate PEM: {e}"))?;
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
