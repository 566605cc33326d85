//! Real SEV-SNP reports from ../shared/vectors/sev-snp, verified with their
//! VCEKs and AMD's chains, as its README says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{read, vectors};
use minikms_verifier::evidence::decode_hex_text;
use minikms_verifier::snp::TcbVersion;
use minikms_verifier::{
    detect, verify_report, Detected, EvidenceError, Policy, PolicyError, VerifyError,
};

const VIRTEE: &str = "sev-snp/virtee_report_milan_v2.hex";
const VIRTEE_VCEK: &str = "sev-snp/virtee_vcek_milan.der";
const GOSEV: &str = "sev-snp/gosevguest_attestation_milan_v2.bin";
const GOSEV_VCEK: &str = "sev-snp/gosevguest_vcek_milan.der";
const MILAN: &str = "sev-snp/amd_milan_ask_ark.pem";
const GENOA: &str = "sev-snp/amd_genoa_ask_ark.pem";
const TURIN: &str = "sev-snp/amd_turin_ask_ark.pem";
const TURIN_VCEK: &str = "sev-snp/virtee_vcek_turin.der";

/// 2026-05-28: inside both Milan VCEKs' validity and the chain's.
const AT: u64 = 1_780_000_000;

fn virtee_report(v: &Path) -> Vec<u8> {
    decode_hex_text(&read(v, VIRTEE)).unwrap()
}

fn debug_ok() -> Policy {
    Policy {
        allow_debug: true,
        ..Policy::default()
    }
}

#[test]
fn virtee_report_verifies_with_its_vcek_and_the_milan_chain() {
    let Some(v) = vectors() else { return };
    let report = virtee_report(&v);
    let claims = verify_report(
        &report,
        &read(&v, VIRTEE_VCEK),
        &read(&v, MILAN),
        AT,
        &Policy::default(),
    )
    .unwrap();
    assert_eq!((claims.platform, claims.tee), ("sev-snp", "sev-snp"));
    assert_eq!(claims.quote_version, 2);
    assert!(!claims.debug && !claims.simulation);
    let snp = claims.snp.as_ref().unwrap();
    assert_eq!(snp.policy, "0x0000000000030000");
    assert!(snp.smt_allowed && !snp.migration_agent_allowed);
    assert_eq!(snp.vmpl, 0);
    assert_eq!(
        snp.reported_tcb.to_string(),
        "bootloader=3,tee=0,snp=8,microcode=115"
    );
    assert!(snp.chip_id.starts_with("d49554ec"));
    assert_eq!(snp.measurement.len(), 96);
    assert_eq!(snp.host_data.len(), 64);

    // The JSON has the SGX/TDX claims' shape, the report's fields under "snp".
    let json = serde_json::to_value(&claims).unwrap();
    assert_eq!(json["tcb_status"], "unknown");
    assert_eq!(json["report_data"].as_str().unwrap().len(), 128);
    assert_eq!(json["snp"]["product"], "Milan");
    assert_eq!(json["snp"]["reported_tcb"]["microcode"], 115);
    assert!(json["snp"]["reported_tcb"].get("fmc").is_none());
    assert!(json.get("td").is_none());
}

#[test]
fn gosevguest_report_is_a_debug_guest() {
    let Some(v) = vectors() else { return };
    let report = read(&v, GOSEV);
    let (vcek, chain) = (read(&v, GOSEV_VCEK), read(&v, MILAN));
    let err = verify_report(&report, &vcek, &chain, AT, &Policy::default()).unwrap_err();
    assert_eq!(err, VerifyError::Policy(PolicyError::DebugRefused));
    let claims = verify_report(&report, &vcek, &chain, AT, &debug_ok()).unwrap();
    assert!(claims.debug);
    assert!(claims.report_data.starts_with("0102030405000000"));
    let snp = claims.snp.unwrap();
    assert_eq!(snp.policy, "0x00000000000b0000");
    assert_eq!(
        snp.reported_tcb.to_string(),
        "bootloader=2,tee=0,snp=5,microcode=68"
    );
}

#[test]
fn the_files_are_detected_as_snp_reports() {
    let Some(v) = vectors() else { return };
    assert_eq!(
        detect(&read(&v, VIRTEE)),
        Detected::SnpReport(virtee_report(&v))
    );
    let raw = read(&v, GOSEV);
    assert_eq!(detect(&raw), Detected::SnpReport(raw.clone()));
}

/// Every single-bit flip anywhere in the report is refused: in the signed
/// region [0, 0x2A0) by the signature, in R and S by the signature, beyond
/// them by the zero check.
#[test]
fn every_bit_of_the_report_matters() {
    let Some(v) = vectors() else { return };
    let (vcek, chain) = (read(&v, VIRTEE_VCEK), read(&v, MILAN));
    let mut report = virtee_report(&v);
    let policy = Policy::default();
    verify_report(&report, &vcek, &chain, AT, &policy).unwrap();
    let mut survivors = Vec::new();
    for i in 0..report.len() {
        for bit in 0..8 {
            report[i] ^= 1 << bit;
            if verify_report(&report, &vcek, &chain, AT, &policy).is_ok() {
                survivors.push((i, bit));
            }
            report[i] ^= 1 << bit;
        }
    }
    assert!(survivors.is_empty(), "flips {survivors:?} still verify");
    // The signed region alone: every flip fails on the signature itself
    // (or on a parse check that runs before it), never on the policy.
    for i in 0..0x2A0 {
        report[i] ^= 0x01;
        let err = verify_report(&report, &vcek, &chain, AT, &debug_ok()).unwrap_err();
        assert_eq!(err.fault(), "evidence", "byte {i:#x}: {err}");
        report[i] ^= 0x01;
    }
}

