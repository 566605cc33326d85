//! AWS Nitro Enclaves attestation documents: a COSE_Sign1 (ES384, tagged
//! 18 or not) whose payload is a CBOR map signed by a leaf certificate that
//! chains, through the document's `cabundle`, to the AWS Nitro Enclaves
//! root G1 (built in). COSE is read with `coset`, the payload with
//! `ciborium`; the checks follow AWS's "verifying the root of trust".

use std::collections::BTreeMap;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use ciborium::Value;
use coset::{
    iana, CborSerializable, CoseSign1, RegisteredLabelWithPrivate, TaggedCborSerializable,
};
use serde::Serialize;
use x509_parser::prelude::X509Certificate;

use crate::error::{EvidenceError, PolicyError, VerifyError};
use crate::evidence::MAX_EVIDENCE_LEN;
use crate::pki;
use crate::policy::Policy;

/// The AWS Nitro Enclaves root G1 (CN=aws.nitro-enclaves, P-384,
/// 2019-10-28..2049-10-28), as AWS publishes it.
pub const AWS_NITRO_ROOT_G1_PEM: &str = include_str!("../certs/aws_nitro_root_g1.pem");

/// SHA-256 of the root's DER, as AWS publishes it (641a0321…bb5b): a check
/// that the PEM above is the real root.
pub const AWS_NITRO_ROOT_G1_SHA256: [u8; 32] = [
    0x64, 0x1a, 0x03, 0x21, 0xa3, 0xe2, 0x44, 0xef, 0xe4, 0x56, 0x46, 0x31, 0x95, 0xd6, 0x06, 0x31,
    0x7e, 0xd7, 0xcd, 0xcc, 0x3c, 0x17, 0x56, 0xe0, 0x98, 0x93, 0xf3, 0xc6, 0x8f, 0x79, 0xbb, 0x5b,
];

/// Size bounds from AWS's document specification.
const MAX_CERT: usize = 1024;
const MAX_PUBLIC_KEY: usize = 1024;
const MAX_USER_DATA: usize = 512;
const MAX_NONCE: usize = 512;
const MAX_PCRS: usize = 32;
/// AWS's chains hold four or five certificates; a longer bundle is refused
/// before any signature is checked (each costs a P-384 verification).
const MAX_CABUNDLE: usize = 8;

/// What a verified Nitro attestation document says (binary fields in
/// lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NitroClaims {
    /// Always "nitro".
    pub platform: &'static str,
    /// Always "nitro".
    pub tee: &'static str,
    /// The enclave's id (e.g. `i-…-enc…`).
    pub module_id: String,
    /// When the document was made, Unix milliseconds.
    pub timestamp: u64,
    /// The time the certificate chain was checked at, Unix seconds: the
    /// document's own time unless the caller gave one.
    pub verified_at: u64,
    /// Debug mode: PCR0, PCR1 or PCR2 is all zeros, so the measurements
    /// prove nothing.
    pub debug: bool,
    /// Every PCR in the document, by index (hex). 0: enclave image, 1:
    /// kernel and boot ramfs, 2: application, 8: signing certificate.
    pub pcrs: BTreeMap<u8, String>,
    /// The enclave's public key, for binding (hex).
    pub public_key: Option<String>,
    /// Application data, for binding (hex).
    pub user_data: Option<String>,
    /// The verifier's nonce, for freshness (hex).
    pub nonce: Option<String>,
}

/// The document's parts, before any check beyond their shape.
struct Document {
    cose: CoseSign1,
    module_id: String,
    timestamp: u64,
    pcrs: BTreeMap<u8, Vec<u8>>,
    certificate: Vec<u8>,
    cabundle: Vec<Vec<u8>>,
    public_key: Option<Vec<u8>>,
    user_data: Option<Vec<u8>>,
    nonce: Option<Vec<u8>>,
}

fn malformed(what: impl std::fmt::Display) -> EvidenceError {
    EvidenceError::Malformed(format!("Nitro attestation document: {what}"))
}

/// Whether `bytes` look like a COSE_Sign1: an array of four (CBOR 0x84),
/// optionally behind tag 18 (0xD2).
pub fn looks_like_document(bytes: &[u8]) -> bool {
    matches!(
        bytes,
        [0x84, 0x40..=0x5b, ..] | [0xd2, 0x84, 0x40..=0x5b, ..]
    )
}

/// Verify a Nitro attestation document (raw COSE_Sign1 bytes) against the
/// built-in root at `at` (Unix seconds; `None`: the document's own time)
/// and `policy` (`allow_debug`, `measurement` = PCR0).
pub fn verify_document(
    bytes: &[u8],
    at: Option<u64>,
    policy: &Policy,
) -> Result<NitroClaims, VerifyError> {
    let doc = parse(bytes)?;
    let verified_at = at.unwrap_or(doc.timestamp / 1000);
    check_chain_and_signature(&doc, verified_at)?;
    let claims = claims_of(&doc, verified_at);
    apply_policy(&claims, &doc, policy)?;
    Ok(claims)
}

