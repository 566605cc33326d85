//! Real AWS Nitro Enclaves attestation documents from
//! ../shared/vectors/nitro, verified as its README says: each at its own
//! timestamp (the leaf certificate lives about three hours).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{now, read, vectors};
use minikms_verifier::{
    detect, verify_document, Detected, EvidenceError, Policy, PolicyError, VerifyError,
};

const VALID: &str = "nitro/evervault_valid_attestation_doc.cbor";
const DEBUG: &str = "nitro/evervault_debug_mode_attestation_doc.cbor";
const DEBUG_2023: &str = "nitro/evervault_valid_attestation_doc_2023.b64";
const ETERNIS: &str = "nitro/eternis_example_attestation.b64";
const ETERNIS_INVALID: &str = "nitro/eternis_invalid_attestation.b64";

/// The document in a vector file (raw CBOR or base64 text).
fn document(v: &Path, name: &str) -> Vec<u8> {
    match detect(&read(v, name)) {
        Detected::NitroDocument(doc) => doc,
        other => panic!("{name} detected as {other:?}"),
    }
}

fn debug_ok() -> Policy {
    Policy {
        allow_debug: true,
        ..Policy::default()
    }
}

#[test]
fn the_production_document_verifies_at_its_timestamp() {
    let Some(v) = vectors() else { return };
    let doc = document(&v, VALID);
    let claims = verify_document(&doc, None, &Policy::default()).unwrap();
    assert_eq!((claims.platform, claims.tee), ("nitro", "nitro"));
    assert_eq!(claims.timestamp, 1665651482136);
    assert_eq!(claims.verified_at, 1665651482);
    assert!(!claims.debug);
    assert!(claims.pcrs[&0].starts_with("f4d48b81"));
    for i in [0, 1, 2, 8] {
        let pcr = &claims.pcrs[&i];
        assert_eq!(pcr.len(), 96);
        assert_eq!(pcr, &pcr.to_ascii_lowercase());
    }
    assert_eq!(claims.nonce.as_ref().unwrap().len(), 512);
    let json = serde_json::to_value(&claims).unwrap();
    assert_eq!(json["pcrs"]["0"], claims.pcrs[&0]);

    // Inside the leaf's window (08:57:59..11:58:02 UTC, inclusive), not
    // outside it.
    for at in [1665651479, 1665655000, 1665662282] {
        verify_document(&doc, Some(at), &Policy::default()).unwrap();
    }
    for at in [1665651478, 1665662283, now()] {
        let err = verify_document(&doc, Some(at), &Policy::default()).unwrap_err();
        assert!(
            matches!(err, VerifyError::Evidence(EvidenceError::CertChain(_))),
            "{at}: {err}"
        );
    }
}

#[test]
fn debug_documents_verify_only_with_allow_debug() {
    let Some(v) = vectors() else { return };
    for (name, timestamp) in [
        (DEBUG, 1665582606081),
        (DEBUG_2023, 1695049410860),
        (ETERNIS, 1725911352400),
    ] {
        let doc = document(&v, name);
        let err = verify_document(&doc, None, &Policy::default()).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Policy(PolicyError::DebugRefused),
            "{name}"
        );
        let claims = verify_document(&doc, None, &debug_ok()).unwrap();
        assert!(claims.debug);
        assert_eq!(claims.timestamp, timestamp);
        assert_eq!(claims.pcrs[&0], "00".repeat(48));
    }
    let claims = verify_document(&document(&v, DEBUG), None, &debug_ok()).unwrap();
    assert_eq!(
        claims.public_key.as_deref(),
        Some(hex::encode("my super secret key").as_str())
    );
    assert_eq!(
        claims.user_data.as_deref(),
        Some(hex::encode("hello, world!").as_str())
    );
}

#[test]
fn the_invalid_document_is_refused() {
    let Some(v) = vectors() else { return };
    let doc = document(&v, ETERNIS_INVALID);
    let err = verify_document(&doc, None, &debug_ok()).unwrap_err();
    assert_eq!(err, VerifyError::Evidence(EvidenceError::DocumentSignature));
}

#[test]
fn pcr0_is_the_measurement() {
    let Some(v) = vectors() else { return };
    let doc = document(&v, VALID);
    let pcr0 = verify_document(&doc, None, &Policy::default())
        .unwrap()
        .pcrs[&0]
        .clone();
    let pinned = Policy {
        measurement: Some(hex::decode(&pcr0).unwrap().try_into().unwrap()),
        ..Policy::default()
    };
    verify_document(&doc, None, &pinned).unwrap();
    let wrong = Policy {
        measurement: Some([0x22; 48]),
        ..Policy::default()
    };
    let err = verify_document(&doc, None, &wrong).unwrap_err();
    assert!(err.to_string().starts_with("measurement mismatch"), "{err}");
    let sgx = Policy {
        mrsigner: Some([0; 32]),
        ..Policy::default()
    };
    let err = verify_document(&doc, None, &sgx).unwrap_err();
    assert!(err.to_string().contains("none (Nitro document)"), "{err}");
}

/// Flipping any byte of the document makes verification fail: the COSE
/// structure, the protected header, the payload (every field, the
/// certificates included) and the signature.
#[test]
fn every_document_byte_matters() {
    let Some(v) = vectors() else { return };
    let mut doc = document(&v, VALID);
    let policy = debug_ok();
    let mut survivors = Vec::new();
    for i in 0..doc.len() {
        doc[i] ^= 0x01;
        if verify_document(&doc, None, &policy).is_ok() {
            survivors.push(i);
        }
        doc[i] ^= 0x01;
    }
    assert!(survivors.is_empty(), "flips at {survivors:?} still verify");
}

#[test]
fn a_tagged_document_verifies_too() {
    let Some(v) = vectors() else { return };
    let mut tagged = vec![0xd2];
    tagged.extend(document(&v, VALID));
    verify_document(&tagged, None, &Policy::default()).unwrap();
    // Trailing data after the document.
    let mut trailing = document(&v, VALID);
    trailing.push(0);
    assert!(verify_document(&trailing, None, &Policy::default()).is_err());
}