#[test]
fn a_turin_vcek_with_the_milan_chain_is_refused() {
    let Some(v) = vectors() else { return };
    let report = virtee_report(&v);
    let err = verify_report(
        &report,
        &read(&v, TURIN_VCEK),
        &read(&v, MILAN),
        AT,
        &Policy::default(),
    )
    .unwrap_err();
    let VerifyError::Evidence(EvidenceError::CertChain(msg)) = &err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("is not issued by"), "{msg}");
    // With its own chain the Turin VCEK verifies, but did not sign the report.
    let err = verify_report(
        &report,
        &read(&v, TURIN_VCEK),
        &read(&v, TURIN),
        AT,
        &Policy::default(),
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::Evidence(EvidenceError::ReportSignature));
}

#[test]
fn wrong_vcek_chain_or_time_is_refused() {
    let Some(v) = vectors() else { return };
    let report = virtee_report(&v);
    let (vcek, milan) = (read(&v, VIRTEE_VCEK), read(&v, MILAN));
    let p = Policy::default();
    // Another chip's VCEK, from the same chain.
    let err = verify_report(&report, &read(&v, GOSEV_VCEK), &milan, AT, &p).unwrap_err();
    assert_eq!(err, VerifyError::Evidence(EvidenceError::ReportSignature));
    // The Genoa chain did not issue a Milan VCEK.
    let err = verify_report(&report, &vcek, &read(&v, GENOA), AT, &p).unwrap_err();
    assert!(
        matches!(err, VerifyError::Evidence(EvidenceError::CertChain(_))),
        "{err}"
    );
    // ARK then ASK (the wrong order): the ASK is no built-in ARK.
    let pems = pem::parse_many(&milan).unwrap();
    let swapped = pem::encode_many(&[pems[1].clone(), pems[0].clone()]);
    let err = verify_report(&report, &vcek, swapped.as_bytes(), AT, &p).unwrap_err();
    assert!(err.to_string().contains("not a built-in AMD ARK"), "{err}");
    // The ASK alone.
    let ask_only = pem::encode(&pems[0]);
    let err = verify_report(&report, &vcek, ask_only.as_bytes(), AT, &p).unwrap_err();
    assert!(err.to_string().contains("the ASK then the ARK"), "{err}");
    // After the VCEK expired (2030-04-03), and before it was issued.
    for at in [1_920_000_000, 1_600_000_000] {
        let err = verify_report(&report, &vcek, &milan, at, &p).unwrap_err();
        assert!(
            matches!(err, VerifyError::Evidence(EvidenceError::CertChain(_))),
            "{err}"
        );
    }
    // A truncated report.
    let err = verify_report(&report[..1000], &vcek, &milan, AT, &p).unwrap_err();
    assert!(
        matches!(err, VerifyError::Evidence(EvidenceError::Malformed(_))),
        "{err}"
    );
}

#[test]
fn measurement_and_minimum_tcb() {
    let Some(v) = vectors() else { return };
    let report = virtee_report(&v);
    let (vcek, chain) = (read(&v, VIRTEE_VCEK), read(&v, MILAN));
    let measurement: [u8; 48] = report[0x90..0xC0].try_into().unwrap();
    let pinned = Policy {
        measurement: Some(measurement),
        min_snp_tcb: Some("bootloader=3,tee=0,snp=8,microcode=115".parse().unwrap()),
        ..Policy::default()
    };
    verify_report(&report, &vcek, &chain, AT, &pinned).unwrap();

    let wrong = Policy {
        measurement: Some([0x11; 48]),
        ..Policy::default()
    };
    let err = verify_report(&report, &vcek, &chain, AT, &wrong).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("measurement mismatch: expected 1111"),
        "{err}"
    );

    let newer: TcbVersion = "bootloader=3,tee=0,snp=9,microcode=115".parse().unwrap();
    let err = verify_report(
        &report,
        &vcek,
        &chain,
        AT,
        &Policy {
            min_snp_tcb: Some(newer),
            ..Policy::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "SEV-SNP reported TCB bootloader=3,tee=0,snp=8,microcode=115 is below the minimum \
         bootloader=3,tee=0,snp=9,microcode=115"
    );

    // SGX identity pins cannot be met by an SEV-SNP report.
    let sgx = Policy {
        mrenclave: Some([0; 32]),
        ..Policy::default()
    };
    let err = verify_report(&report, &vcek, &chain, AT, &sgx).unwrap_err();
    assert!(err.to_string().contains("none (SEV-SNP quote)"), "{err}");
}
