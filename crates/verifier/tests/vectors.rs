//! Real DCAP vectors from ../shared/vectors, verified as its README says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{at_of, now, read, vectors};
use minikms_verifier::{
    verify_evidence, Binding, CallerError, CollateralError, EvidenceError, HeldClaims, Policy,
    PolicyError, TcbStatus, VerifyError, VerifyOptions,
};

const SGX: &str = "sgx-dcap/dcapqvl_sgx_quote_v3.bin";
const SGX_COLL: &str = "sgx-dcap/dcapqvl_sgx_quote_v3_collateral.json";
const MITHRIL: &str = "sgx-dcap/mithril_sgx_quote_v3.bin";
const MITHRIL_OE: &str = "sgx-dcap/mithril_oe_remote_report.bin";
const MITHRIL_HELD: &str = "sgx-dcap/mithril_enclave_held_data.bin";
const TDX4: &str = "tdx-dcap/dcapqvl_tdx_quote_v4.bin";
const TDX4_COLL: &str = "tdx-dcap/dcapqvl_tdx_quote_v4_collateral.json";
const TD15_OUT: &str = "tdx-dcap/dcapqvl_tdx_quote_v5_td15_outdated.bin";
const TD15_OUT_COLL: &str = "tdx-dcap/dcapqvl_tdx_quote_v5_td15_outdated_collateral.json";
const TD15EX: &str = "tdx-dcap/dcapqvl_tdx_quote_v5_td15ex.bin";
const TD15EX_COLL: &str = "tdx-dcap/dcapqvl_tdx_quote_v5_td15ex_collateral.json";

const SGX_MRENCLAVE: &str = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb";
const SGX_MRSIGNER: &str = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6";

fn accept(statuses: &[TcbStatus]) -> Policy {
    Policy {
        accept_tcb: statuses.to_vec(),
        ..Policy::default()
    }
}

fn full<'a>(collateral: &'a [u8], at: u64) -> VerifyOptions<'a> {
    VerifyOptions {
        at,
        collateral: Some(collateral),
        offline: false,
    }
}

