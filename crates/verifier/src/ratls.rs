//! RA-TLS certificates: the attestation evidence an X.509 certificate
//! carries, and the check that it binds the certificate's own key.
//!
//! Accepted extensions, first match wins:
//! - `2.23.133.5.4.9` (TCG DICE tagged evidence, the interoperable RA-TLS
//!   form minikms, Gramine, the Intel SGX SDK and rats-tls write): CBOR tag
//!   60000 `[quote, claims]`, where the quote's report_data[0..32] =
//!   SHA-256(claims) and claims = `{"pubkey-hash": [alg, hash], ...}`
//!   (Gramine wraps the array in a byte string; both are read). `alg` is
//!   from IANA's Named Information Hash registry: 1 SHA-256, 7 SHA-384,
//!   8 SHA-512. minikms adds `"collateral": bstr(QuoteCollateralV3 JSON)`
//!   in simulation.
//! - Gramine's legacy extension (its OID's contents on the wire are a whole
//!   DER OID, `06 09 2A 86 48 86 F8 4D 8A 39 06`, read by others as
//!   0.6.9.42.840.113741.1337.6), the Intel SGX SDK's
//!   `1.2.840.113741.1.13.1` and Intel's TDX quote extension
//!   `1.2.840.113741.1.5.5.1.6`: a raw quote whose report_data[0..32] =
//!   SHA-256(SubjectPublicKeyInfo DER).
//!
//! The evidence is a DCAP quote (SGX v3, TDX v4/v5) or an AMD SEV-SNP
//! report (told apart by shape, [`crate::snp::looks_like_report`]). An SNP
//! report needs its VCEK and AMD's chain from the caller
//! ([`verify_certificate_with`]); nothing is fetched. The binding is the
//! same for every kind: report_data = SHA-256(claims) then 32 zero bytes
//! (tagged evidence), or SHA-256(SPKI) then zeros (raw forms).
//!
//! The certificate's validity dates and signature are not evidence and are
//! not checked here: a TLS client checks them (and the handshake proves the
//! peer holds the key); [`CertificateClaims`] reports the dates.

use aws_lc_rs::digest;
use ciborium::value::Value;
use serde::Serialize;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::claims::Claims;
use crate::error::{CallerError, EvidenceError, VerifyError};
use crate::held_data::{self, claim_collateral, pubkey_hash, Binding};
use crate::policy::Policy;
use crate::snp::{looks_like_report, verify_report, AmdCerts};
use crate::verify::{verify_quote, VerifyOptions};

/// DER contents of OID 2.23.133.5.4.9.
const TAGGED_EVIDENCE_OID: &[u8] = &[0x67, 0x81, 0x05, 0x05, 0x04, 0x09];
/// Gramine's legacy RA-TLS OID contents as Gramine encodes them.
const GRAMINE_LEGACY_OID: &[u8] = &[
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x8A, 0x39, 0x06,
];
/// DER contents of OID 1.2.840.113741.1.13.1 (Intel SGX SDK quote).
const INTEL_SGX_QUOTE_OID: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01];
/// DER contents of OID 1.2.840.113741.1.5.5.1.6 (Intel's TDX quote).
const INTEL_TDX_QUOTE_OID: &[u8] = &[
    0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x05, 0x05, 0x01, 0x06,
];
/// CBOR tag of TCG DICE tagged evidence (the one the enclave writes).
const EVIDENCE_TAG: u64 = minikms_api::claims::RA_TLS_CBOR_TAG;

/// Which extension the evidence came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceFormat {
    /// `2.23.133.5.4.9`, tag 60000 `[quote, claims]`.
    TaggedEvidence,
    /// Gramine's legacy raw-quote extension.
    GramineLegacy,
    /// The Intel SGX SDK's raw-quote extension.
    IntelSgxSdk,
    /// Intel's raw TDX quote extension.
    IntelTdx,
}

