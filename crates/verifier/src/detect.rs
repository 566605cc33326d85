//! Which kind of evidence a file holds, so that `minikms verify FILE` needs
//! no flag to say it. Only the SEV-SNP report and the Nitro document are
//! told apart here: everything else goes to [`crate::evidence`] (quotes,
//! Open Enclave reports, `/attestation` JSON) or, for certificates, to
//! [`crate::ratls`]. Detection picks a parser; it proves nothing.

use base64::Engine as _;

use crate::evidence::{decode_hex_text, MAX_EVIDENCE_LEN};
use crate::nitro::looks_like_document;
use crate::snp::looks_like_report;

/// What a file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    /// An SEV-SNP attestation report (raw bytes, decoded from hex text if
    /// it was hex).
    SnpReport(Vec<u8>),
    /// A Nitro attestation document (raw COSE_Sign1 bytes, decoded from
    /// base64 or hex text if it was text).
    NitroDocument(Vec<u8>),
    /// Anything else: a DCAP quote in one of its forms, or not evidence.
    Other,
}

/// Detect the kind of `input`: raw bytes, hex text (SNP reports are often
/// kept as hex) or base64 text (Nitro documents often are).
pub fn detect(input: &[u8]) -> Detected {
    if input.len() > MAX_EVIDENCE_LEN {
        return Detected::Other;
    }
    let decoded = decode_hex_text(input).or_else(|| decode_base64_text(input));
    let bytes = decoded.as_deref().unwrap_or(input);
    if looks_like_report(bytes) {
        Detected::SnpReport(bytes.to_vec())
    } else if looks_like_document(bytes) {
        Detected::NitroDocument(bytes.to_vec())
    } else {
        Detected::Other
    }
}

/// Standard base64 with padding, ASCII whitespace ignored; `None` if the
/// input is not that.
fn decode_base64_text(text: &[u8]) -> Option<Vec<u8>> {
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if compact.is_empty() {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let mut report = vec![0u8; crate::snp::report::REPORT_LEN];
        report[0] = 2;
        report[0x34] = 1;
        assert_eq!(detect(&report), Detected::SnpReport(report.clone()));
        let hex = hex::encode(&report);
        assert_eq!(detect(hex.as_bytes()), Detected::SnpReport(report));
        let doc = b"\x84\x44\xa1\x01\x38\x22\xa0\xf6\x40".to_vec();
        assert_eq!(detect(&doc), Detected::NitroDocument(doc.clone()));
        let b64 = base64::engine::general_purpose::STANDARD.encode(&doc);
        assert_eq!(
            detect(format!("{b64}\n").as_bytes()),
            Detected::NitroDocument(doc)
        );
        assert_eq!(detect(b"\x03\x00\x02\x00"), Detected::Other);
        assert_eq!(detect(b"{\"QuoteHex\":\"00\"}"), Detected::Other);
    }
}
