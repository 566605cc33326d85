//! Attested join: `kms-host run --join https://PEER` on a copy of the data
//! dir from another machine gets the root key from the running peer, after
//! each side verified the other's enclave; a joiner of another signer, of
//! a lower security version, or evidence made for another request, are
//! refused with the reason, and the peer's audit log has each attempt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::path::Path;

use base64::Engine;
use minikms_client::workload::{SimulatedWorkload, Workload, WorkloadKey};
use minikms_testkit::{
    copy_dir, https, kms_host, kms_host_sign, shipped_config, signed_at_svn, Server,
};
use serde_json::{json, Value};

const TOKEN: &str = "hvs.join-test-token";

fn sign(key: &Path, config: &Path, out: &Path) {
    let output = kms_host_sign(key, config, out);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A copy of `dir` as another machine has it: no fuse file.
fn moved(dir: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    copy_dir(dir, to.path());
    std::fs::remove_file(to.path().join("sim-platform-fuses")).unwrap();
    to
}

async fn call(server: &Server, method: &str, path: &str, body: Value) -> https::Response {
    crate::common::call(server, TOKEN, method, path, body).await
}

/// Starts a joiner on `dir` that must be refused; its error output.
fn refused(dir: tempfile::TempDir, peer: &Server, extra: &[&str]) -> String {
    let join = format!("https://{}", peer.addr);
    let mut args = vec!["--simulation", "--dev-root-token", TOKEN, "--join", &join];
    args.extend(extra);
    match Server::try_start_in(dir, &args) {
        Ok(s) => panic!("a joiner that should be refused serves on {}", s.addr),
        Err(r) => r.stderr,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verified_joiner_gets_the_root_key_and_others_do_not() {
    let work = tempfile::tempdir().unwrap();
    let peer = Server::try_start(&["--simulation", "--dev-root-token", TOKEN]).unwrap();
    assert!(
        call(&peer, "POST", "/v1/transit/keys/k", json!({}))
            .await
            .status
            < 300
    );
    let ct = call(
        &peer,
        "POST",
        "/v1/transit/encrypt/k",
        json!({"plaintext": "am9pbg=="}),
    )
    .await;
    let ciphertext = ct.body["data"]["ciphertext"].as_str().unwrap().to_string();
    let (_, peer_dir) = peer.stop_keeping_data(libc::SIGTERM);
    let copy = moved(peer_dir.path());
    let peer =
        Server::try_start_in(peer_dir, &["--simulation", "--dev-root-token", TOKEN]).unwrap();

    // The joiner opens the copy with the peer's root key, and then by itself.
    let join = format!("https://{}", peer.addr);
    let joiner = Server::try_start_in(
        copy,
        &["--simulation", "--dev-root-token", TOKEN, "--join", &join],
    )
    .unwrap_or_else(|r| panic!("the joiner did not start: {}", r.stderr));
    assert_eq!(
        joiner.get("/v1/sys/seal-status").await.body["sealed"],
        false
    );
    let r = call(
        &joiner,
        "POST",
        "/v1/transit/decrypt/k",
        json!({"ciphertext": ciphertext}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["plaintext"], "am9pbg==");
    let (_, joined_dir) = joiner.stop_keeping_data(libc::SIGTERM);
    let joiner =
        Server::try_start_in(joined_dir, &["--simulation", "--dev-root-token", TOKEN]).unwrap();
    assert_eq!(
        call(
            &joiner,
            "POST",
            "/v1/transit/decrypt/k",
            json!({"ciphertext": ciphertext})
        )
        .await
        .status,
        200
    );
    drop(joiner);

    // Another signer's enclave.
    let (_, peer_dir) = peer.stop_keeping_data(libc::SIGTERM);
    let copy = moved(peer_dir.path());
    let peer =
        Server::try_start_in(peer_dir, &["--simulation", "--dev-root-token", TOKEN]).unwrap();
    let other_key = work.path().join("other-signer.pem");
    assert!(kms_host(&["keygen", "--out", other_key.to_str().unwrap()])
        .status
        .success());
    let foreign = work.path().join("foreign.signed");
    sign(&other_key, &shipped_config(), &foreign);
    let stderr = refused(copy, &peer, &[foreign.to_str().unwrap()]);
    assert!(stderr.contains("attested join failed"), "{stderr}");
    assert!(
        stderr.contains("failed attestation: the peer runs an enclave signed by another key"),
        "{stderr}"
    );
    assert!(stderr.contains("MRSIGNER mismatch"), "{stderr}");
    assert!(
        stderr.contains("start every replica with the same signed enclave file"),
        "{stderr}"
    );

    // Evidence made for another request (the peer's own RA-TLS quote), and
    // a challenge used twice.
    let nonce = https::send_json(peer.addr, "POST", "/v1/sys/join/challenge", &[], None).await;
    let nonce = nonce.body["data"]["nonce"].as_str().unwrap().to_string();
    let cert = https::peer_certificate(&https::connect_tls13(peer.addr).await);
    let evidence = minikms_verifier::certificate_evidence(cert.as_ref()).unwrap();
    let rsa =
        aws_lc_rs::rsa::PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let spki = aws_lc_rs::encoding::AsDer::as_der(&rsa.public_key()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let collateral: Option<Value> = evidence
        .collateral
        .as_deref()
        .map(|c| serde_json::from_slice(c).unwrap());
    let replay = json!({
        "nonce": nonce,
        "public_key": b64.encode(spki.as_ref()),
        "quote": b64.encode(&evidence.quote),
        "collateral": collateral,
    });
    let r = https::send_json(peer.addr, "POST", "/v1/sys/join", &[], Some(&replay)).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(
        r.body["errors"][0]
            .as_str()
            .unwrap()
            .contains("does not bind"),
        "{:?}",
        r.body
    );
    let r = https::send_json(peer.addr, "POST", "/v1/sys/join", &[], Some(&replay)).await;
    assert_eq!(r.status, 403);
    assert!(
        r.body["errors"][0]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{:?}",
        r.body
    );

    // A joiner of a lower security version than the peer's.
    let (_, peer_dir) = peer.stop_keeping_data(libc::SIGTERM);
    let svn2 = signed_at_svn(work.path(), 2);
    let peer = Server::try_start_in(
        peer_dir,
        &[
            "--simulation",
            "--dev-root-token",
            TOKEN,
            svn2.to_str().unwrap(),
        ],
    )
    .unwrap();
    let (_, peer_dir) = peer.stop_keeping_data(libc::SIGTERM);
    let copy = moved(peer_dir.path());
    let peer = Server::try_start_in(
        peer_dir,
        &[
            "--simulation",
            "--dev-root-token",
            TOKEN,
            svn2.to_str().unwrap(),
        ],
    )
    .unwrap();
    let stderr = refused(copy, &peer, &[]);
    assert!(stderr.contains("join refused"), "{stderr}");
    assert!(stderr.contains("security version too low"), "{stderr}");

    // The peer's audit log has every attempt: a join that succeeded has an
    // entry of its own; refused ones are counted per address (written at
    // each stop).
    let (_, peer_dir) = peer.stop_keeping_data(libc::SIGTERM);
    let log = std::fs::read_to_string(peer_dir.path().join("enclave/audit.log")).unwrap();
    let joins: u64 = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|e| match e["operations"].as_array() {
            Some(counted) => counted
                .iter()
                .filter(|o| o["operation"] == "update sys/join")
                .map(|o| o["count"].as_u64().unwrap())
                .sum(),
            None => u64::from(e["operation"] == "update sys/join"),
        })
        .sum();
    assert!(joins >= 4, "{joins} join entries in the peer's audit log");
}

/// A flood of challenges from one address, far more than the peer keeps
/// open, drops none of another address's: a joiner that took its
/// challenge before the flood still joins with it (before, the flood made
/// every real join fail: "unknown, expired or already used challenge").
/// The joiner is played here, with the peer's own signed enclave on a
/// simulated CPU of its own, as a second kms-host would.
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_challenges_from_one_address_drops_no_one_elses() {
    let peer = Server::try_start(&["--simulation", "--dev-root-token", TOKEN]).unwrap();
    let challenge = https::send_json(peer.addr, "POST", "/v1/sys/join/challenge", &[], None).await;
    let nonce = challenge.body["data"]["nonce"]
        .as_str()
        .unwrap()
        .to_string();
    let flooder = IpAddr::from([127, 0, 0, 2]);
    let answered = https::flood(flooder, peer.addr, "/v1/sys/join/challenge", 200).await;
    eprintln!("challenge flood: {answered} of 200 answered from {flooder}");

    let signed = peer.signed_enclave().to_path_buf();
    let joiner = SimulatedWorkload::from_signed_file(&signed, None).unwrap();
    let key = WorkloadKey::generate().unwrap();
    // The binding of an attested login: SHA-256(nonce || key) then zeros.
    let report_data =
        minikms_api::release::report_data(&hex::decode(&nonce).unwrap(), key.public_key_der());
    let evidence = joiner.evidence(&report_data).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let request = json!({
        "nonce": nonce,
        "public_key": b64.encode(key.public_key_der()),
        "quote": b64.encode(&evidence.quote),
        "collateral": evidence.collateral,
    });
    let r = https::send_json(peer.addr, "POST", "/v1/sys/join", &[], Some(&request)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let wrapped = b64
        .decode(r.body["data"]["wrapped_root_key"].as_str().unwrap())
        .unwrap();
    // RSA-OAEP to the joiner's 3072-bit key (what a joiner opens).
    assert_eq!(wrapped.len(), 384);
}