/// The evidence of a certificate, split out.
#[derive(Debug, Clone)]
pub struct CertificateEvidence {
    /// Which extension held it.
    pub format: EvidenceFormat,
    /// The quote (or SEV-SNP report).
    pub quote: Vec<u8>,
    /// The claims the quote commits to (tagged evidence only).
    pub claims: Option<Vec<u8>>,
    /// `"collateral"` from the claims, when present.
    pub collateral: Option<Vec<u8>>,
    /// SHA-256 of the certificate's SubjectPublicKeyInfo DER.
    pub spki_sha256: [u8; 32],
    /// The certificate's validity, Unix seconds.
    pub not_before: i64,
    /// The certificate's validity, Unix seconds.
    pub not_after: i64,
}

/// A verified RA-TLS certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateClaims {
    /// The verified evidence (`binding` says whether the quote commits to
    /// the claims).
    #[serde(flatten)]
    pub evidence: Claims,
    /// Which extension held the evidence.
    pub evidence_format: EvidenceFormat,
    /// Whether the evidence binds this certificate's public key (always
    /// "valid" once [`verify_certificate`] returned).
    pub key_binding: Binding,
    /// SHA-256 of the certificate's SubjectPublicKeyInfo (hex).
    pub spki_sha256: String,
    /// The certificate's notBefore (RFC 3339).
    pub not_before: String,
    /// The certificate's notAfter (RFC 3339).
    pub not_after: String,
}