fn offline(at: u64) -> VerifyOptions<'static> {
    VerifyOptions {
        at,
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
fn sgx_v3_full_verification() {
    let Some(v) = vectors() else { return };
    let (quote, coll) = (read(&v, SGX), read(&v, SGX_COLL));
    let at = at_of(&coll);
    assert_eq!(at, 1750330571, "window start per the vectors README");
    let policy = accept(&[TcbStatus::ConfigurationAndSWHardeningNeeded]);
    let claims = verify_evidence(&quote, &full(&coll, at), &policy).unwrap();
    assert_eq!(claims.platform, "sgx");
    assert_eq!(claims.tee, "sgx");
    assert!(!claims.simulation);
    assert!(!claims.debug);
    assert_eq!(claims.mrenclave.as_deref(), Some(SGX_MRENCLAVE));
    assert_eq!(claims.mrsigner.as_deref(), Some(SGX_MRSIGNER));
    assert_eq!((claims.isv_prod_id, claims.isv_svn), (Some(0), Some(0)));
    assert!(claims
        .report_data
        .starts_with(&hex::encode("Hello, world!")));
    assert_eq!(
        claims.tcb_status,
        TcbStatus::ConfigurationAndSWHardeningNeeded
    );
    assert_eq!(claims.advisory_ids, ["INTEL-SA-00289", "INTEL-SA-00615"]);
    // The last second of the window still verifies.
    verify_evidence(&quote, &full(&coll, 1752919277), &policy).unwrap();
}

#[test]
fn sgx_v3_policy_refusals() {
    let Some(v) = vectors() else { return };
    let (quote, coll) = (read(&v, SGX), read(&v, SGX_COLL));
    let opts = full(&coll, at_of(&coll));
    let err = verify_evidence(&quote, &opts, &Policy::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "TCB status ConfigurationAndSWHardeningNeeded not accepted \
         (pass --accept-tcb ConfigurationAndSWHardeningNeeded to accept it)"
    );
    assert_eq!(err.fault(), "policy");

    let base = accept(&[TcbStatus::ConfigurationAndSWHardeningNeeded]);
    let wrong = [0x11u8; 32];
    let err = verify_evidence(
        &quote,
        &opts,
        &Policy {
            mrenclave: Some(wrong),
            ..base.clone()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "MRENCLAVE mismatch: expected {}, got {SGX_MRENCLAVE}",
            hex::encode(wrong)
        )
    );
    let err = verify_evidence(
        &quote,
        &opts,
        &Policy {
            mrsigner: Some(wrong),
            ..base.clone()
        },
    )
    .unwrap_err();
    assert!(matches!(
        err,
        VerifyError::Policy(PolicyError::MrSignerMismatch { .. })
    ));
    assert!(err
        .to_string()
        .starts_with("MRSIGNER mismatch: expected 1111"));
    let err = verify_evidence(
        &quote,
        &opts,
        &Policy {
            product_id: Some(7),
            ..base.clone()
        },
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "product id mismatch: expected 7, got 0");
    let err = verify_evidence(
        &quote,
        &opts,
        &Policy {
            min_svn: Some(1),
            ..base.clone()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "security version too low: minimum 1, got 0"
    );
    // The right identity passes.
    let ok = Policy {
        mrenclave: Some(hex::decode(SGX_MRENCLAVE).unwrap().try_into().unwrap()),
        mrsigner: Some(hex::decode(SGX_MRSIGNER).unwrap().try_into().unwrap()),
        product_id: Some(0),
        min_svn: Some(0),
        ..base
    };
    verify_evidence(&quote, &opts, &ok).unwrap();
}

#[test]
fn sgx_v3_expired_and_not_yet_valid() {
    let Some(v) = vectors() else { return };
    let (quote, coll) = (read(&v, SGX), read(&v, SGX_COLL));
    let policy = accept(&[TcbStatus::ConfigurationAndSWHardeningNeeded]);
    let err = verify_evidence(&quote, &full(&coll, now()), &policy).unwrap_err();
    assert!(matches!(
        err,
        VerifyError::Collateral(CollateralError::Expired(_))
    ));
    assert!(
        err.to_string()
            .starts_with("collateral expired at 2025-07-19T"),
        "{err}"
    );
    let err = verify_evidence(&quote, &full(&coll, 1752919277 + 2), &policy).unwrap_err();
    assert!(
        err.to_string().starts_with("collateral expired at"),
        "{err}"
    );
    let err = verify_evidence(&quote, &full(&coll, 1750330571 - 1), &policy).unwrap_err();
    assert!(
        err.to_string().starts_with("collateral not valid until"),
        "{err}"
    );
}

#[test]
fn no_collateral_without_offline_is_refused() {
    let Some(v) = vectors() else { return };
    let err = verify_evidence(
        &read(&v, SGX),
        &VerifyOptions {
            at: now(),
            collateral: None,
            offline: false,
        },
        &Policy::default(),
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::Caller(CallerError::NoCollateral));
    assert!(err.to_string().contains("--offline"));
}

#[test]
fn sgx_v3_offline_reports_unknown_tcb() {
    let Some(v) = vectors() else { return };
    let claims = verify_evidence(&read(&v, SGX), &offline(now()), &Policy::default()).unwrap();
    assert_eq!(claims.tcb_status, TcbStatus::Unknown);
    assert!(claims.advisory_ids.is_empty());
    let json = serde_json::to_value(&claims).unwrap();
    assert_eq!(json["tcb_status"], "unknown");
}

#[test]
fn mithril_offline_debug() {
    let Some(v) = vectors() else { return };
    let quote = read(&v, MITHRIL);
    let claims = verify_evidence(&quote, &offline(now()), &debug_ok()).unwrap();
    assert!(claims.debug);
    assert_eq!(claims.platform, "sgx");
    assert!(claims.mrenclave.as_deref().unwrap().starts_with("af343865"));
    assert!(claims.mrsigner.as_deref().unwrap().starts_with("58272dd3"));
    assert_eq!((claims.isv_prod_id, claims.isv_svn), (Some(1), Some(1)));
    assert!(claims.report_data.starts_with("2df55ac2"));
    assert!(claims.binding.is_none(), "no held data was given");

    let err = verify_evidence(&quote, &offline(now()), &Policy::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "debug enclave refused (pass --allow-debug to accept it)"
    );

    // The Open Enclave report and hex forms give the same claims.
    let oe = verify_evidence(&read(&v, MITHRIL_OE), &offline(now()), &debug_ok()).unwrap();
    assert_eq!(oe, claims);
    let hex_text = format!("0x{}\n", hex::encode(&quote));
    let from_hex = verify_evidence(hex_text.as_bytes(), &offline(now()), &debug_ok()).unwrap();
    assert_eq!(from_hex, claims);
    let spaced: String = hex::encode(read(&v, MITHRIL_OE))
        .as_bytes()
        .chunks(64)
        .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
        .collect();
    let from_spaced = verify_evidence(spaced.as_bytes(), &offline(now()), &debug_ok()).unwrap();
    assert_eq!(from_spaced, claims);
    // Trailing zero padding is ignored; other trailing bytes are refused.
    let mut padded = quote.clone();
    padded.extend_from_slice(&[0; 70]);
    assert_eq!(
        verify_evidence(&padded, &offline(now()), &debug_ok()).unwrap(),
        claims
    );
    padded.push(1);
    let err = verify_evidence(&padded, &offline(now()), &debug_ok()).unwrap_err();
    assert!(err.to_string().contains("trailing data"), "{err}");
    // The PCK leaf expires in 2030.
    let err = verify_evidence(&quote, &offline(1_990_000_000), &debug_ok()).unwrap_err();
    assert!(err.to_string().contains("expired at"), "{err}");
}

fn mithril_json(v: &std::path::Path, mrenclave: &str, held: &[u8]) -> Vec<u8> {
    let oe = read(v, MITHRIL_OE);
    let quote = read(v, MITHRIL);
    let body = &quote[48..];
    let mrsigner = hex::encode_upper(&body[128..160]);
    serde_json::to_vec(&serde_json::json!({
        "Type": 2,
        "MrEnclaveHex": mrenclave,
        "MrSignerHex": mrsigner,
        "ProductIdHex": "01000000000000000000000000000000",
        "SecurityVersion": 1,
        "Attributes": 7,
        "QuoteHex": hex::encode_upper(oe),
        "EnclaveHeldDataHex": hex::encode_upper(held),
        "platform": "sgx",
    }))
    .unwrap()
}

#[test]
fn mithril_attestation_json_and_binding() {
    let Some(v) = vectors() else { return };
    let quote = read(&v, MITHRIL);
    let held = read(&v, MITHRIL_HELD);
    let mrenclave = hex::encode_upper(&quote[48 + 64..48 + 96]);
    let json = mithril_json(&v, &mrenclave, &held);
    let claims = verify_evidence(&json, &offline(now()), &debug_ok()).unwrap();
    assert_eq!(claims.binding, Some(Binding::Valid));
    let held_data = claims.held_data.clone().unwrap();
    assert_eq!(held_data.claims, HeldClaims::NotCbor);
    assert!(held_data.sha256.starts_with("2df55ac2"));
    let out = serde_json::to_value(&claims).unwrap();
    assert_eq!(out["binding"], "valid");
    assert_eq!(out["held_data"]["claims"], "not CBOR");

    // Other held data: the binding is reported invalid.
    let mut other = held.clone();
    other[0] ^= 1;
    let json = mithril_json(&v, &mrenclave, &other);
    let claims = verify_evidence(&json, &offline(now()), &debug_ok()).unwrap();
    assert_eq!(claims.binding, Some(Binding::Invalid));

    // The JSON's identity fields are never trusted: a lie is refused.
    let json = mithril_json(&v, &"AB".repeat(32), &held);
    let err = verify_evidence(&json, &offline(now()), &debug_ok()).unwrap_err();
    assert!(matches!(
        err,
        VerifyError::Evidence(EvidenceError::ClaimMismatch {
            field: "MRENCLAVE",
            ..
        })
    ));
}

#[test]
fn cbor_held_data_claims() {
    use minikms_verifier::held_data::decode_claims;
    let mut held = Vec::new();
    let map = ciborium::value::Value::Map(vec![
        (
            "pubkey-hash".into(),
            ciborium::value::Value::Array(vec![1.into(), vec![0xAAu8; 32].into()]),
        ),
        (
            "ca-pubkey-hash".into(),
            ciborium::value::Value::Array(vec![1.into(), vec![0xBBu8; 32].into()]),
        ),
        ("nonce".into(), vec![1u8, 2, 3].into()),
    ]);
    ciborium::ser::into_writer(&map, &mut held).unwrap();
    assert_eq!(
        decode_claims(&held),
        HeldClaims::Cbor {
            pubkey_hash: Some("aa".repeat(32)),
            ca_pubkey_hash: Some("bb".repeat(32)),
            nonce: Some("010203".into()),
            store_generation: None,
            audit_head: None,
        }
    );
    assert_eq!(
        decode_claims(b"-----BEGIN PUBLIC KEY-----"),
        HeldClaims::NotCbor
    );

    // minikms's freshness claims.
    let mut held = Vec::new();
    let map = ciborium::value::Value::Map(vec![
        ("store-generation".into(), 12u64.into()),
        (
            "audit-head".into(),
            ciborium::value::Value::Array(vec![7.into(), vec![0xCCu8; 32].into()]),
        ),
    ]);
    ciborium::ser::into_writer(&map, &mut held).unwrap();
    assert_eq!(
        decode_claims(&held),
        HeldClaims::Cbor {
            pubkey_hash: None,
            ca_pubkey_hash: None,
            nonce: None,
            store_generation: Some(12),
            audit_head: Some(minikms_verifier::AuditHead {
                seq: 7,
                hash: "cc".repeat(32),
            }),
        }
    );
}

#[test]
fn tdx_v4_full_verification() {
    let Some(v) = vectors() else { return };
    let (quote, coll) = (read(&v, TDX4), read(&v, TDX4_COLL));
    let at = at_of(&coll);
    assert_eq!(at, 1750329147);
    let claims = verify_evidence(&quote, &full(&coll, at), &Policy::default()).unwrap();
    assert_eq!(claims.platform, "tdx");
    assert_eq!(claims.quote_version, 4);
    assert_eq!(claims.tcb_status, TcbStatus::UpToDate);
    assert!(claims.advisory_ids.is_empty());
    assert!(claims.mrenclave.is_none() && !claims.debug);
    let td = claims.td.as_ref().unwrap();
    assert_eq!(td.mr_td.len(), 96);
    assert_eq!(td.td_attributes, "0000001000000000");
    // MRENCLAVE does not apply to a TD: asking for one fails closed.
    let err = verify_evidence(
        &quote,
        &full(&coll, at),
        &Policy {
            mrenclave: Some([0; 32]),
            ..Policy::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("got none (TDX quote)"), "{err}");
    // --measurement pins MRTD for a TD.
    let mr_td: [u8; 48] = hex::decode(&td.mr_td).unwrap().try_into().unwrap();
    let pinned = |m: [u8; 48]| Policy {
        measurement: Some(m),
        ..Policy::default()
    };
    verify_evidence(&quote, &full(&coll, at), &pinned(mr_td)).unwrap();
    let err = verify_evidence(&quote, &full(&coll, at), &pinned([0; 48])).unwrap_err();
    assert!(err.to_string().starts_with("measurement mismatch"), "{err}");
    // Expired now.
    let err = verify_evidence(&quote, &full(&coll, now()), &Policy::default()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("collateral expired at 2025-07-19T"),
        "{err}"
    );
}

#[test]
fn tdx_v5_outdated_has_no_matching_tcb_level() {
    let Some(v) = vectors() else { return };
    let (quote, coll) = (read(&v, TD15_OUT), read(&v, TD15_OUT_COLL));
    let at = at_of(&coll);
    assert_eq!(at, 1771412331);
    let err = verify_evidence(&quote, &full(&coll, at), &Policy::default()).unwrap_err();
    assert!(matches!(
        err,
        VerifyError::Collateral(CollateralError::Rejected(_))
    ));
    assert!(
        err.to_string().contains("No matching TCB level found"),
        "{err}"
    );
    // Its signatures are fine.
    let claims = verify_evidence(&quote, &offline(at), &Policy::default()).unwrap();
    assert_eq!(claims.quote_version, 5);
}

#[test]
fn tdx_v5_td15ex() {
    let Some(v) = vectors() else { return };
    let (quote, coll) = (read(&v, TD15EX), read(&v, TD15EX_COLL));
    let at = at_of(&coll);
    assert_eq!(at, 1791419306);
    let claims = verify_evidence(&quote, &full(&coll, at), &Policy::default()).unwrap();
    assert_eq!(claims.tcb_status, TcbStatus::UpToDate);
    assert_eq!(claims.quote_version, 5);
    verify_evidence(&quote, &full(&coll, 1794008711), &Policy::default()).unwrap();
    let err = verify_evidence(&quote, &full(&coll, now()), &Policy::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "collateral expired at 2026-11-06T23:45:11Z"
    );
}

#[test]
fn tdx_hex_quotes_parse_and_verify_offline() {
    let Some(v) = vectors() else { return };
    for name in [
        "tdx-dcap/dcapqvl_tdx_quote_v4_b.hex",
        "tdx-dcap/dcapqvl_tdx_quote_v4_tappd.hex",
    ] {
        let text = read(&v, name);
        let claims = verify_evidence(&text, &offline(now()), &debug_ok())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(claims.tee, "tdx", "{name}");
        assert_eq!(claims.tcb_status, TcbStatus::Unknown);
    }
}
