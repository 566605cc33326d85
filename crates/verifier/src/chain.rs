//! Certificate chains, checked without collateral: strict PEM reading,
//! signatures up to a trusted root, CA constraints, validity at a given time.

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::CertError;

/// ecdsa-with-SHA256, the only algorithm in Intel's PCK PKI and ours.
const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
/// More certificates than Intel's chains ever carry.
const MAX_CHAIN_LEN: usize = 5;
const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const END: &[u8] = b"-----END CERTIFICATE-----";

/// Split a PEM certificate chain into DER certificates. Strict: only
/// CERTIFICATE blocks separated by whitespace, optionally followed by NUL
/// padding; nothing else may appear.
pub fn parse_pem_chain(text: &[u8]) -> Result<Vec<Vec<u8>>, CertError> {
    let mut rest = text;
    let mut certs = Vec::new();
    loop {
        rest = trim_newlines(rest);
        if rest.is_empty() || rest.iter().all(|&b| b == 0) {
            break;
        }
        if !rest.starts_with(BEGIN) {
            return Err(CertError::Pem(
                "unexpected data outside PEM certificate blocks".into(),
            ));
        }
        // The END line is looked for after the BEGIN line: the two overlap
        // in `-----BEGIN CERTIFICATE-----END CERTIFICATE-----`.
        let end = find(&rest[BEGIN.len()..], END)
            .map(|at| at + BEGIN.len())
            .ok_or_else(|| CertError::Pem("unterminated PEM certificate block".into()))?;
        let block_len = end + END.len();
        let block = &rest[..block_len];
        let body = &block[BEGIN.len()..end];
        if !body
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\n' | b'\r'))
        {
            return Err(CertError::Pem(
                "unexpected character in a PEM certificate block".into(),
            ));
        }
        let pem = pem::parse(block).map_err(|e| CertError::Pem(format!("bad PEM block: {e}")))?;
        if pem.tag() != "CERTIFICATE" {
            return Err(CertError::Pem(format!(
                "unexpected PEM block {}",
                pem.tag()
            )));
        }
        certs.push(pem.into_contents());
        if certs.len() > MAX_CHAIN_LEN {
            return Err(CertError::Pem("too many certificates".into()));
        }
        rest = &rest[block_len..];
        // The END line must be followed by whitespace, NULs or nothing.
        if let Some(&next) = rest.first() {
            if !matches!(next, b'\n' | b'\r' | 0) {
                return Err(CertError::Pem(
                    "unexpected data after a PEM certificate block".into(),
                ));
            }
        }
    }
    if certs.is_empty() {
        return Err(CertError::Pem("no certificate".into()));
    }
    Ok(certs)
}

fn trim_newlines(mut s: &[u8]) -> &[u8] {
    while let [b'\n' | b'\r', rest @ ..] = s {
        s = rest;
    }
    s
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// DER of the AlgorithmIdentifier ecdsa-with-SHA256 (no parameters).
const ECDSA_WITH_SHA256_DER: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];

/// Parse one DER certificate, refusing trailing bytes and any signature
/// algorithm other than exactly ecdsa-with-SHA256 (the outer algorithm is
/// not covered by the signature, so its bytes are checked here).
pub fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| CertError::Malformed(format!("bad certificate: {e}")))?;
    if !rest.is_empty() {
        return Err(CertError::Malformed(
            "trailing data after a certificate".into(),
        ));
    }
    let tbs = cert.tbs_certificate.as_ref();
    let offset = (tbs.as_ptr() as usize).wrapping_sub(der.as_ptr() as usize);
    let after_tbs = offset
        .checked_add(tbs.len())
        .and_then(|end| der.get(end..))
        .ok_or_else(|| CertError::Malformed("certificate layout".into()))?;
    if !after_tbs.starts_with(ECDSA_WITH_SHA256_DER) {
        return Err(CertError::Algorithm(format!(
            "{} is not signed with ECDSA-SHA256",
            name(&cert)
        )));
    }
    Ok(cert)
}

/// A short name for a certificate (its subject).
pub fn name(cert: &X509Certificate<'_>) -> String {
    cert.subject().to_string()
}

/// The raw EC public key (uncompressed point) of a certificate.
pub fn public_key<'a>(cert: &'a X509Certificate<'_>) -> &'a [u8] {
    &cert.public_key().subject_public_key.data
}

/// Check that `cert` is signed by the key of `issuer` and names it as issuer.
fn check_issued_by(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
) -> Result<(), CertError> {
    if cert.issuer() != issuer.subject() {
        return Err(CertError::NotIssuedBy {
            cert: name(cert),
            issuer: name(issuer),
        });
    }
    if cert.signature_algorithm.algorithm.to_id_string() != ECDSA_WITH_SHA256
        || cert.tbs_certificate.signature.algorithm.to_id_string() != ECDSA_WITH_SHA256
    {
        return Err(CertError::Algorithm(format!(
            "{} is not signed with ECDSA-SHA256",
            name(cert)
        )));
    }
    let key = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, public_key(issuer));
    key.verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
        .map_err(|_| CertError::BadSignature(name(cert)))
}

fn check_ca(cert: &X509Certificate<'_>) -> Result<(), CertError> {
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => Ok(()),
        _ => Err(CertError::NotCa(name(cert))),
    }
}

/// Check a certificate's validity period at `at` (Unix seconds).
pub fn check_validity(cert: &X509Certificate<'_>, at: u64) -> Result<(), CertError> {
    let v = cert.validity();
    let at_i = i64::try_from(at).unwrap_or(i64::MAX);
    let not_before = v.not_before.timestamp();
    let not_after = v.not_after.timestamp();
    if at_i < not_before {
        return Err(CertError::NotYetValid {
            cert: name(cert),
            from: v.not_before.to_string(),
        });
    }
    if at_i > not_after {
        return Err(CertError::Expired {
            cert: name(cert),
            at: v.not_after.to_string(),
        });
    }
    Ok(())
}

/// Verify a chain (leaf first) up to the trusted root `root_der`: each
/// certificate signed by the next, issuers are CAs, everything (the root
/// too) valid at `at`. The chain may end with the root itself or with a
/// certificate the root issued. Returns the DER of the leaf.
pub fn verify_chain(chain: &[Vec<u8>], root_der: &[u8], at: u64) -> Result<(), CertError> {
    let root = parse_cert(root_der)?;
    // Drop a copy of the root at the end: it is the anchor, not evidence.
    let path = match chain.split_last() {
        Some((last, init)) if last.as_slice() == root_der => init,
        _ => chain,
    };
    if path.is_empty() {
        return Err(CertError::NoPath);
    }
    let certs = path
        .iter()
        .map(|der| parse_cert(der))
        .collect::<Result<Vec<_>, _>>()?;
    check_validity(&root, at)?;
    for (i, cert) in certs.iter().enumerate() {
        check_validity(cert, at)?;
        let issuer = certs.get(i + 1).unwrap_or(&root);
        check_ca(issuer)?;
        check_issued_by(cert, issuer)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `pem_chain` fuzz target: an END line that overlaps the
    /// BEGIN line made the block's body a backwards range (a panic).
    #[test]
    fn an_end_line_overlapping_the_begin_line_is_refused() {
        for text in [
            &b"-----BEGIN CERTIFICATE-----END CERTIFICATE-----"[..],
            b"-----BEGIN CERTIFICATE-----END CERTIFICATE-----\n",
            b"-----BEGIN CERTIFICATE-----",
        ] {
            assert!(parse_pem_chain(text).is_err());
        }
    }
}
