//! X.509 for the AMD (SEV-SNP) and AWS (Nitro) PKIs: the signature
//! algorithms they use — ECDSA over P-256/P-384 with SHA-256/384, RSA-PSS
//! with SHA-384 — and chains checked up to a pinned root at a given time.
//! Intel's PCK chains keep the stricter ECDSA-SHA256-only [`crate::chain`].

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::signature_algorithm::SignatureAlgorithm;
use x509_parser::x509::AlgorithmIdentifier;

use crate::chain::{check_validity, name};
use crate::error::CertError;

const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
const ECDSA_WITH_SHA384: &str = "1.2.840.10045.4.3.3";
const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
const MGF1: &str = "1.2.840.113549.1.1.8";
const SHA384: &str = "2.16.840.1.101.3.4.2.2";
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";

/// Parse one DER certificate, refusing trailing bytes and an outer
/// signature algorithm that differs from the signed one (the outer one is
/// not covered by the signature).
pub fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| CertError::Malformed(format!("bad certificate: {e}")))?;
    if !rest.is_empty() {
        return Err(CertError::Malformed(
            "trailing data after a certificate".into(),
        ));
    }
    if cert.signature_algorithm != cert.tbs_certificate.signature {
        return Err(CertError::Algorithm(format!(
            "{}: outer and signed signature algorithms differ",
            name(&cert)
        )));
    }
    Ok(cert)
}

/// The aws-lc-rs algorithm for a certificate signature algorithm and the
/// issuer's key. Only what AMD and AWS use; RSA-PSS only with SHA-384,
/// MGF1-SHA-384 and a 48-byte salt (what aws-lc-rs checks). The error
/// says why, without the signed certificate's name (the caller adds it).
fn algorithm(
    alg: &AlgorithmIdentifier<'_>,
    issuer: &X509Certificate<'_>,
) -> Result<&'static dyn VerificationAlgorithm, CertError> {
    let oid = alg.algorithm.to_id_string();
    match oid.as_str() {
        ECDSA_WITH_SHA256 | ECDSA_WITH_SHA384 => {
            if alg.parameters.is_some() {
                return Err(unsupported("ECDSA signature algorithm with parameters"));
            }
            let curve = issuer
                .public_key()
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            match (oid.as_str(), curve.as_str()) {
                (ECDSA_WITH_SHA256, P256) => Ok(&signature::ECDSA_P256_SHA256_ASN1),
                (ECDSA_WITH_SHA384, P256) => Ok(&signature::ECDSA_P256_SHA384_ASN1),
                (ECDSA_WITH_SHA256, P384) => Ok(&signature::ECDSA_P384_SHA256_ASN1),
                (ECDSA_WITH_SHA384, P384) => Ok(&signature::ECDSA_P384_SHA384_ASN1),
                _ => Err(unsupported(format!("{}: unsupported EC key", name(issuer)))),
            }
        }
        RSASSA_PSS => {
            let Ok(SignatureAlgorithm::RSASSA_PSS(params)) = SignatureAlgorithm::try_from(alg)
            else {
                return Err(unsupported("bad RSA-PSS parameters"));
            };
            let mgf = params
                .mask_gen_algorithm()
                .map_err(|e| unsupported(format!("bad RSA-PSS mask generation: {e}")))?;
            if params.hash_algorithm_oid().to_id_string() != SHA384
                || mgf.mgf.to_id_string() != MGF1
                || mgf.hash.to_id_string() != SHA384
                || params.salt_length() != 48
                || params.trailer_field() != 1
            {
                return Err(unsupported(
                    "RSA-PSS other than SHA-384, MGF1-SHA-384, 48-byte salt",
                ));
            }
            Ok(&signature::RSA_PSS_2048_8192_SHA384)
        }
        other => Err(unsupported(format!(
            "unsupported signature algorithm {other}"
        ))),
    }
}

fn unsupported(why: impl Into<String>) -> CertError {
    CertError::Algorithm(why.into())
}

/// Check that `cert` names `issuer` as its issuer and is signed by its key.
pub fn check_signed_by(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
) -> Result<(), CertError> {
    if cert.issuer() != issuer.subject() {
        return Err(CertError::NotIssuedBy {
            cert: name(cert),
            issuer: name(issuer),
        });
    }
    let alg = algorithm(&cert.signature_algorithm, issuer)
        .map_err(|e| CertError::Algorithm(format!("signature on {}: {e}", name(cert))))?;
    let key = &issuer.public_key().subject_public_key.data;
    UnparsedPublicKey::new(alg, key)
        .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
        .map_err(|_| CertError::BadSignature(name(cert)))
}

fn check_ca(cert: &X509Certificate<'_>) -> Result<(), CertError> {
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => Ok(()),
        _ => Err(CertError::NotCa(name(cert))),
    }
}

/// Verify `path` (leaf first, root excluded) up to the pinned `root`: each
/// certificate signed by the next, every issuer a CA, everything (the root
/// too) valid at `at` (Unix seconds). The root's own signature is not
/// checked: it is trusted because it is pinned.
pub fn verify_path(
    path: &[X509Certificate<'_>],
    root: &X509Certificate<'_>,
    at: u64,
) -> Result<(), CertError> {
    if path.is_empty() {
        return Err(CertError::NoPath);
    }
    check_validity(root, at)?;
    for (i, cert) in path.iter().enumerate() {
        check_validity(cert, at)?;
        let issuer = path.get(i + 1).unwrap_or(root);
        check_ca(issuer)?;
        check_signed_by(cert, issuer)?;
    }
    Ok(())
}

/// The raw public key of a certificate (an EC point, or an RSA key).
pub fn public_key<'a>(cert: &'a X509Certificate<'_>) -> &'a [u8] {
    &cert.public_key().subject_public_key.data
}

/// Whether a certificate's key is an EC key on P-384 (the only curve the
/// SEV-SNP and Nitro signatures use).
pub fn is_p384(cert: &X509Certificate<'_>) -> bool {
    cert.public_key()
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .is_some_and(|o| o.to_id_string() == P384)
}
