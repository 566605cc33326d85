//! Root selection and the simulation gate, with a tiny simulated quote built
//! here: a PCK leaf issued by the published simulation root (its key is
//! published next to it), a QE report signed by that leaf, and an enclave
//! body signed by a fresh attestation key. End-to-end tests with the real
//! simulated QE live elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use minikms_verifier::roots::{
    select_root, Root, INTEL_SGX_ROOT_CA_SHA256, SIMULATION_ROOT_CA_PEM,
};
use minikms_verifier::{
    verify_evidence, EvidenceError, Policy, PolicyError, VerifyError, VerifyOptions,
};

fn sim_root_key() -> Option<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/sgx-sim/sim-root-ca.key.pem");
    match std::fs::read_to_string(&p) {
        Ok(k) => Some(k),
        Err(e) => {
            eprintln!("skipping: no simulation root key at {}: {e}", p.display());
            None
        }
    }
}

fn new_key() -> (EcdsaKeyPair, rcgen::KeyPair) {
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let der = key.to_pkcs8v1().unwrap();
    let rc = rcgen::KeyPair::try_from(der.as_ref()).unwrap();
    (key, rc)
}

/// A PCK leaf PEM for `leaf`, issued by the simulation root with `issuer_key`.
fn leaf_cert(leaf: &rcgen::KeyPair, issuer_key_pem: &str) -> String {
    let issuer_key = rcgen::KeyPair::from_pem(issuer_key_pem).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(SIMULATION_ROOT_CA_PEM, issuer_key).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "minikms test PCK");
    params.signed_by(leaf, &issuer).unwrap().pem()
}

/// An SGX v3 quote: `body` (header + enclave report, 432 B) signed by a
/// fresh attestation key, QE report signed by `pck`, chain `chain_pem`.
fn build_quote(body: &[u8], pck: &EcdsaKeyPair, chain_pem: &str) -> Vec<u8> {
    let rng = SystemRandom::new();
    let att = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let att_pub = &att.public_key().as_ref()[1..];
    let qe_auth = [7u8; 32];
    let mut qe_report = vec![0u8; 384];
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(att_pub);
    ctx.update(&qe_auth);
    qe_report[320..352].copy_from_slice(ctx.finish().as_ref());

    let mut auth = Vec::new();
    auth.extend_from_slice(att.sign(&rng, body).unwrap().as_ref());
    auth.extend_from_slice(att_pub);
    auth.extend_from_slice(&qe_report);
    auth.extend_from_slice(pck.sign(&rng, &qe_report).unwrap().as_ref());
    auth.extend_from_slice(&32u16.to_le_bytes());
    auth.extend_from_slice(&qe_auth);
    auth.extend_from_slice(&5u16.to_le_bytes());
    let mut cert_data = chain_pem.as_bytes().to_vec();
    cert_data.push(0);
    auth.extend_from_slice(&u32::try_from(cert_data.len()).unwrap().to_le_bytes());
    auth.extend_from_slice(&cert_data);

    let mut quote = body.to_vec();
    quote.extend_from_slice(&u32::try_from(auth.len()).unwrap().to_le_bytes());
    quote.extend_from_slice(&auth);
    quote
}

/// Header and enclave report of the mithril quote (a debug enclave), or a
/// synthetic one when the vectors are absent.
fn body() -> Vec<u8> {
    if let Some(q) =
        common::vectors().map(|v| common::read(&v, "sgx-dcap/mithril_sgx_quote_v3.bin"))
    {
        return q[..432].to_vec();
    }
    let mut b = vec![0u8; 432];
    b[0] = 3;
    b[2] = 2;
    b[12..28].copy_from_slice(&minikms_verifier::quote::INTEL_QE_VENDOR_ID);
    b
}

fn offline() -> VerifyOptions<'static> {
    VerifyOptions {
        at: common::now(),
        collateral: None,
        offline: true,
    }
}

fn allow_sim() -> Policy {
    Policy {
        allow_simulation: true,
        allow_debug: true,
        ..Policy::default()
    }
}

