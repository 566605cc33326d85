//! `kms-host run --platform tsm`: the real server in a "confidential VM"
//! whose configfs-tsm report directory is a fake kernel made of named
//! pipes, fed with the recorded real TDX quote from ../shared/vectors.
//!
//! The fake kernel answers the enclave's file operations in the order the
//! kernel's interface has them: `inblob` and `outblob` are named pipes, so
//! it reads each report data as the enclave writes it, bumps `generation`
//! (a plain file) as the kernel does at each write, then serves the
//! outblob; it waits on the pipes, not on time. A real quote is over someone else's report data:
//! served as it is, the enclave refuses it; "forged" (our report data
//! written into it), the enclave serves, and every client refuses the
//! certificate at the quote's signature. Meanwhile the store shows how a
//! CVM keeps keys without a sealing key: sealed at every start, opened by
//! recovery shares.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use base64::Engine;
use minikms_test_vectors::dir as vectors;
use minikms_testkit::{bin, https, Server};
use minikms_verifier::{
    certificate_evidence, verify_certificate, EvidenceError, EvidenceFormat, Policy, VerifyError,
    VerifyOptions,
};
use serde_json::json;

use crate::common::{openssl, seal_status};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const TDX_QUOTE: &str = "tdx-dcap/dcapqvl_tdx_quote_v4.bin";
/// Where a TDX v4 quote keeps the TD's report data and MRTD (a 48-byte
/// header, then TD report 1.0 with MRTD at 136 and report_data at 520).
const REPORT_DATA_AT: usize = 48 + 520;
const MRTD_AT: usize = 48 + 136;

/// A fake configfs-tsm report directory: `ROOT/minikms/` with `provider`
/// (`tdx_guest`), `generation`, and named pipes for `inblob` and
/// `outblob`, served by a thread for as long as the test process lives.
struct FakeKernel {
    root: tempfile::TempDir,
}

impl FakeKernel {
    /// `forge`: write the enclave's report data into the quote (breaking
    /// its signature), else serve the quote as recorded.
    fn start(quote: Vec<u8>, forge: bool) -> Self {
        let root = tempfile::tempdir().unwrap();
        let entry = root.path().join("minikms");
        std::fs::create_dir(&entry).unwrap();
        std::fs::write(entry.join("provider"), "tdx_guest\n").unwrap();
        std::fs::write(entry.join("generation"), "0\n").unwrap();
        for pipe in ["inblob", "outblob"] {
            let made = Command::new("mkfifo")
                .arg(entry.join(pipe))
                .status()
                .unwrap();
            assert!(made.success(), "mkfifo {pipe}");
        }
        std::thread::spawn(move || {
            let mut generation = 0u64;
            loop {
                // Each open blocks until the enclave opens the other end.
                let inblob = std::fs::read(entry.join("inblob")).unwrap();
                generation += 1;
                let next = entry.join("generation.new");
                std::fs::write(&next, format!("{generation}\n")).unwrap();
                std::fs::rename(&next, entry.join("generation")).unwrap();
                let mut outblob = quote.clone();
                if forge {
                    outblob[REPORT_DATA_AT..REPORT_DATA_AT + 64].copy_from_slice(&inblob);
                }
                std::fs::write(entry.join("outblob"), &outblob).unwrap();
            }
        });
        Self { root }
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--platform".into(),
            "tsm".into(),
            "--tsm-report-dir".into(),
            self.root.path().display().to_string(),
        ]
    }
}

fn start_in(data_dir: Option<tempfile::TempDir>, kernel: &FakeKernel) -> Server {
    let args = kernel.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match data_dir {
        None => Server::try_start(&args),
        Some(dir) => Server::try_start_in(dir, &args),
    }
    .unwrap_or_else(|r| panic!("the server did not start: {r:?}"))
}

#[test]
fn the_recorded_quote_is_not_over_our_report_data() {
    let Some(v) = vectors() else { return };
    let kernel = FakeKernel::start(std::fs::read(v.join(TDX_QUOTE)).unwrap(), false);
    let args = kernel.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let refusal = Server::try_start(&args).err().expect("the server started");
    assert!(!refusal.status.success());
    assert!(
        refusal
            .stderr
            .contains("the configfs-tsm outblob is not over our report data"),
        "{}",
        refusal.stderr
    );
}

