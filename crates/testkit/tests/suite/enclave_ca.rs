//! The enclave-held CA: `minikms trust` saves it only after attesting the
//! server, and then ordinary clients (rustls with default checks, curl,
//! Python's ssl) verify minikms with it, hostname included. The CA is
//! sealed: a restart (and a new build of the same signer, see sealing.rs)
//! keeps it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use minikms_testkit::{bin, https, Server};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

fn minikms(args: &[&str]) -> std::process::Output {
    Command::new(bin("minikms")).args(args).output().unwrap()
}

fn trust(server: &Server, out: &Path, extra: &[&str]) -> std::process::Output {
    let url = format!("https://{}", server.addr);
    let enclave = server.signed_enclave().to_path_buf();
    let mut args = vec!["--server", &url, "--enclave", enclave.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["trust", "--out", out.to_str().unwrap()]);
    minikms(&args)
}

fn ca_der(pem_file: &Path) -> CertificateDer<'static> {
    let pem = pem::parse(std::fs::read(pem_file).unwrap()).unwrap();
    assert_eq!(pem.tag(), "CERTIFICATE");
    CertificateDer::from(pem.into_contents())
}

/// A plain rustls client: the given CA as the only root, default WebPKI
/// checks including the server name.
async fn plain_tls(
    addr: SocketAddr,
    ca: Option<&CertificateDer<'static>>,
    name: &str,
) -> Result<u16, String> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        roots.add(ca.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(name.to_string()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    Ok(https::request_on(tls, "GET", "/").await.status)
}

fn curl(args: &[&str]) -> Option<std::process::Output> {
    match Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
    {
        Ok(out) => Some(out),
        Err(_) => {
            eprintln!("skipping the curl checks: curl is not installed");
            None
        }
    }
}

fn python_get(url: &str, cafile: Option<&Path>) -> Option<bool> {
    let ctx = match cafile {
        Some(f) => format!(
            "ssl.create_default_context(cafile={:?})",
            f.to_str().unwrap()
        ),
        None => "ssl.create_default_context()".into(),
    };
    let script = format!(
        "import ssl, urllib.request\nurllib.request.urlopen({url:?}, context={ctx}, timeout=20).read()\n"
    );
    match Command::new("python3").args(["-c", &script]).output() {
        Ok(out) => Some(out.status.success()),
        Err(_) => {
            eprintln!("skipping the Python checks: python3 is not installed");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn trust_saves_the_attested_ca_and_ordinary_clients_verify_with_it() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let ca_file = work.path().join("minikms-ca.pem");

    // The policy must be met first; nothing is written otherwise.
    let out = trust(&server, &ca_file, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("simulation evidence refused"));
    let out = trust(
        &server,
        &ca_file,
        &["--allow-simulation", "--mrenclave", &"00".repeat(32)],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("contradicts --enclave"));
    let url = format!("https://{}", server.addr);
    let out = minikms(&[
        "--server",
        &url,
        "--allow-simulation",
        "--allow-debug",
        "--mrsigner",
        &"00".repeat(32),
        "trust",
        "--out",
        ca_file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("MRSIGNER mismatch"));
    assert!(
        !ca_file.exists(),
        "a CA was written though the policy failed"
    );

    let out = trust(&server, &ca_file, &["--allow-simulation"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = server.get("/").await.body;
    assert_eq!(said["mrenclave"], status["mrenclave"]);
    assert_eq!(said["mrsigner"], status["mrsigner"]);
    assert_eq!(said["platform"], "simulation");
    let ca = ca_der(&ca_file);

    // It is the CA the server sends, and the one /attestation binds too.
    let chain = https::peer_chain(&https::connect_tls13(server.addr).await);
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1], ca);
    let out = minikms(&[
        "--server",
        &url,
        "--any-enclave",
        "--allow-simulation",
        "--allow-debug",
        "attest",
    ]);
    let claims: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        claims["held_data"]["claims"]["ca_pubkey_hash"],
        said["ca_pubkey_sha256"]
    );

    // Ordinary rustls with default checks: by both default names.
    let port = server.addr.port();
    let localhost: SocketAddr = ([127, 0, 0, 1], port).into();
    assert_eq!(plain_tls(localhost, Some(&ca), "localhost").await, Ok(200));
    assert_eq!(plain_tls(localhost, Some(&ca), "127.0.0.1").await, Ok(200));
    let err = plain_tls(localhost, None, "localhost").await.unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
    let err = plain_tls(localhost, Some(&ca), "kms.example")
        .await
        .unwrap_err();
    assert!(err.contains("not valid for name"), "{err}");

    // curl and Python's ssl, hostname checks on.
    let base = format!("https://localhost:{port}/");
    if let Some(out) = curl(&["--cacert", ca_file.to_str().unwrap(), &base]) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(body["service"], "minikms");
        let out = curl(&[&base]).unwrap();
        assert_eq!(out.status.code(), Some(60), "curl without the CA");
    }
    if let Some(ok) = python_get(&base, Some(&ca_file)) {
        assert!(ok, "Python ssl with the CA");
        assert_eq!(
            python_get(&base, None),
            Some(false),
            "Python ssl without the CA"
        );
    }

    // A restart keeps the CA; --tls-name sets the leaf's names.
    let (_, data_dir) = server.stop_keeping_data(libc::SIGTERM);
    let server = Server::try_start_in(
        data_dir,
        &[
            "--simulation",
            "--tls-name",
            "kms.example",
            "--tls-name",
            "127.0.0.1",
        ],
    )
    .unwrap();
    let again = work.path().join("again.pem");
    let out = trust(&server, &again, &["--allow-simulation"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&ca_file).unwrap()
    );
    let addr: SocketAddr = ([127, 0, 0, 1], server.addr.port()).into();
    assert_eq!(plain_tls(addr, Some(&ca), "kms.example").await, Ok(200));
    let err = plain_tls(addr, Some(&ca), "localhost").await.unwrap_err();
    assert!(err.contains("not valid for name"), "{err}");
}

#[test]
fn bad_tls_names_are_refused_before_start() {
    let refusal = Server::try_start(&["--simulation", "--tls-name", "not a name"])
        .err()
        .unwrap();
    assert!(!refusal.status.success());
    assert!(
        refusal
            .stderr
            .contains("is neither an IP address nor a DNS name"),
        "{}",
        refusal.stderr
    );
}