#[test]
fn simulated_quote_is_gated_and_labelled() {
    let Some(root_key) = sim_root_key() else {
        return;
    };
    let (pck, pck_rc) = new_key();
    let chain = format!(
        "{}{}",
        leaf_cert(&pck_rc, &root_key),
        SIMULATION_ROOT_CA_PEM
    );
    let quote = build_quote(&body(), &pck, &chain);

    let err = verify_evidence(&quote, &offline(), &Policy::default()).unwrap_err();
    assert_eq!(err, VerifyError::Policy(PolicyError::SimulationRefused));
    assert_eq!(
        err.to_string(),
        "simulation evidence refused (pass --allow-simulation to accept it)"
    );
    // Refused even with allow_debug and accept-everything TCB settings.
    let mut lenient = allow_sim();
    lenient.allow_simulation = false;
    assert!(verify_evidence(&quote, &offline(), &lenient).is_err());

    let claims = verify_evidence(&quote, &offline(), &allow_sim()).unwrap();
    assert!(claims.simulation);
    assert_eq!(claims.platform, "simulation");
    assert_eq!(claims.tee, "sgx");
    let json = serde_json::to_value(&claims).unwrap();
    assert_eq!(json["simulation"], true);
    assert_eq!(json["platform"], "simulation");

    // The same chain without the root certificate still selects it.
    let leaf_only = leaf_cert(&pck_rc, &root_key);
    let quote2 = build_quote(&body(), &pck, &leaf_only);
    assert!(
        verify_evidence(&quote2, &offline(), &allow_sim())
            .unwrap()
            .simulation
    );

    // The /attestation JSON cannot pass simulated evidence off as "sgx".
    let doc = serde_json::json!({"QuoteHex": hex::encode(&quote), "platform": "sgx"});
    let err =
        verify_evidence(&serde_json::to_vec(&doc).unwrap(), &offline(), &allow_sim()).unwrap_err();
    assert!(matches!(
        err,
        VerifyError::Evidence(EvidenceError::ClaimMismatch {
            field: "platform",
            ..
        })
    ));
}

#[test]
fn simulated_quote_signatures_still_matter() {
    let Some(root_key) = sim_root_key() else {
        return;
    };
    let (pck, pck_rc) = new_key();
    let chain = format!(
        "{}{}",
        leaf_cert(&pck_rc, &root_key),
        SIMULATION_ROOT_CA_PEM
    );
    let mut quote = build_quote(&body(), &pck, &chain);
    quote[436] ^= 1; // ISV signature
    let err = verify_evidence(&quote, &offline(), &allow_sim()).unwrap_err();
    assert_eq!(err.to_string(), "quote signature does not verify");

    // A leaf that names the simulation root as issuer but is signed by
    // another key: the chain does not verify.
    let (other, _) = new_key();
    let other_pem = {
        let der = other.to_pkcs8v1().unwrap();
        pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()))
    };
    let forged = format!(
        "{}{}",
        leaf_cert(&pck_rc, &other_pem),
        SIMULATION_ROOT_CA_PEM
    );
    let quote = build_quote(&body(), &pck, &forged);
    let err = verify_evidence(&quote, &offline(), &allow_sim()).unwrap_err();
    assert!(
        matches!(err, VerifyError::Evidence(EvidenceError::PckChain(_))),
        "{err}"
    );

    // A QE report signed by a key other than the PCK leaf's.
    let chain = format!(
        "{}{}",
        leaf_cert(&pck_rc, &root_key),
        SIMULATION_ROOT_CA_PEM
    );
    let quote = build_quote(&body(), &other, &chain);
    let err = verify_evidence(&quote, &offline(), &allow_sim()).unwrap_err();
    assert_eq!(err.to_string(), "QE report signature does not verify");
}

#[test]
fn root_selection() {
    let sim = minikms_verifier::roots::simulation_root_der().unwrap();
    assert_eq!(
        select_root(std::slice::from_ref(&sim)).unwrap().0,
        Root::Simulation
    );
    let err = select_root(&[b"junk".to_vec()]).unwrap_err();
    assert!(matches!(err, EvidenceError::PckChain(_)));
    let Some(v) = common::vectors() else { return };
    let intel = common::read(&v, "sgx-dcap/intel_sgx_root_ca.der");
    assert_eq!(
        digest::digest(&digest::SHA256, &intel).as_ref(),
        INTEL_SGX_ROOT_CA_SHA256
    );
    assert_eq!(select_root(&[intel]).unwrap().0, Root::Intel);
    // A self-signed certificate under neither root.
    let (_, kp) = new_key();
    let own = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let err = select_root(&[own.der().to_vec()]).unwrap_err();
    assert!(matches!(err, EvidenceError::UnknownRoot(_)), "{err}");
}
