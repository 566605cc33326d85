//! Which kind of evidence a file holds, so that `minikms verify FILE` needs
//! no flag to say it: an RA-TLS certificate (for [`crate::ratls`], which
//! tells the quote or report inside apart), an SEV-SNP report, a Nitro
//! document; everything else goes to [`crate::evidence`] (quotes, Open
//! Enclave reports, `/attestation` JSON). Detection picks a parser; it
//! proves nothing.

use base64::Engine as _;

use crate::evidence::{decode_hex_text, MAX_EVIDENCE_LEN};
use crate::nitro::looks_like_document;
use crate::snp::looks_like_report;

/// What a file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    /// An X.509 certificate (DER, decoded from PEM if it was PEM), for
    /// [`crate::ratls`]; it may carry any DCAP quote or an SEV-SNP report.
    Certificate(Vec<u8>),
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
    if let Some(der) = certificate_der(input) {
        return Detected::Certificate(der);
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

/// The certificate in `input` (PEM, or DER), or `None` if it is not one.
/// A PEM block that does not decode is passed on as it is, for the
/// certificate parser to name what is wrong.
fn certificate_der(input: &[u8]) -> Option<Vec<u8>> {
    let text = input.trim_ascii_start();
    if text.starts_with(b"-----BEGIN CERTIFICATE-----") {
        return Some(pem::parse(text).map_or_else(|_| text.to_vec(), pem::Pem::into_contents));
    }
    // A DER certificate is a SEQUENCE (0x30) with a long-form length;
    // quotes start with their version (3, 4, 5), OE reports with 1, SNP
    // reports with 2, 3 or 5, a Nitro document with 0x84 or 0xD2, JSON
    // with '{', hex text with ASCII ('0' is 0x30, but never followed by a
    // byte >= 0x80).
    (input.first() == Some(&0x30) && input.get(1).is_some_and(|b| b & 0x80 != 0))
        .then(|| input.to_vec())
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
        let der = b"\x30\x82\x01\x00rest".to_vec();
        assert_eq!(detect(&der), Detected::Certificate(der.clone()));
        let pem = pem::encode(&pem::Pem::new("CERTIFICATE", der.clone()));
        assert_eq!(detect(pem.as_bytes()), Detected::Certificate(der));
    }
}
