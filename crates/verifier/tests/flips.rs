//! Flipping any single byte of a quote or of its collateral makes
//! verification fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{at_of, now, read, vectors};
use minikms_verifier::{verify_evidence, Policy, TcbStatus, VerifyOptions};

fn policy() -> Policy {
    Policy {
        allow_debug: true,
        accept_tcb: vec![TcbStatus::ConfigurationAndSWHardeningNeeded],
        ..Policy::default()
    }
}

/// Flip every byte of `bytes` in turn (XOR `mask`) and check that `verify`
/// fails each time; returns how many flips were tried.
fn sweep(bytes: &[u8], mask: u8, verify: impl Fn(&[u8]) -> bool) -> usize {
    assert!(verify(bytes), "the unmodified input must verify");
    let mut copy = bytes.to_vec();
    let mut survivors = Vec::new();
    for i in 0..bytes.len() {
        copy[i] ^= mask;
        if verify(&copy) {
            survivors.push(i);
        }
        copy[i] ^= mask;
    }
    assert!(survivors.is_empty(), "flips at {survivors:?} still verify");
    bytes.len()
}

/// The whole quote: header, body, ISV signature, attestation key, QE report,
/// QE report signature, QE auth data, and the PCK chain, with collateral.
#[test]
fn every_quote_byte_matters_sgx_full() {
    let Some(v) = vectors() else { return };
    let quote = read(&v, "sgx-dcap/dcapqvl_sgx_quote_v3.bin");
    let coll = read(&v, "sgx-dcap/dcapqvl_sgx_quote_v3_collateral.json");
    let opts = VerifyOptions {
        at: at_of(&coll),
        collateral: Some(&coll),
        offline: false,
    };
    let n = sweep(&quote, 0x01, |q| {
        verify_evidence(q, &opts, &policy()).is_ok()
    });
    assert_eq!(n, 4600);
}

#[test]
fn every_quote_byte_matters_offline() {
    let Some(v) = vectors() else { return };
    let opts = VerifyOptions {
        at: now(),
        collateral: None,
        offline: true,
    };
    for name in [
        "sgx-dcap/mithril_sgx_quote_v3.bin",
        "tdx-dcap/dcapqvl_tdx_quote_v5_td15ex.bin",
    ] {
        let quote = read(&v, name);
        // TD15ex's chain is valid from 2026-08-13; the quote itself is 5247 B.
        sweep(&quote, 0x80, |q| {
            verify_evidence(q, &opts, &policy()).is_ok()
        });
    }
}

#[test]
fn every_quote_byte_matters_tdx_full() {
    let Some(v) = vectors() else { return };
    let raw = read(&v, "tdx-dcap/dcapqvl_tdx_quote_v4.bin");
    let coll = read(&v, "tdx-dcap/dcapqvl_tdx_quote_v4_collateral.json");
    // The file is 4936 B of quote and 70 B of zero padding.
    let quote = &raw[..4936];
    assert!(raw[4936..].iter().all(|&b| b == 0));
    let opts = VerifyOptions {
        at: at_of(&coll),
        collateral: Some(&coll),
        offline: false,
    };
    sweep(quote, 0x01, |q| {
        verify_evidence(q, &opts, &policy()).is_ok()
    });
}

/// Every byte of the collateral JSON, flipped so that it stays ASCII (and so
/// mostly still parses): signatures, CRLs, issuer chains, TCB info and QE
/// identity all matter.
#[test]
fn every_collateral_byte_matters() {
    let Some(v) = vectors() else { return };
    let quote = read(&v, "sgx-dcap/dcapqvl_sgx_quote_v3.bin");
    let coll = read(&v, "sgx-dcap/dcapqvl_sgx_quote_v3_collateral.json");
    let at = at_of(&coll);
    let n = sweep(&coll, 0x01, |c| {
        let opts = VerifyOptions {
            at,
            collateral: Some(c),
            offline: false,
        };
        verify_evidence(&quote, &opts, &policy()).is_ok()
    });
    assert_eq!(n, 14050);
}
