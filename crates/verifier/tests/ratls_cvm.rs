//! RA-TLS certificates carrying confidential-VM evidence: the recorded real
//! TDX quote and SEV-SNP report (../shared/vectors) put into certificates
//! this test makes with rcgen, as tagged evidence (2.23.133.5.4.9, tag
//! 60000 `[evidence, claims]`) or Intel's raw TDX quote extension.
//!
//! Real evidence is over someone else's report data, so no certificate
//! made here can bind its key: each must verify the evidence in full
//! (signatures, chain, collateral or VCEK) and then fail the binding,
//! which shows both that the evidence path runs and that the binding is
//! enforced. A bit flipped in the evidence fails earlier, at its
//! signature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_lc_rs::digest;
use ciborium::Value;
use common::{at_of, read, vectors};
use minikms_verifier::{
    certificate_evidence, verify_certificate, verify_certificate_with, AmdCerts, CallerError,
    EvidenceError, EvidenceFormat, Policy, VerifyError, VerifyOptions,
};

const TDX: &str = "tdx-dcap/dcapqvl_tdx_quote_v4.bin";
const TDX_COLLATERAL: &str = "tdx-dcap/dcapqvl_tdx_quote_v4_collateral.json";
const SNP: &str = "sev-snp/gosevguest_attestation_milan_v2.bin";
const SNP_VCEK: &str = "sev-snp/gosevguest_vcek_milan.der";
const MILAN: &str = "sev-snp/amd_milan_ask_ark.pem";
/// 2026-05-28: inside the Milan VCEK's and chain's validity.
const SNP_AT: u64 = 1_780_000_000;

const TAGGED: [u64; 6] = [2, 23, 133, 5, 4, 9];
const INTEL_TDX: [u64; 10] = [1, 2, 840, 113741, 1, 5, 5, 1, 6, 0];

/// A self-signed certificate whose extension `oid` holds `value`.
fn certificate(oid: &[u64], value: Vec<u8>) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["cvm".into()]).unwrap();
    params
        .custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(oid, value));
    params.self_signed(&key).unwrap().der().to_vec()
}

/// A self-signed certificate for a fresh key whose tagged evidence is
/// `[evidence, {"pubkey-hash": [1, SHA-256(its SPKI)]}]`: the claims name
/// the certificate's own key, as minikms writes them.
fn tagged_certificate(evidence: &[u8]) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let spki_hash = digest::digest(
        &digest::SHA256,
        &rcgen::PublicKeyData::subject_public_key_info(&key),
    );
    let claims = Value::Map(vec![(
        Value::Text("pubkey-hash".into()),
        Value::Array(vec![
            Value::Integer(1.into()),
            Value::Bytes(spki_hash.as_ref().to_vec()),
        ]),
    )]);
    let mut claims_bytes = Vec::new();
    ciborium::into_writer(&claims, &mut claims_bytes).unwrap();
    let tagged = Value::Tag(
        60000,
        Box::new(Value::Array(vec![
            Value::Bytes(evidence.to_vec()),
            Value::Bytes(claims_bytes),
        ])),
    );
    let mut value = Vec::new();
    ciborium::into_writer(&tagged, &mut value).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["cvm".into()]).unwrap();
    params
        .custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(&TAGGED, value));
    params.self_signed(&key).unwrap().der().to_vec()
}

/// With the quote's collateral, at the start of its window.
fn tdx_options(collateral: &[u8]) -> VerifyOptions<'_> {
    VerifyOptions {
        at: at_of(collateral),
        collateral: Some(collateral),
        offline: false,
    }
}

