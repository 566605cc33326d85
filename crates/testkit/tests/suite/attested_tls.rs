//! Attested TLS end to end: the `minikms` client (and its library) verify
//! the running enclave in the handshake, and refuse wrong pins, simulation
//! without permission, and a man in the middle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use minikms_client::attested_tls::{Attestation, AttestedVerifier};
use minikms_client::connection::{Connection, ServerUrl};
use minikms_testkit::{bin, https, Server};
use minikms_verifier::Policy;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn minikms(args: &[&str]) -> Run {
    let out = tokio::process::Command::new(bin("minikms"))
        .args(args)
        .env_remove("MINIKMS_SERVER")
        .env_remove("MINIKMS_TOKEN")
        .env_remove("VAULT_TOKEN")
        .output()
        .await
        .unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Fails with exactly one line on stderr, nothing on stdout; returns it.
async fn refused(args: &[&str]) -> String {
    let run = minikms(args).await;
    assert!(!run.ok, "accepted: {args:?}\n{}", run.stdout);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    run.stderr.trim_end().to_string()
}

fn url(addr: SocketAddr) -> String {
    format!("https://{addr}")
}

fn signed_enclave(server: &Server) -> PathBuf {
    server.signed_enclave().to_path_buf()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn flip_hex(hex: &str) -> String {
    let first = if hex.starts_with('0') { "1" } else { "0" };
    format!("{first}{}", &hex[1..])
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_verifies_the_enclave_and_refuses_wrong_pins() {
    let server = Server::start();
    let url = url(server.addr);
    let enclave = signed_enclave(&server);
    let pinned = [
        "--server",
        &url,
        "--enclave",
        s(&enclave),
        "--allow-simulation",
    ];

    let run = minikms(&[&pinned[..], &["status"]].concat()).await;
    assert!(run.ok, "{}", run.stderr);
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let mrenclave = status["mrenclave"].as_str().unwrap().to_string();
    let mrsigner = status["mrsigner"].as_str().unwrap().to_string();
    assert!(
        run.stderr.starts_with(&format!(
            "attested: platform simulation, MRENCLAVE {mrenclave}, MRSIGNER {mrsigner}"
        )),
        "{}",
        run.stderr
    );

    let run = minikms(&[&pinned[..], &["generate-aes-key"]].concat()).await;
    let key: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(key["aes_key"].as_str().unwrap().len(), 44);
    let run = minikms(&[&pinned[..], &["generate-rsa-key-pair"]].concat()).await;
    assert!(run.stdout.contains("BEGIN PRIVATE KEY"), "{}", run.stderr);

    // Fresh evidence for our nonce, bound to this connection's key.
    let run = minikms(&[&pinned[..], &["attest", "--nonce", "00c0ffee"]].concat()).await;
    assert!(run.ok, "{}", run.stderr);
    let claims: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(claims["held_data"]["claims"]["nonce"], "00c0ffee");
    assert_eq!(claims["mrenclave"], mrenclave.as_str());
    assert_eq!(claims["binding"], "valid");

    // Explicit pins work as --enclave does.
    let run = minikms(&[
        "--server",
        &url,
        "--mrenclave",
        &mrenclave,
        "--mrsigner",
        &mrsigner,
        "--allow-simulation",
        "--allow-debug",
        "status",
    ])
    .await;
    assert!(run.ok, "{}", run.stderr);

    let wrong = flip_hex(&mrenclave);
    let err = refused(&[
        "--server",
        &url,
        "--allow-simulation",
        "--allow-debug",
        "--mrenclave",
        &wrong,
        "status",
    ])
    .await;
    assert_eq!(
        err,
        format!("refused the server: MRENCLAVE mismatch: expected {wrong}, got {mrenclave}")
    );
    let wrong = flip_hex(&mrsigner);
    let err = refused(&[
        "--server",
        &url,
        "--allow-simulation",
        "--allow-debug",
        "--mrsigner",
        &wrong,
        "status",
    ])
    .await;
    assert_eq!(
        err,
        format!("refused the server: MRSIGNER mismatch: expected {wrong}, got {mrsigner}")
    );
    let err = refused(&["--server", &url, "--enclave", s(&enclave), "status"]).await;
    assert_eq!(
        err,
        "refused the server: simulation evidence refused (pass --allow-simulation to accept it)"
    );
    let err = refused(&[
        "--server",
        &url,
        "--any-enclave",
        "--allow-simulation",
        "status",
    ])
    .await;
    assert_eq!(
        err,
        "refused the server: debug enclave refused (pass --allow-debug to accept it)"
    );
    // Nothing pinned: refused before connecting, naming the flags; with
    // --any-enclave the client goes on (and says what it attested).
    let loose = ["--server", &url, "--allow-simulation", "--allow-debug"];
    let err = refused(&[&loose[..], &["status"]].concat()).await;
    assert!(
        err.starts_with("no enclave identity pinned: pass --enclave SIGNED_FILE"),
        "{err}"
    );
    assert!(err.contains("--any-enclave"), "{err}");
    let run = minikms(&[&loose[..], &["--any-enclave", "status"]].concat()).await;
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stderr.starts_with("attested: "), "{}", run.stderr);
    let err = refused(
        &[
            &pinned[..],
            &["--mrenclave", &flip_hex(&mrenclave), "status"],
        ]
        .concat(),
    )
    .await;
    assert!(err.contains("contradicts --enclave"), "{err}");
    let err = refused(&["--server", "http://127.0.0.1:1", "status"]).await;
    assert!(err.contains("only HTTPS"), "{err}");
}

/// The real certificate's extensions (OID arcs, contents) other than the
/// usual X.509 ones.
fn evidence_extensions(cert: &[u8]) -> Vec<(Vec<u64>, Vec<u8>)> {
    let (_, c) = X509Certificate::from_der(cert).unwrap();
    c.extensions()
        .iter()
        .filter_map(|e| Some((e.oid.iter()?.collect::<Vec<u64>>(), e.value.to_vec())))
        .filter(|(oid, _)| !oid.starts_with(&[2, 5, 29]))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_man_in_the_middle_is_refused() {
    let server = Server::start();
    let real = https::peer_certificate(&https::connect_tls13(server.addr).await);
    let copied = evidence_extensions(&real);
    assert!(copied.iter().any(|(oid, _)| oid == &[2, 23, 133, 5, 4, 9]));

    for copy_evidence in [false, true] {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        if copy_evidence {
            for (oid, value) in &copied {
                params
                    .custom_extensions
                    .push(rcgen::CustomExtension::from_oid_content(oid, value.clone()));
            }
        }
        let cert = params.self_signed(&key).unwrap();
        let proxy = https::man_in_the_middle(
            server.addr,
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .await;

        // The proxy does relay: a client that checks nothing gets through.
        let through = https::get(proxy, "/").await;
        assert_eq!(through.status, 200);

        let err = refused(&[
            "--server",
            &url(proxy),
            "--any-enclave",
            "--allow-simulation",
            "--allow-debug",
            "status",
        ])
        .await;
        let expected = if copy_evidence {
            "refused the server: the certificate's evidence does not bind its public key (evidence copied from another certificate?)"
        } else {
            "refused the server: certificate has no attestation evidence"
        };
        assert_eq!(err, expected);
    }
}

/// The library: a verified connection knows what it verified, and its
/// evidence is for the key the handshake proved.
#[tokio::test(flavor = "multi_thread")]
async fn the_library_keeps_what_it_verified() {
    let server = Server::start();
    let verifier = AttestedVerifier::new(Attestation {
        policy: Policy {
            allow_simulation: true,
            allow_debug: true,
            ..Policy::default()
        },
        ..Attestation::default()
    });
    let addr = ServerUrl::parse(&url(server.addr)).unwrap();
    let mut conn = Connection::open(&addr, &verifier).await.unwrap();
    let status = conn
        .request("GET", "/", None, None)
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        conn.claims().evidence.mrenclave.as_deref(),
        status["mrenclave"].as_str()
    );
    let real = https::peer_certificate(&https::connect_tls13(server.addr).await);
    let (_, parsed) = X509Certificate::from_der(&real).unwrap();
    let spki = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, parsed.public_key().raw);
    assert_eq!(conn.server_key_sha256(), hex::encode(spki));
    // Keep-alive: a second request on the same connection.
    let second = conn
        .request("GET", "/generate-aes-key", None, None)
        .await
        .unwrap();
    assert_eq!(second.status, 200);

    let strict = AttestedVerifier::new(Attestation::default());
    let err = Connection::open(&addr, &strict)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("simulation evidence refused"), "{err}");
}
