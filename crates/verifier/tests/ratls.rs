//! RA-TLS certificates from other stacks (real SGX quotes of debug
//! enclaves, no collateral), and certificates whose evidence was moved onto
//! another key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{now, read, vectors};
use minikms_verifier::{
    certificate_evidence, verify_certificate, Binding, EvidenceError, EvidenceFormat, Policy,
    PolicyError, VerifyError, VerifyOptions,
};
use proptest::prelude::*;

const CERTS: [&str; 3] = [
    "ra-tls/gramine-cert.pem",
    "ra-tls/intel-sgxsdk-cert.pem",
    "ra-tls/rats-tls-cert.pem",
];

fn der(dir: &std::path::Path, name: &str) -> Vec<u8> {
    pem::parse(read(dir, name)).unwrap().into_contents()
}

fn offline() -> VerifyOptions<'static> {
    VerifyOptions {
        at: now(),
        collateral: None,
        offline: true,
    }
}

fn debug_ok() -> Policy {
    Policy {
        allow_debug: true,
        ..Policy::default()
    }
}

#[test]
fn certificates_of_other_stacks_verify_and_bind_their_keys() {
    let Some(v) = vectors() else { return };
    for name in CERTS {
        let cert = der(&v, name);
        let claims = verify_certificate(&cert, &offline(), &debug_ok())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(claims.key_binding, Binding::Valid, "{name}");
        assert_eq!(claims.evidence.binding, Some(Binding::Valid), "{name}");
        assert_eq!(claims.evidence_format, EvidenceFormat::TaggedEvidence);
        assert_eq!(claims.evidence.platform, "sgx");
        assert!(claims.evidence.debug);
        let held = claims.evidence.held_data.as_ref().unwrap();
        let json = serde_json::to_value(&held.claims).unwrap();
        assert_eq!(
            json["pubkey_hash"].as_str(),
            Some(claims.spki_sha256.as_str())
        );
    }
}

#[test]
fn debug_enclaves_need_allow_debug() {
    let Some(v) = vectors() else { return };
    for name in CERTS {
        let err = verify_certificate(&der(&v, name), &offline(), &Policy::default()).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Policy(PolicyError::DebugRefused),
            "{name}"
        );
    }
}

/// With the tagged extension's OID changed, the raw-quote extensions are read.
#[test]
fn legacy_raw_quote_extensions_bind_the_key() {
    let Some(v) = vectors() else { return };
    for (name, format) in [
        ("ra-tls/gramine-cert.pem", EvidenceFormat::GramineLegacy),
        ("ra-tls/intel-sgxsdk-cert.pem", EvidenceFormat::IntelSgxSdk),
    ] {
        let mut cert = der(&v, name);
        let oid = [0x06, 0x06, 0x67, 0x81, 0x05, 0x05, 0x04, 0x09];
        let at = cert.windows(oid.len()).position(|w| w == oid).unwrap();
        cert[at + oid.len() - 1] = 0x0A;
        assert_eq!(certificate_evidence(&cert).unwrap().format, format);
        match verify_certificate(&cert, &offline(), &debug_ok()) {
            Ok(claims) => {
                assert_eq!(format, EvidenceFormat::GramineLegacy);
                assert_eq!(claims.evidence_format, format);
                assert_eq!(claims.key_binding, Binding::Valid);
            }
            // The SGX SDK's raw quote is the tagged one: it commits to the
            // claims, not to the key directly, so alone it binds nothing.
            Err(e) => {
                assert_eq!(format, EvidenceFormat::IntelSgxSdk, "{name}: {e}");
                assert_eq!(e, VerifyError::Evidence(EvidenceError::KeyNotBound));
            }
        }
    }
}

#[test]
fn a_certificate_without_evidence_is_named_so() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["x".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let err = verify_certificate(cert.der(), &offline(), &debug_ok()).unwrap_err();
    assert_eq!(err.to_string(), "certificate has no attestation evidence");
}

/// Each extension's OID (as arcs) and DER contents.
fn extensions(cert: &[u8]) -> Vec<(Vec<u64>, Vec<u8>)> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, c) = X509Certificate::from_der(cert).unwrap();
    c.extensions()
        .iter()
        .filter_map(|e| Some((e.oid.iter()?.collect(), e.value.to_vec())))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Evidence copied onto a certificate for another key, alone or with
    /// every other extension of the original, fails the key binding.
    #[test]
    fn evidence_moved_onto_another_key_is_refused(
        which in 0usize..3,
        alg in 0usize..3,
        keep_others in any::<bool>(),
    ) {
        let Some(v) = vectors() else { return Ok(()) };
        let original = der(&v, CERTS[which]);
        let alg = [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ][alg];
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["enclave".into()]).unwrap();
        for (oid, value) in extensions(&original) {
            let evidence = oid == [2, 23, 133, 5, 4, 9];
            if evidence || (keep_others && oid.starts_with(&[1, 2, 840, 113741])) {
                params
                    .custom_extensions
                    .push(rcgen::CustomExtension::from_oid_content(&oid, value));
            }
        }
        let forged = params.self_signed(&key).unwrap();
        let err = verify_certificate(forged.der(), &offline(), &debug_ok()).unwrap_err();
        prop_assert_eq!(err, VerifyError::Evidence(EvidenceError::KeyNotBound));
    }
}