#[test]
fn a_tdx_quote_in_tagged_evidence_is_verified_then_must_bind_the_claims() {
    let Some(v) = vectors() else { return };
    let quote = read(&v, TDX);
    let collateral = read(&v, TDX_COLLATERAL);
    let cert = tagged_certificate(&quote);
    let evidence = certificate_evidence(&cert).unwrap();
    assert_eq!(evidence.format, EvidenceFormat::TaggedEvidence);
    assert!(!evidence.is_snp_report());

    let options = tdx_options(&collateral);
    // The quote, its PCK chain and the collateral all verify (the TCB is
    // UpToDate); its report data is not over our claims.
    let err = verify_certificate(&cert, &options, &Policy::default()).unwrap_err();
    assert_eq!(err, VerifyError::Evidence(EvidenceError::ClaimsNotBound));
    let offline = VerifyOptions {
        collateral: None,
        offline: true,
        ..options
    };
    let err = verify_certificate(&cert, &offline, &Policy::default()).unwrap_err();
    assert_eq!(err, VerifyError::Evidence(EvidenceError::ClaimsNotBound));

    // One bit of the TD report changed: the quote signature fails first.
    let mut flipped = quote.clone();
    flipped[48 + 520] ^= 1;
    let err = verify_certificate(&tagged_certificate(&flipped), &options, &Policy::default())
        .unwrap_err();
    assert_eq!(err, VerifyError::Evidence(EvidenceError::QuoteSignature));
}

#[test]
fn a_raw_tdx_quote_in_intels_extension_must_bind_the_key() {
    let Some(v) = vectors() else { return };
    let quote = read(&v, TDX);
    let collateral = read(&v, TDX_COLLATERAL);
    // Intel's OID is 1.2.840.113741.1.5.5.1.6; the same arcs with one more
    // is not it.
    let oid = &INTEL_TDX[..9];
    let cert = certificate(oid, quote.clone());
    assert_eq!(
        certificate_evidence(&cert).unwrap().format,
        EvidenceFormat::IntelTdx
    );
    let options = tdx_options(&collateral);
    let err = verify_certificate(&cert, &options, &Policy::default()).unwrap_err();
    assert_eq!(err, VerifyError::Evidence(EvidenceError::KeyNotBound));
    let other = certificate(&INTEL_TDX, quote);
    let err = verify_certificate(&other, &options, &Policy::default()).unwrap_err();
    assert_eq!(
        err,
        VerifyError::Evidence(EvidenceError::NoCertificateEvidence)
    );
}

#[test]
fn an_snp_report_in_tagged_evidence_is_verified_then_must_bind_the_claims() {
    let Some(v) = vectors() else { return };
    let report = read(&v, SNP);
    let (vcek, chain) = (read(&v, SNP_VCEK), read(&v, MILAN));
    let amd = AmdCerts {
        vcek: &vcek,
        amd_chain: &chain,
    };
    let cert = tagged_certificate(&report);
    assert!(certificate_evidence(&cert).unwrap().is_snp_report());
    let options = VerifyOptions {
        at: SNP_AT,
        collateral: None,
        offline: false,
    };
    let debug_ok = Policy {
        allow_debug: true,
        ..Policy::default()
    };

    // Without the VCEK and chain: said so, nothing fetched.
    let err = verify_certificate(&cert, &options, &debug_ok).unwrap_err();
    assert_eq!(err, VerifyError::Caller(CallerError::NoAmdCerts));
    // The go-sev-guest report is a debug guest: the policy sees the report.
    let err = verify_certificate_with(&cert, &options, Some(&amd), &Policy::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "debug enclave refused (pass --allow-debug to accept it)"
    );
    // Chain, VCEK, signature and policy pass; the report data (01 02 03 04
    // 05, then zeros) is not over our claims.
    let err = verify_certificate_with(&cert, &options, Some(&amd), &debug_ok).unwrap_err();
    assert_eq!(err, VerifyError::Evidence(EvidenceError::ClaimsNotBound));

    let mut flipped = report.clone();
    flipped[0x50] ^= 1;
    let err = verify_certificate_with(
        &tagged_certificate(&flipped),
        &options,
        Some(&amd),
        &debug_ok,
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::Evidence(EvidenceError::ReportSignature));

    // A Turin VCEK for a Milan report under the Milan chain.
    let turin = read(&v, "sev-snp/virtee_vcek_turin.der");
    let wrong = AmdCerts {
        vcek: &turin,
        amd_chain: &chain,
    };
    let err = verify_certificate_with(&cert, &options, Some(&wrong), &debug_ok).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("certificate chain does not verify"),
        "{err}"
    );
}
