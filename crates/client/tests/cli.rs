//! `minikms verify`, run as a process: exit codes, the one-line error, the
//! JSON output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use minikms_test_vectors::dir as vectors;

fn minikms(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minikms"))
        .args(args)
        .output()
        .unwrap()
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

/// Exit 1 and exactly one line on stderr; returns it.
fn fails(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"));
    err.trim_end().to_owned()
}

fn succeeds(out: &Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

const SGX_AT: &str = "1750330571";

#[test]
fn sgx_full_verification() {
    let Some(v) = vectors() else { return };
    let quote = path(&v, "sgx-dcap/dcapqvl_sgx_quote_v3.bin");
    let coll = path(&v, "sgx-dcap/dcapqvl_sgx_quote_v3_collateral.json");
    let base = ["verify", &quote, "--collateral", &coll, "--at", SGX_AT];

    let err = fails(&minikms(&base));
    assert_eq!(
        err,
        "TCB status ConfigurationAndSWHardeningNeeded not accepted \
         (pass --accept-tcb ConfigurationAndSWHardeningNeeded to accept it)"
    );

    let mut args = base.to_vec();
    args.extend([
        "--accept-tcb",
        "OutOfDate,ConfigurationAndSWHardeningNeeded",
    ]);
    let json = succeeds(&minikms(&args));
    assert_eq!(json["platform"], "sgx");
    assert_eq!(json["tee"], "sgx");
    assert_eq!(json["simulation"], false);
    assert_eq!(json["debug"], false);
    assert_eq!(json["isv_prod_id"], 0);
    assert_eq!(json["isv_svn"], 0);
    assert_eq!(json["tcb_status"], "ConfigurationAndSWHardeningNeeded");
    assert_eq!(
        json["advisory_ids"],
        serde_json::json!(["INTEL-SA-00289", "INTEL-SA-00615"])
    );
    assert!(json["mrenclave"].as_str().unwrap().starts_with("33d8736d"));
    assert!(json["mrsigner"].as_str().unwrap().starts_with("815f42f1"));
    assert_eq!(json["report_data"].as_str().unwrap().len(), 128);

    let wrong = "00".repeat(32);
    let mut args2 = args.clone();
    args2.extend(["--mrenclave", &wrong]);
    let err = fails(&minikms(&args2));
    assert!(err.starts_with(&format!(
        "MRENCLAVE mismatch: expected {wrong}, got 33d8736d"
    )));
    let mut args3 = args.clone();
    args3.extend(["--mrsigner", &wrong]);
    assert!(fails(&minikms(&args3)).starts_with("MRSIGNER mismatch"));

    // Expired at now (no --at).
    let err = fails(&minikms(&[
        "verify",
        &quote,
        "--collateral",
        &coll,
        "--accept-tcb",
        "ConfigurationAndSWHardeningNeeded",
    ]));
    assert!(
        err.starts_with("collateral expired at 2025-07-19T"),
        "{err}"
    );
}

#[test]
fn no_collateral_needs_offline() {
    let Some(v) = vectors() else { return };
    let quote = path(&v, "sgx-dcap/dcapqvl_sgx_quote_v3.bin");
    let err = fails(&minikms(&["verify", &quote]));
    assert!(err.starts_with("no collateral"), "{err}");
    let json = succeeds(&minikms(&["verify", &quote, "--offline"]));
    assert_eq!(json["tcb_status"], "unknown");
}

#[test]
fn mithril_offline_and_attestation_json() {
    let Some(v) = vectors() else { return };
    let oe = path(&v, "sgx-dcap/mithril_oe_remote_report.bin");
    let err = fails(&minikms(&["verify", &oe, "--offline"]));
    assert_eq!(
        err,
        "debug enclave refused (pass --allow-debug to accept it)"
    );
    let json = succeeds(&minikms(&["verify", &oe, "--offline", "--allow-debug"]));
    assert_eq!(json["debug"], true);
    assert_eq!(json["isv_prod_id"], 1);
    assert!(json.get("binding").is_none());

    let quote = std::fs::read(v.join("sgx-dcap/mithril_sgx_quote_v3.bin")).unwrap();
    let held = std::fs::read(v.join("sgx-dcap/mithril_enclave_held_data.bin")).unwrap();
    let doc = serde_json::json!({
        "Type": 2,
        "MrEnclaveHex": hex::encode_upper(&quote[112..144]),
        "MrSignerHex": hex::encode_upper(&quote[176..208]),
        "ProductIdHex": "01000000000000000000000000000000",
        "SecurityVersion": 1,
        "Attributes": 7,
        "QuoteHex": hex::encode_upper(std::fs::read(v.join("sgx-dcap/mithril_oe_remote_report.bin")).unwrap()),
        "EnclaveHeldDataHex": hex::encode_upper(&held),
        "platform": "sgx",
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("attestation.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let file = file.to_str().unwrap();
    let json = succeeds(&minikms(&["verify", file, "--offline", "--allow-debug"]));
    assert_eq!(json["binding"], "valid");
    assert_eq!(json["held_data"]["claims"], "not CBOR");
    assert_eq!(
        json["mrenclave"].as_str().unwrap(),
        hex::encode(&quote[112..144])
    );

    // A hex copy of the raw quote, with a 0x prefix and line breaks.
    let hex_file = dir.path().join("quote.hex");
    let text: String = hex::encode(&quote)
        .as_bytes()
        .chunks(80)
        .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
        .collect();
    std::fs::write(&hex_file, format!("0x{text}")).unwrap();
    let json2 = succeeds(&minikms(&[
        "verify",
        hex_file.to_str().unwrap(),
        "--offline",
        "--allow-debug",
        "--product-id",
        "1",
        "--min-svn",
        "1",
    ]));
    assert_eq!(json2["mrenclave"], json["mrenclave"]);
    let err = fails(&minikms(&[
        "verify",
        hex_file.to_str().unwrap(),
        "--offline",
        "--allow-debug",
        "--min-svn",
        "2",
    ]));
    assert_eq!(err, "security version too low: minimum 2, got 1");
}

#[test]
fn tdx_verification() {
    let Some(v) = vectors() else { return };
    let quote = path(&v, "tdx-dcap/dcapqvl_tdx_quote_v4.bin");
    let coll = path(&v, "tdx-dcap/dcapqvl_tdx_quote_v4_collateral.json");
    let json = succeeds(&minikms(&[
        "verify",
        &quote,
        "--collateral",
        &coll,
        "--at",
        "1750329147",
    ]));
    assert_eq!(json["platform"], "tdx");
    assert_eq!(json["tcb_status"], "UpToDate");
    assert!(json["mrenclave"].is_null());
    assert_eq!(json["td"]["rtmrs"].as_array().unwrap().len(), 4);
    let out = path(&v, "tdx-dcap/dcapqvl_tdx_quote_v5_td15_outdated.bin");
    let out_coll = path(
        &v,
        "tdx-dcap/dcapqvl_tdx_quote_v5_td15_outdated_collateral.json",
    );
    let err = fails(&minikms(&[
        "verify",
        &out,
        "--collateral",
        &out_coll,
        "--at",
        "1771412331",
    ]));
    assert!(err.contains("No matching TCB level found"), "{err}");
}

#[test]
fn bad_input_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junk");
    std::fs::write(&file, b"not a quote at all").unwrap();
    let err = fails(&minikms(&["verify", file.to_str().unwrap(), "--offline"]));
    assert!(err.starts_with("malformed evidence"), "{err}");
    let err = fails(&minikms(&["verify", "/nonexistent/quote", "--offline"]));
    assert!(err.starts_with("cannot read /nonexistent/quote"), "{err}");
    // Usage errors are clap's (exit 2).
    let out = minikms(&["verify", "x", "--accept-tcb", "Bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let out = minikms(&["verify", "x", "--mrenclave", "abc"]);
    assert_eq!(out.status.code(), Some(2));
}

/// RA-TLS certificates of other stacks, PEM and DER: verified, bound to
/// their keys. rats-tls's certificate expired in 2024: verified, with a note.
#[test]
fn ra_tls_certificates_of_other_stacks() {
    let Some(v) = vectors() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for name in ["gramine", "intel-sgxsdk", "rats-tls"] {
        let file = path(&v, &format!("ra-tls/{name}-cert.pem"));
        let json = succeeds(&minikms(&["verify", &file, "--offline", "--allow-debug"]));
        assert_eq!(json["binding"], "valid", "{name}");
        assert_eq!(json["key_binding"], "valid", "{name}");
        assert_eq!(json["evidence_format"], "tagged-evidence", "{name}");
        assert_eq!(json["platform"], "sgx", "{name}");

        let der = tmp.path().join(format!("{name}.der"));
        let pem = pem::parse(std::fs::read(&file).unwrap()).unwrap();
        std::fs::write(&der, pem.contents()).unwrap();
        let json2 = succeeds(&minikms(&[
            "verify",
            der.to_str().unwrap(),
            "--offline",
            "--allow-debug",
        ]));
        assert_eq!(json, json2);

        let err = fails(&minikms(&["verify", &file, "--offline"]));
        assert_eq!(
            err,
            "debug enclave refused (pass --allow-debug to accept it)"
        );
    }
    let out = minikms(&[
        "verify",
        &path(&v, "ra-tls/rats-tls-cert.pem"),
        "--offline",
        "--allow-debug",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("a TLS client would refuse it now"));
}

/// 2026-05-28: inside the Milan VCEKs' validity.
const SNP_AT: &str = "1780000000";

/// The contract: `minikms verify SNP_REPORT --vcek VCEK.der --amd-chain
/// ASK_ARK.pem [--offline] [--allow-debug] [--at UNIX_TIME]`, the report
/// raw or hex.
#[test]
fn snp_reports() {
    let Some(v) = vectors() else { return };
    let report = path(&v, "sev-snp/virtee_report_milan_v2.hex");
    let vcek = path(&v, "sev-snp/virtee_vcek_milan.der");
    let milan = path(&v, "sev-snp/amd_milan_ask_ark.pem");
    let args = [
        "verify",
        &report,
        "--vcek",
        &vcek,
        "--amd-chain",
        &milan,
        "--at",
        SNP_AT,
    ];
    let json = succeeds(&minikms(&args));
    assert_eq!(json["platform"], "sev-snp");
    assert_eq!(json["quote_version"], 2);
    assert_eq!(json["debug"], false);
    assert_eq!(json["snp"]["product"], "Milan");
    assert_eq!(json["snp"]["reported_tcb"]["snp"], 8);
    let measurement = json["snp"]["measurement"].as_str().unwrap().to_owned();
    let mut offline = args.to_vec();
    offline.extend(["--offline", "--measurement", &measurement]);
    assert_eq!(succeeds(&minikms(&offline)), json);

    let mut tcb = args.to_vec();
    tcb.extend(["--min-snp-tcb", "bootloader=4,tee=0,snp=8,microcode=115"]);
    let err = fails(&minikms(&tcb));
    assert!(err.contains("is below the minimum"), "{err}");

    // The raw report of a debug guest.
    let gosev = path(&v, "sev-snp/gosevguest_attestation_milan_v2.bin");
    let gosev_vcek = path(&v, "sev-snp/gosevguest_vcek_milan.der");
    let args = [
        "verify",
        &gosev,
        "--vcek",
        &gosev_vcek,
        "--amd-chain",
        &milan,
        "--at",
        SNP_AT,
    ];
    let err = fails(&minikms(&args));
    assert_eq!(
        err,
        "debug enclave refused (pass --allow-debug to accept it)"
    );
    let mut debug = args.to_vec();
    debug.push("--allow-debug");
    assert_eq!(succeeds(&minikms(&debug))["debug"], true);

    // A Turin VCEK under the Milan chain; no VCEK at all; a VCEK for a quote.
    let turin = path(&v, "sev-snp/virtee_vcek_turin.der");
    let err = fails(&minikms(&[
        "verify",
        &report,
        "--vcek",
        &turin,
        "--amd-chain",
        &milan,
        "--at",
        SNP_AT,
    ]));
    assert!(
        err.starts_with("certificate chain does not verify"),
        "{err}"
    );
    let err = fails(&minikms(&["verify", &report]));
    assert!(
        err.contains("--vcek VCEK.der and --amd-chain ASK_ARK.pem"),
        "{err}"
    );
    let quote = path(&v, "sgx-dcap/dcapqvl_sgx_quote_v3.bin");
    let err = fails(&minikms(&[
        "verify",
        &quote,
        "--vcek",
        &vcek,
        "--amd-chain",
        &milan,
    ]));
    assert!(err.contains("are for SEV-SNP reports"), "{err}");
}

/// The contract: `minikms verify NITRO_DOC [--at UNIX_TIME] [--allow-debug]`,
/// the document raw or base64; checked at its own time by default.
#[test]
fn nitro_documents() {
    let Some(v) = vectors() else { return };
    let doc = path(&v, "nitro/evervault_valid_attestation_doc.cbor");
    let json = succeeds(&minikms(&["verify", &doc]));
    assert_eq!(json["platform"], "nitro");
    assert_eq!(json["debug"], false);
    assert!(json["pcrs"]["0"].as_str().unwrap().starts_with("f4d48b81"));
    assert_eq!(json["timestamp"], 1665651482136u64);
    let json2 = succeeds(&minikms(&["verify", &doc, "--at", "1665655000"]));
    assert_eq!(json2["verified_at"], 1665655000);
    let err = fails(&minikms(&["verify", &doc, "--at", "1700000000"]));
    assert!(
        err.starts_with("certificate chain does not verify"),
        "{err}"
    );

    let b64 = path(&v, "nitro/eternis_example_attestation.b64");
    let err = fails(&minikms(&["verify", &b64]));
    assert_eq!(
        err,
        "debug enclave refused (pass --allow-debug to accept it)"
    );
    let json = succeeds(&minikms(&["verify", &b64, "--allow-debug"]));
    assert_eq!(json["debug"], true);
    assert_eq!(json["public_key"], hex::encode("dummy"));

    let invalid = path(&v, "nitro/eternis_invalid_attestation.b64");
    let err = fails(&minikms(&["verify", &invalid, "--allow-debug"]));
    assert_eq!(err, "Nitro attestation document signature does not verify");
}