/// Splits a certificate's evidence out, without verifying anything.
pub fn certificate_evidence(cert_der: &[u8]) -> Result<CertificateEvidence, EvidenceError> {
    let (_, cert) = X509Certificate::from_der(cert_der)
        .map_err(|e| EvidenceError::Malformed(format!("certificate: {e}")))?;
    let spki = cert.tbs_certificate.subject_pki.raw;
    let mut spki_sha256 = [0u8; 32];
    spki_sha256.copy_from_slice(digest::digest(&digest::SHA256, spki).as_ref());
    let find = |oid: &[u8]| {
        cert.extensions()
            .iter()
            .find(|e| e.oid.as_bytes() == oid)
            .map(|e| e.value)
    };
    let (format, quote, claims) = if let Some(value) = find(TAGGED_EVIDENCE_OID) {
        let (quote, claims) = tagged_evidence(value)?;
        (EvidenceFormat::TaggedEvidence, quote, Some(claims))
    } else if let Some(value) = find(GRAMINE_LEGACY_OID) {
        (EvidenceFormat::GramineLegacy, value.to_vec(), None)
    } else if let Some(value) = find(INTEL_SGX_QUOTE_OID) {
        (EvidenceFormat::IntelSgxSdk, value.to_vec(), None)
    } else if let Some(value) = find(INTEL_TDX_QUOTE_OID) {
        (EvidenceFormat::IntelTdx, value.to_vec(), None)
    } else {
        return Err(EvidenceError::NoCertificateEvidence);
    };
    let collateral = claims.as_deref().and_then(claim_collateral);
    Ok(CertificateEvidence {
        format,
        quote,
        claims,
        collateral,
        spki_sha256,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

impl CertificateEvidence {
    /// Whether the evidence is an SEV-SNP report (which needs
    /// [`AmdCerts`]) rather than a DCAP quote.
    pub fn is_snp_report(&self) -> bool {
        looks_like_report(&self.quote)
    }
}

/// Verifies a certificate's evidence against `policy` and checks that it
/// binds the certificate's own public key. Collateral: `options.collateral`,
/// else the claims' `"collateral"`, else `options.offline` decides. A
/// certificate carrying an SEV-SNP report needs [`verify_certificate_with`].
pub fn verify_certificate(
    cert_der: &[u8],
    options: &VerifyOptions<'_>,
    policy: &Policy,
) -> Result<CertificateClaims, VerifyError> {
    verify_certificate_with(cert_der, options, None, policy)
}

/// As [`verify_certificate`], with the VCEK and AMD chain an SEV-SNP
/// report in the certificate is verified with (checked at `options.at`;
/// DCAP quotes ignore them).
pub fn verify_certificate_with(
    cert_der: &[u8],
    options: &VerifyOptions<'_>,
    amd: Option<&AmdCerts<'_>>,
    policy: &Policy,
) -> Result<CertificateClaims, VerifyError> {
    let evidence = certificate_evidence(cert_der)?;
    let mut claims = if evidence.is_snp_report() {
        let amd = amd.ok_or(CallerError::NoAmdCerts)?;
        let mut claims =
            verify_report(&evidence.quote, amd.vcek, amd.amd_chain, options.at, policy)?;
        if let Some(held) = &evidence.claims {
            let data = held_data::check(held, &report_data(&claims)?);
            claims.binding = Some(data.binding);
            claims.held_data = Some(data);
        }
        claims
    } else {
        let options = VerifyOptions {
            collateral: options.collateral.or(evidence.collateral.as_deref()),
            ..*options
        };
        verify_quote(
            &evidence.quote,
            evidence.claims.as_deref(),
            &options,
            policy,
        )?
    };
    match &evidence.claims {
        Some(held) => {
            if claims.binding != Some(Binding::Valid) {
                return Err(EvidenceError::ClaimsNotBound.into());
            }
            let (alg, hash) = pubkey_hash(held).ok_or(EvidenceError::KeyNotBound)?;
            if !spki_hash_matches(cert_der, alg, &hash)? {
                return Err(EvidenceError::KeyNotBound.into());
            }
        }
        None => {
            // Raw-quote forms commit to the key directly.
            let mut expected = [0u8; 64];
            expected[..32].copy_from_slice(&evidence.spki_sha256);
            if report_data(&claims)? != expected {
                return Err(EvidenceError::KeyNotBound.into());
            }
            claims.binding = Some(Binding::Valid);
        }
    }
    Ok(CertificateClaims {
        evidence: claims,
        evidence_format: evidence.format,
        key_binding: Binding::Valid,
        spki_sha256: hex::encode(evidence.spki_sha256),
        not_before: rfc3339_signed(evidence.not_before),
        not_after: rfc3339_signed(evidence.not_after),
    })
}

/// The verified evidence's report data (the claims keep it as hex).
fn report_data(claims: &Claims) -> Result<[u8; 64], EvidenceError> {
    hex::decode(&claims.report_data)
        .ok()
        .and_then(|rd| <[u8; 64]>::try_from(rd).ok())
        .ok_or_else(|| EvidenceError::Malformed("report data is not 64 bytes".into()))
}

fn rfc3339_signed(secs: i64) -> String {
    crate::verify::rfc3339(u64::try_from(secs).unwrap_or(0))
}

/// `tag 60000 [bstr quote, bstr claims]`.
fn tagged_evidence(value: &[u8]) -> Result<(Vec<u8>, Vec<u8>), EvidenceError> {
    let malformed = |what: &str| EvidenceError::Malformed(format!("RA-TLS evidence: {what}"));
    let mut reader = value;
    let value: Value = ciborium::de::from_reader(&mut reader).map_err(|_| malformed("not CBOR"))?;
    if !reader.is_empty() {
        return Err(malformed("trailing bytes after the CBOR item"));
    }
    let Value::Tag(EVIDENCE_TAG, inner) = value else {
        return Err(malformed("not CBOR tag 60000"));
    };
    let Value::Array(items) = *inner else {
        return Err(malformed("tag 60000 does not hold an array"));
    };
    match <[Value; 2]>::try_from(items) {
        Ok([Value::Bytes(quote), Value::Bytes(claims)]) => Ok((quote, claims)),
        _ => Err(malformed("expected [quote, claims] as two byte strings")),
    }
}

/// Whether `hash` is the `alg` hash of the certificate's SPKI DER.
fn spki_hash_matches(cert_der: &[u8], alg: u64, hash: &[u8]) -> Result<bool, EvidenceError> {
    let algorithm = match alg {
        1 => &digest::SHA256,
        7 => &digest::SHA384,
        8 => &digest::SHA512,
        other => {
            return Err(EvidenceError::Unsupported(format!(
                "pubkey-hash algorithm {other} (known: 1 SHA-256, 7 SHA-384, 8 SHA-512)"
            )))
        }
    };
    let (_, cert) = X509Certificate::from_der(cert_der)
        .map_err(|e| EvidenceError::Malformed(format!("certificate: {e}")))?;
    let spki = cert.tbs_certificate.subject_pki.raw;
    Ok(digest::digest(algorithm, spki).as_ref() == hash)
}
