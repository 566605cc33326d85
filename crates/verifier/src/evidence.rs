//! The input forms evidence arrives in, reduced to one quote plus what came
//! with it. Nothing here is trusted: identity comes only from the verified
//! quote.

use serde::Deserialize;

use crate::error::EvidenceError;

/// Upper bound for any evidence input (a quote is a few KiB).
pub const MAX_EVIDENCE_LEN: usize = 1 << 20;

/// Evidence reduced to its parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The quote bytes, possibly followed by zero padding.
    pub quote: Vec<u8>,
    /// EnclaveHeldData from the `/attestation` JSON, if any.
    pub held_data: Option<Vec<u8>>,
    /// MRENCLAVE the JSON claims (checked against the quote, never trusted).
    pub claimed_mrenclave: Option<String>,
    /// MRSIGNER the JSON claims (checked against the quote, never trusted).
    pub claimed_mrsigner: Option<String>,
    /// "platform" the JSON claims (checked against the verified root).
    pub claimed_platform: Option<String>,
    /// Collateral carried in the JSON (QuoteCollateralV3 JSON text).
    pub collateral: Option<Vec<u8>>,
}

/// The `/attestation` JSON document (fields we read; others are ignored).
#[derive(Deserialize)]
struct AttestationJson {
    #[serde(rename = "QuoteHex")]
    quote_hex: String,
    #[serde(rename = "EnclaveHeldDataHex", default)]
    held_data_hex: Option<String>,
    #[serde(rename = "MrEnclaveHex", default)]
    mrenclave_hex: Option<String>,
    #[serde(rename = "MrSignerHex", default)]
    mrsigner_hex: Option<String>,
    #[serde(default)]
    platform: Option<String>,
    #[serde(rename = "CollateralJson", default)]
    collateral: Option<serde_json::Value>,
}

/// Read evidence in any accepted form: a raw quote (binary), hex text of
/// one (optional `0x` prefix, whitespace ignored), an Open Enclave remote
/// report (16-byte header + quote), or the enclave's `/attestation` JSON.
pub fn parse_evidence(input: &[u8]) -> Result<Evidence, EvidenceError> {
    if input.len() > MAX_EVIDENCE_LEN {
        return Err(EvidenceError::Malformed(format!(
            "evidence larger than {MAX_EVIDENCE_LEN} bytes"
        )));
    }
    let trimmed = input.trim_ascii();
    if trimmed.first() == Some(&b'{') {
        return parse_json(trimmed);
    }
    if let Some(bytes) = decode_hex_text(trimmed) {
        return Ok(Evidence {
            quote: strip_oe_header(&bytes)?,
            ..Evidence::default()
        });
    }
    Ok(Evidence {
        quote: strip_oe_header(input)?,
        ..Evidence::default()
    })
}

fn parse_json(text: &[u8]) -> Result<Evidence, EvidenceError> {
    let doc: AttestationJson = serde_json::from_slice(text)
        .map_err(|e| EvidenceError::Malformed(format!("attestation JSON: {e}")))?;
    let quote_bytes = decode_hex_text(doc.quote_hex.as_bytes())
        .ok_or_else(|| EvidenceError::Malformed("QuoteHex is not hex".into()))?;
    let held_data = match doc.held_data_hex {
        None => None,
        Some(h) if h.trim().is_empty() => None,
        Some(h) => Some(
            decode_hex_text(h.as_bytes())
                .ok_or_else(|| EvidenceError::Malformed("EnclaveHeldDataHex is not hex".into()))?,
        ),
    };
    let collateral = match doc.collateral {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => Some(
            serde_json::to_vec(&value)
                .map_err(|e| EvidenceError::Malformed(format!("CollateralJson: {e}")))?,
        ),
    };
    Ok(Evidence {
        quote: strip_oe_header(&quote_bytes)?,
        held_data,
        claimed_mrenclave: doc.mrenclave_hex.filter(|s| !s.trim().is_empty()),
        claimed_mrsigner: doc.mrsigner_hex.filter(|s| !s.trim().is_empty()),
        claimed_platform: doc.platform,
        collateral,
    })
}

/// Hex text (optional `0x`, ASCII whitespace anywhere) to bytes; `None` if
/// the input is not entirely hex.
pub fn decode_hex_text(text: &[u8]) -> Option<Vec<u8>> {
    let text = text.trim_ascii();
    let text = text
        .strip_prefix(b"0x")
        .or_else(|| text.strip_prefix(b"0X"))
        .unwrap_or(text);
    let digits: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    hex::decode(digits).ok()
}

/// Open Enclave `oe_report_header_t`: version 1, report type 2 (SGX remote).
const OE_HEADER_LEN: usize = 16;

/// If `bytes` is an Open Enclave remote report, return the quote inside;
/// otherwise return `bytes` unchanged.
fn strip_oe_header(bytes: &[u8]) -> Result<Vec<u8>, EvidenceError> {
    let Some((header, rest)) = bytes.split_first_chunk::<OE_HEADER_LEN>() else {
        return Ok(bytes.to_vec());
    };
    let version = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let report_type = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if version != 1 {
        return Ok(bytes.to_vec());
    }
    if report_type != 2 {
        return Err(EvidenceError::Unsupported(format!(
            "Open Enclave report type {report_type} (only 2, SGX remote, carries a quote)"
        )));
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&header[8..16]);
    let size = usize::try_from(u64::from_le_bytes(size)).unwrap_or(usize::MAX);
    let quote = rest.get(..size).ok_or_else(|| {
        EvidenceError::Malformed(format!(
            "Open Enclave report says {size} bytes of quote, {} present",
            rest.len()
        ))
    })?;
    if rest[size..].iter().any(|&b| b != 0) {
        return Err(EvidenceError::Malformed(
            "trailing data after the Open Enclave report".into(),
        ));
    }
    Ok(quote.to_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hex_text_forms() {
        assert_eq!(decode_hex_text(b" 0XaB cd\n"), Some(vec![0xab, 0xcd]));
        assert_eq!(decode_hex_text(b"abc"), None);
        assert_eq!(decode_hex_text(b"zz"), None);
        assert_eq!(decode_hex_text(b""), None);
    }

    #[test]
    fn open_enclave_header() {
        let mut oe = vec![1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 9, 8, 7];
        assert_eq!(parse_evidence(&oe).unwrap().quote, vec![9, 8, 7]);
        oe.push(0);
        assert_eq!(parse_evidence(&oe).unwrap().quote, vec![9, 8, 7]);
        oe.push(1);
        assert!(parse_evidence(&oe).is_err());
        oe[4] = 1; // a local report carries no quote
        assert!(matches!(
            parse_evidence(&oe),
            Err(EvidenceError::Unsupported(_))
        ));
        oe[4] = 2;
        oe[8] = 200; // longer than present
        assert!(parse_evidence(&oe).is_err());
    }

    #[test]
    fn attestation_json() {
        let ev = parse_evidence(
            br#"{"QuoteHex":"0x0102","EnclaveHeldDataHex":"ff","MrEnclaveHex":"AA","platform":"sgx"}"#,
        )
        .unwrap();
        assert_eq!(ev.quote, vec![1, 2]);
        assert_eq!(ev.held_data, Some(vec![0xff]));
        assert_eq!(ev.claimed_mrenclave.as_deref(), Some("AA"));
        assert!(parse_evidence(br#"{"MrEnclaveHex":"AA"}"#).is_err());
        assert!(parse_evidence(br#"{"QuoteHex":"xyz"}"#).is_err());
    }
}