fn parse(bytes: &[u8]) -> Result<Document, EvidenceError> {
    if bytes.len() > MAX_EVIDENCE_LEN {
        return Err(malformed("too large"));
    }
    let cose = if bytes.first() == Some(&0xd2) {
        CoseSign1::from_tagged_slice(bytes)
    } else {
        CoseSign1::from_slice(bytes)
    }
    .map_err(|e| malformed(format!("not a COSE_Sign1: {e}")))?;
    let alg = &cose.protected.header.alg;
    if *alg != Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384)) {
        return Err(malformed("the algorithm is not ES384"));
    }
    if !cose.protected.header.crit.is_empty() {
        return Err(malformed("critical header parameters"));
    }
    let payload = cose
        .payload
        .as_deref()
        .ok_or_else(|| malformed("no payload"))?;
    let mut rest = payload;
    let value: Value =
        ciborium::from_reader(&mut rest).map_err(|e| malformed(format!("payload: {e}")))?;
    if !rest.is_empty() {
        return Err(malformed("trailing data after the payload"));
    }
    let Value::Map(entries) = value else {
        return Err(malformed("the payload is not a map"));
    };
    let mut fields = BTreeMap::new();
    for (key, value) in entries {
        let Value::Text(key) = key else {
            return Err(malformed("a payload key is not text"));
        };
        if fields.insert(key.clone(), value).is_some() {
            return Err(malformed(format!("duplicate field {key}")));
        }
    }
    let mut take = |name: &str| fields.remove(name);

    let module_id = match take("module_id") {
        Some(Value::Text(s)) if !s.is_empty() => s,
        _ => return Err(malformed("module_id missing or not text")),
    };
    match take("digest") {
        Some(Value::Text(s)) if s == "SHA384" => {}
        _ => return Err(malformed("digest is not SHA384")),
    }
    let timestamp = match take("timestamp") {
        Some(Value::Integer(i)) => u64::try_from(i).ok().filter(|&t| t > 0),
        _ => None,
    }
    .ok_or_else(|| malformed("timestamp missing or not a positive integer"))?;
    let pcrs = parse_pcrs(take("pcrs"))?;
    let certificate = bytes_field(take("certificate"), "certificate", 1, MAX_CERT)?
        .ok_or_else(|| malformed("no certificate"))?;
    let cabundle = match take("cabundle") {
        Some(Value::Array(items)) if (1..=MAX_CABUNDLE).contains(&items.len()) => items
            .into_iter()
            .map(|v| {
                bytes_field(Some(v), "cabundle entry", 1, MAX_CERT)?
                    .ok_or_else(|| malformed("empty cabundle entry"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(malformed("cabundle missing, empty or too long")),
    };
    let public_key = bytes_field(take("public_key"), "public_key", 1, MAX_PUBLIC_KEY)?;
    let user_data = bytes_field(take("user_data"), "user_data", 0, MAX_USER_DATA)?;
    let nonce = bytes_field(take("nonce"), "nonce", 0, MAX_NONCE)?;
    if let Some(extra) = fields.keys().next() {
        return Err(malformed(format!("unknown field {extra}")));
    }
    Ok(Document {
        cose,
        module_id,
        timestamp,
        pcrs,
        certificate,
        cabundle,
        public_key,
        user_data,
        nonce,
    })
}

/// An optional byte-string field: absent or CBOR null is `None`.
fn bytes_field(
    value: Option<Value>,
    name: &str,
    min: usize,
    max: usize,
) -> Result<Option<Vec<u8>>, EvidenceError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bytes(b)) if (min..=max).contains(&b.len()) => Ok(Some(b)),
        Some(_) => Err(malformed(format!(
            "{name} is not a byte string of {min}..={max} bytes"
        ))),
    }
}

fn parse_pcrs(value: Option<Value>) -> Result<BTreeMap<u8, Vec<u8>>, EvidenceError> {
    let Some(Value::Map(entries)) = value else {
        return Err(malformed("pcrs missing or not a map"));
    };
    if entries.is_empty() || entries.len() > MAX_PCRS {
        return Err(malformed("pcrs: 1 to 32 entries expected"));
    }
    let mut pcrs = BTreeMap::new();
    for (index, value) in entries {
        let index = match index {
            Value::Integer(i) => u8::try_from(i).ok().filter(|&i| usize::from(i) < MAX_PCRS),
            _ => None,
        }
        .ok_or_else(|| malformed("a PCR index is not 0..31"))?;
        match value {
            // The document's digest is SHA-384: every PCR is 48 bytes.
            Value::Bytes(b) if b.len() == 48 => {
                if pcrs.insert(index, b).is_some() {
                    return Err(malformed(format!("duplicate PCR{index}")));
                }
            }
            _ => return Err(malformed(format!("PCR{index} is not 48 bytes"))),
        }
    }
    Ok(pcrs)
}

