//! Sealing, end to end: the key store is sealed under MRSIGNER policy, so a
//! new build from the same signer keeps its keys, and an enclave from any
//! other signer cannot open them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use base64::Engine;
use minikms_testkit::{
    https, kms_host, kms_host_sign, shared_signing_key, shipped_config, signed_at_svn, Server,
};
use serde_json::json;

const TOKEN: &str = "hvs.sealing-test-token";

fn sign(key: &Path, config: &Path, out: &Path) {
    let output = kms_host_sign(key, config, out);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sealed_keys_follow_the_signer_not_the_build() {
    let auth = [("X-Vault-Token", TOKEN)];
    let server = Server::try_start(&["--simulation", "--dev-root-token", TOKEN]).unwrap();
    let first_mrenclave = server.get("/").await.body["mrenclave"].clone();
    // The enclave CA (the last certificate of the chain) is sealed too.
    let first_ca = https::peer_chain(&https::connect_tls13(server.addr).await)
        .pop()
        .unwrap();
    let r = https::send_json(
        server.addr,
        "POST",
        "/v1/transit/keys/k",
        &auth,
        Some(&json!({})),
    )
    .await;
    assert!(r.status < 300, "{}", String::from_utf8_lossy(&r.raw));
    let plaintext = base64::engine::general_purpose::STANDARD.encode("sealed with MRSIGNER");
    let r = https::send_json(
        server.addr,
        "POST",
        "/v1/transit/encrypt/k",
        &auth,
        Some(&json!({ "plaintext": plaintext })),
    )
    .await;
    let ciphertext = r.body["data"]["ciphertext"].as_str().unwrap().to_string();
    let (status, data_dir) = server.stop_keeping_data(libc::SIGTERM);
    assert!(status.success());

    // A new build (another config, so another MRENCLAVE) by the same signer.
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("bigger-heap.toml");
    let shipped = std::fs::read_to_string(shipped_config()).unwrap();
    std::fs::write(
        &config,
        shipped.replace("NumHeapPages = 2048", "NumHeapPages = 4096"),
    )
    .unwrap();
    let rebuilt = work.path().join("rebuilt.signed");
    sign(shared_signing_key(), &config, &rebuilt);
    let server = Server::try_start_in(
        data_dir,
        &[
            "--simulation",
            "--dev-root-token",
            TOKEN,
            rebuilt.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_ne!(server.get("/").await.body["mrenclave"], first_mrenclave);
    let ca = https::peer_chain(&https::connect_tls13(server.addr).await)
        .pop()
        .unwrap();
    assert_eq!(ca, first_ca, "a new build of the same signer keeps the CA");
    let r = https::send_json(
        server.addr,
        "POST",
        "/v1/transit/decrypt/k",
        &auth,
        Some(&json!({ "ciphertext": ciphertext })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    assert_eq!(r.body["data"]["plaintext"], plaintext);
    let (_, data_dir) = server.stop_keeping_data(libc::SIGTERM);

    // An upgrade (SecurityVersion 2, same signer) keeps keys and CA, and
    // re-seals them at its SVN: the older build may not open them again.
    let upgraded = signed_at_svn(work.path(), 2);
    let server = Server::try_start_in(
        data_dir,
        &[
            "--simulation",
            "--dev-root-token",
            TOKEN,
            upgraded.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(server.get("/").await.body["security_version"], 2);
    let ca = https::peer_chain(&https::connect_tls13(server.addr).await)
        .pop()
        .unwrap();
    assert_eq!(ca, first_ca, "an upgrade of the same signer keeps the CA");
    let r = https::send_json(
        server.addr,
        "POST",
        "/v1/transit/decrypt/k",
        &auth,
        Some(&json!({ "ciphertext": ciphertext })),
    )
    .await;
    assert_eq!(r.body["data"]["plaintext"], plaintext);
    let (_, data_dir) = server.stop_keeping_data(libc::SIGTERM);
    let copy = tempfile::tempdir().unwrap();
    minikms_testkit::copy_dir(data_dir.path(), copy.path());
    match Server::try_start_in(
        copy,
        &[
            "--simulation",
            "--dev-root-token",
            TOKEN,
            rebuilt.to_str().unwrap(),
        ],
    ) {
        Ok(server) => panic!(
            "the older build opened the upgraded store on {}",
            server.addr
        ),
        Err(refusal) => assert!(
            refusal.stderr.contains("refusing to downgrade"),
            "{}",
            refusal.stderr
        ),
    }

    // The same binary signed by someone else cannot unseal the store (here
    // refused outright: its security version is below the one the store's
    // root key was last sealed at).
    let other_key = work.path().join("other-signer.pem");
    assert!(kms_host(&["keygen", "--out", other_key.to_str().unwrap()])
        .status
        .success());
    let foreign = work.path().join("foreign.signed");
    sign(&other_key, &shipped_config(), &foreign);
    match Server::try_start_in(
        data_dir,
        &[
            "--simulation",
            "--dev-root-token",
            TOKEN,
            foreign.to_str().unwrap(),
        ],
    ) {
        Ok(server) => panic!("a foreign signer opened the store on {}", server.addr),
        Err(refusal) => {
            assert!(!refusal.status.success());
            assert!(
                refusal.stderr.contains(
                    "kms-host: error: the enclave could not start: cannot open the key store"
                ),
                "{}",
                refusal.stderr
            );
        }
    }
}
