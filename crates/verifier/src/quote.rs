//! The quote: parsed once with dcap-qvl's parser, its exact length found from
//! its structure (trailing zero padding is ignored, anything else refused).

use dcap_qvl::quote::{AuthData, AuthDataV3, Quote, Report};

use crate::error::EvidenceError;

/// A parsed quote and the exact bytes it was parsed from.
pub struct ParsedQuote {
    /// The quote bytes, without padding.
    pub raw: Vec<u8>,
    /// The parsed quote.
    pub quote: Quote,
    /// Its authentication data (v4/v5 flattened to the v3 shape).
    pub auth: AuthDataV3,
}

/// Intel's QE vendor id (also used by the simulated QE).
pub const INTEL_QE_VENDOR_ID: [u8; 16] = dcap_qvl::INTEL_QE_VENDOR_ID;

/// Parse a quote. SGX quotes must be v3, TDX quotes v4 or v5, with an ECDSA
/// P-256 attestation key.
pub fn parse_quote(bytes: &[u8]) -> Result<ParsedQuote, EvidenceError> {
    let (quote, used) = decode_quote(bytes)?;
    let (raw, trailing) = bytes.split_at(used);
    if trailing.iter().any(|&b| b != 0) {
        return Err(EvidenceError::Malformed(format!(
            "{} bytes of trailing data after the {used}-byte quote",
            trailing.len()
        )));
    }
    let h = &quote.header;
    match (h.tee_type, h.version, &quote.report) {
        (0, 3, Report::SgxEnclave(_)) => {}
        (0x81, 4 | 5, Report::TD10(_) | Report::TD15(_) | Report::TD15Ex(_)) => {}
        (tee, version, _) => {
            return Err(EvidenceError::Unsupported(format!(
                "TEE type {tee:#x}, version {version} (SGX quotes must be v3, TDX quotes v4 or v5)"
            )))
        }
    }
    if h.attestation_key_type != 2 {
        return Err(EvidenceError::Unsupported(format!(
            "attestation key type {} (only 2, ECDSA P-256)",
            h.attestation_key_type
        )));
    }
    if h.qe_vendor_id != INTEL_QE_VENDOR_ID {
        return Err(EvidenceError::Unsupported(format!(
            "QE vendor id {}",
            hex::encode(h.qe_vendor_id)
        )));
    }
    if let AuthData::V4(v4) = &quote.auth_data {
        if v4.certification_data.cert_type != 6 {
            return Err(EvidenceError::Unsupported(format!(
                "outer certification data type {} (only 6, QE report certification data)",
                v4.certification_data.cert_type
            )));
        }
    }
    let auth = quote.auth_data.clone().into_v3();
    if auth.certification_data.cert_type != 5 {
        return Err(EvidenceError::Unsupported(format!(
            "certification data type {} (only 5, PCK certificate chain)",
            auth.certification_data.cert_type
        )));
    }
    Ok(ParsedQuote {
        raw: raw.to_vec(),
        quote,
        auth,
    })
}

impl ParsedQuote {
    /// The bytes the attestation key signs (header and body).
    pub fn signed_region(&self) -> &[u8] {
        let len = self.quote.signed_length().min(self.raw.len());
        &self.raw[..len]
    }

    /// The PCK certificate chain (PEM text) carried in the quote.
    pub fn pck_chain_pem(&self) -> &[u8] {
        &self.auth.certification_data.body.data
    }
}

/// Decode a quote from the front of `bytes`; return it and its length,
/// computed from its structure: header and body (the signed region), then a
/// u32 length and the authentication data.
fn decode_quote(bytes: &[u8]) -> Result<(Quote, usize), EvidenceError> {
    let quote = Quote::parse(bytes)
        .map_err(|e| EvidenceError::Malformed(format!("not a DCAP quote: {e}")))?;
    let signed = quote.signed_length();
    let auth_len = bytes
        .get(signed..signed.saturating_add(4))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| EvidenceError::Malformed("quote too short".into()))?;
    let used = usize::try_from(auth_len)
        .ok()
        .and_then(|n| n.checked_add(signed + 4))
        .filter(|&n| n <= bytes.len())
        .ok_or_else(|| EvidenceError::Malformed("quote authentication data truncated".into()))?;
    Ok((quote, used))
}