/// The built-in root, checked against its published fingerprint.
fn root_der() -> Result<Vec<u8>, EvidenceError> {
    let der = pem::parse(AWS_NITRO_ROOT_G1_PEM)
        .map(pem::Pem::into_contents)
        .map_err(|e| EvidenceError::Malformed(format!("built-in AWS Nitro root: {e}")))?;
    if digest::digest(&digest::SHA256, &der).as_ref() != AWS_NITRO_ROOT_G1_SHA256 {
        return Err(EvidenceError::Malformed(
            "built-in AWS Nitro root does not match its fingerprint".into(),
        ));
    }
    Ok(der)
}

/// cabundle[0] must be the root; the chain runs root → cabundle[1..] →
/// certificate. Then the COSE signature by the leaf key.
fn check_chain_and_signature(doc: &Document, at: u64) -> Result<(), EvidenceError> {
    let chain_err = |e: String| EvidenceError::CertChain(e);
    let root_der = root_der()?;
    let (first, intermediates) = doc
        .cabundle
        .split_first()
        .ok_or_else(|| malformed("empty cabundle"))?;
    if *first != root_der {
        let top = pki::parse_cert(first)
            .map(|c| c.subject().to_string())
            .unwrap_or_else(|_| "an unparsable certificate".into());
        return Err(EvidenceError::UnknownRoot(top));
    }
    let root = pki::parse_cert(&root_der).map_err(|e| chain_err(e.to_string()))?;
    // Leaf first, as pki::verify_path wants it.
    let path = std::iter::once(&doc.certificate)
        .chain(intermediates.iter().rev())
        .map(|der| pki::parse_cert(der))
        .collect::<Result<Vec<X509Certificate<'_>>, _>>()
        .map_err(|e| chain_err(e.to_string()))?;
    pki::verify_path(&path, &root, at).map_err(|e| chain_err(e.to_string()))?;
    let leaf = path
        .first()
        .ok_or_else(|| chain_err("no leaf certificate".into()))?;
    if !pki::is_p384(leaf) {
        return Err(chain_err("the leaf key is not P-384".into()));
    }
    let key = UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, pki::public_key(leaf));
    doc.cose
        .verify_signature(b"", |sig, data| key.verify(data, sig))
        .map_err(|_| EvidenceError::DocumentSignature)
}

fn claims_of(doc: &Document, verified_at: u64) -> NitroClaims {
    let zero = |i: u8| doc.pcrs.get(&i).is_none_or(|p| p.iter().all(|&b| b == 0));
    NitroClaims {
        platform: "nitro",
        tee: "nitro",
        module_id: doc.module_id.clone(),
        timestamp: doc.timestamp,
        verified_at,
        debug: zero(0) || zero(1) || zero(2),
        pcrs: doc.pcrs.iter().map(|(i, p)| (*i, hex::encode(p))).collect(),
        public_key: doc.public_key.as_ref().map(hex::encode),
        user_data: doc.user_data.as_ref().map(hex::encode),
        nonce: doc.nonce.as_ref().map(hex::encode),
    }
}

fn apply_policy(claims: &NitroClaims, doc: &Document, policy: &Policy) -> Result<(), PolicyError> {
    let none = || "none (Nitro document)".to_string();
    if let Some(expected) = policy.mrenclave {
        let expected = hex::encode(expected);
        return Err(PolicyError::MrEnclaveMismatch {
            expected,
            got: none(),
        });
    }
    if let Some(expected) = policy.mrsigner {
        let expected = hex::encode(expected);
        return Err(PolicyError::MrSignerMismatch {
            expected,
            got: none(),
        });
    }
    if let Some(expected) = policy.product_id {
        return Err(PolicyError::ProductIdMismatch {
            expected,
            got: none(),
        });
    }
    if let Some(minimum) = policy.min_svn {
        return Err(PolicyError::SvnTooLow {
            minimum,
            got: none(),
        });
    }
    if let Some(expected) = policy.measurement {
        let got = doc.pcrs.get(&0).map_or_else(none, hex::encode);
        if got != hex::encode(expected) {
            return Err(PolicyError::MeasurementMismatch {
                expected: hex::encode(expected),
                got,
            });
        }
    }
    if claims.debug && !policy.allow_debug {
        return Err(PolicyError::DebugRefused);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_root_matches_its_fingerprint() {
        let der = root_der().unwrap();
        let root = pki::parse_cert(&der).unwrap();
        assert!(root.subject().to_string().contains("aws.nitro-enclaves"));
    }

    #[test]
    fn not_a_document() {
        for bad in [&b""[..], b"\x84", b"\x80", b"\xd2\x80", b"hello"] {
            assert!(parse(bad).is_err());
        }
    }
}