#[test]
fn without_a_report_directory_the_host_refuses_tsm() {
    let missing = tempfile::tempdir().unwrap();
    let dir = missing.path().join("absent");
    let refusal = Server::try_start(&[
        "--platform",
        "tsm",
        "--tsm-report-dir",
        dir.to_str().unwrap(),
    ])
    .err()
    .expect("the server started");
    assert!(
        refusal
            .stderr
            .contains("no configfs-tsm report interface at"),
        "{}",
        refusal.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_in_a_fake_tdx_guest() {
    let Some(v) = vectors() else { return };
    let kernel = FakeKernel::start(std::fs::read(v.join(TDX_QUOTE)).unwrap(), true);
    let server = start_in(None, &kernel);
    let url = format!("https://{}", server.addr);

    // The enclave says it runs on TDX; its certificate carries the TDX quote
    // as tagged evidence over its claims, which name its key.
    let status = server.get("/").await;
    assert_eq!(
        (
            status.body["platform"].clone(),
            status.body["simulation"].clone()
        ),
        (json!("tdx"), json!(false))
    );
    let tls = https::connect_tls13(server.addr).await;
    let cert = https::peer_certificate(&tls);
    drop(tls);
    let evidence = certificate_evidence(&cert).unwrap();
    assert_eq!(evidence.format, EvidenceFormat::TaggedEvidence);
    assert_eq!(&evidence.quote[..2], &[4, 0], "a TDX v4 quote");
    let claims = evidence.claims.as_deref().unwrap();
    let mut report_data = [0u8; 64];
    report_data[..32]
        .copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, claims).as_ref());
    assert_eq!(
        evidence.quote[REPORT_DATA_AT..REPORT_DATA_AT + 64],
        report_data
    );
    // ... but the quote was forged: its signature fails, first of all checks.
    let offline = VerifyOptions {
        at: 1_780_000_000,
        collateral: None,
        offline: true,
    };
    assert_eq!(
        verify_certificate(&cert, &offline, &Policy::default()).unwrap_err(),
        VerifyError::Evidence(EvidenceError::QuoteSignature)
    );

    // What the `minikms` client says, pinning the TD's MRTD.
    let mrtd = hex::encode(&evidence.quote[MRTD_AT..MRTD_AT + 48]);
    for (flags, expected) in [
        (&[][..], "no collateral"),
        (&["--offline"][..], "quote signature does not verify"),
    ] {
        let out = Command::new(bin("minikms"))
            .args(["--server", &url, "--measurement", &mrtd])
            .args(flags)
            .arg("status")
            .env_remove("MINIKMS_SERVER")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(expected),
            "{flags:?}: {stderr}"
        );
    }

    // No sealing key: a new store opens (uninitialised), and initialising
    // it gives recovery shares, here one, to an openssl-made key.
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("operator.pem");
    openssl(&["genrsa", "-out", key.to_str().unwrap(), "2048"]);
    let public =
        String::from_utf8(openssl(&["rsa", "-in", key.to_str().unwrap(), "-pubout"])).unwrap();
    assert_eq!(server.get("/v1/sys/health").await.status, 501);
    let init = https::send_json(
        server.addr,
        "PUT",
        "/v1/sys/init",
        &[],
        Some(&json!({"secret_shares": 1, "secret_threshold": 1, "pgp_keys": [public]})),
    )
    .await;
    assert_eq!(init.status, 200, "{:?}", init.body);
    let share_file = work.path().join("share.enc");
    std::fs::write(
        &share_file,
        B64.decode(init.body["keys_base64"][0].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let share = openssl(&[
        "pkeyutl",
        "-decrypt",
        "-inkey",
        key.to_str().unwrap(),
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-in",
        share_file.to_str().unwrap(),
    ]);
    let root = init.body["root_token"].as_str().unwrap().to_string();
    let made = https::send_json(
        server.addr,
        "POST",
        "/v1/transit/keys/k",
        &[("X-Vault-Token", &root)],
        Some(&json!({})),
    )
    .await;
    assert!(made.status < 300, "{:?}", made.body);

    // Every start on a CVM is sealed; the share opens the store, keys kept.
    let (_, data_dir) = server.stop_keeping_data(libc::SIGTERM);
    let mut data_dir = Some(data_dir);
    for _ in 0..2 {
        let server = start_in(data_dir.take(), &kernel);
        let s = seal_status(&server).await;
        assert_eq!(
            (s["sealed"].clone(), s["t"].clone()),
            (json!(true), json!(1))
        );
        assert_eq!(server.get("/v1/sys/health").await.status, 503);
        let opened = https::send_json(
            server.addr,
            "PUT",
            "/v1/sys/unseal",
            &[],
            Some(&json!({"key": B64.encode(&share)})),
        )
        .await;
        assert_eq!(opened.body["sealed"], json!(false), "{:?}", opened.body);
        let key = https::send_json(
            server.addr,
            "GET",
            "/v1/transit/keys/k",
            &[("X-Vault-Token", &root)],
            None,
        )
        .await;
        assert_eq!(key.status, 200, "{:?}", key.body);
        data_dir = Some(server.stop_keeping_data(libc::SIGTERM).1);
    }
}
