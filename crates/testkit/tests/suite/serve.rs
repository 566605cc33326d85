//! End to end: the real host launches the real enclave; real TLS 1.3.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use aws_lc_rs::rsa::{
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
    OAEP_SHA256_MGF1SHA256,
};
use base64::Engine;
use minikms_sigstruct::verify_image;
use minikms_testkit::{danger, https, process_alive, Server};
use x509_parser::prelude::*;

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_the_identity_the_host_verified() {
    let server = Server::start();
    let signed = std::fs::read(server.signed_enclave()).unwrap();
    let (identity, _) = verify_image(&signed).unwrap();

    let r = server.get("/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "application/json");
    assert_eq!(r.body["service"], "minikms");
    assert_eq!(r.body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r.body["platform"], "simulation");
    assert_eq!(r.body["mrenclave"], identity.mrenclave.to_hex());
    assert_eq!(r.body["mrsigner"], identity.mrsigner.to_hex());
    assert_eq!(r.body["product_id"], 1);
    assert_eq!(r.body["security_version"], 1);
    assert_eq!(r.body["debug"], true);

    // The host said, in one line, which signed enclave it verified.
    let err = server.stderr();
    let verified: Vec<_> = err.lines().filter(|l| l.contains("verified ")).collect();
    assert_eq!(verified.len(), 1, "{err}");
    assert!(verified[0].starts_with("[Host]: "), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn aes_keys_are_32_fresh_random_bytes() {
    let server = Server::start();
    let mut seen = HashSet::new();
    for _ in 0..100 {
        let r = server.get("/generate-aes-key").await;
        assert_eq!(r.status, 200);
        let obj = r.body.as_object().unwrap();
        assert_eq!(obj.len(), 2, "{obj:?}");
        assert_eq!(obj["encoding"], "base64");
        let key = base64::engine::general_purpose::STANDARD
            .decode(obj["aes_key"].as_str().unwrap())
            .unwrap();
        assert_eq!(key.len(), 32);
        assert!(seen.insert(key), "an AES key repeated");
    }
    // Nothing about the keys reaches the host's log.
    assert!(!server.stderr().contains("aes_key"));
}

#[tokio::test(flavor = "multi_thread")]
async fn rsa_key_pairs_are_2048_bit_e65537_and_work() {
    let server = Server::start();
    let mut moduli = HashSet::new();
    for _ in 0..3 {
        let r = server.get("/generate-rsa-key-pair").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["encoding"], "plaintext");
        let private = ::pem::parse(r.body["private_key"].as_str().unwrap()).unwrap();
        let public = ::pem::parse(r.body["public_key"].as_str().unwrap()).unwrap();
        assert_eq!(private.tag(), "PRIVATE KEY");
        assert_eq!(public.tag(), "PUBLIC KEY");

        let (_, spki) = SubjectPublicKeyInfo::from_der(public.contents()).unwrap();
        let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = spki.parsed() else {
            panic!("not an RSA public key");
        };
        assert_eq!(rsa.key_size(), 2048);
        assert_eq!(rsa.try_exponent().unwrap(), 65537);
        assert!(moduli.insert(rsa.modulus.to_vec()), "an RSA key repeated");

        // The private key decrypts what the public key encrypts.
        let enc =
            OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public.contents()).unwrap())
                .unwrap();
        let dec = OaepPrivateDecryptingKey::new(
            PrivateDecryptingKey::from_pkcs8(private.contents()).unwrap(),
        )
        .unwrap();
        let mut ct = vec![0u8; enc.ciphertext_size()];
        let ct = enc
            .encrypt(&OAEP_SHA256_MGF1SHA256, b"attack at dawn", &mut ct, None)
            .unwrap();
        let mut pt = vec![0u8; dec.min_output_size()];
        assert_eq!(
            dec.decrypt(&OAEP_SHA256_MGF1SHA256, ct, &mut pt, None)
                .unwrap(),
            b"attack at dawn"
        );
    }
    assert!(!server.stderr().contains("PRIVATE KEY"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_get_json_errors() {
    let server = Server::start();
    let r = server.get("/generate-des-key").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.content_type, "application/json");
    assert_eq!(r.body["errors"][0], "no such route: GET /generate-des-key");

    let r = https::request(server.addr, "POST", "/generate-aes-key").await;
    assert_eq!(r.status, 405);
    assert_eq!(
        r.body["errors"][0],
        "method POST is not allowed on /generate-aes-key"
    );

    let long = format!("/{}", "a".repeat(5000));
    let r = server.get(&long).await;
    assert_eq!(r.status, 404);
    assert!(r.raw.len() < 300, "error bodies do not mirror long input");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_tls13_with_a_key_made_at_each_start() {
    let a = Server::start();
    let tls = https::connect_tls13(a.addr).await;
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let cert_a = https::peer_certificate(&tls);

    let tls12_only = danger::client_config(&[&rustls::version::TLS12]);
    assert!(
        https::connect(a.addr, tls12_only).await.is_err(),
        "TLS 1.2 must be refused"
    );

    // A second server (another start) has another key.
    let b = Server::start();
    let cert_b = https::peer_certificate(&https::connect_tls13(b.addr).await);
    let spki = |der: &[u8]| {
        X509Certificate::from_der(der)
            .unwrap()
            .1
            .public_key()
            .raw
            .to_vec()
    };
    assert_ne!(spki(&cert_a), spki(&cert_b));
    // And the same server shows the same key on every connection.
    let again = https::peer_certificate(&https::connect_tls13(a.addr).await);
    assert_eq!(spki(&cert_a), spki(&again));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_and_sigint_stop_host_and_enclave_cleanly() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let server = Server::start();
        assert_eq!(server.get("/").await.status, 200);
        let enclave = server.enclave_pid().expect("enclave process");
        assert!(process_alive(enclave));
        let status = server.stop_with(signal);
        assert!(status.success(), "exit status {status:?}");
        assert!(!process_alive(enclave), "the enclave outlived the host");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn once_serves_one_connection_then_exits() {
    let server = Server::try_start(&["--simulation", "--once"]).unwrap();
    let tls = https::connect_tls13(server.addr).await;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    // Several requests on the one connection are all served...
    for _ in 0..3 {
        sender.ready().await.unwrap();
        let req = hyper::Request::get("/")
            .header("host", "localhost")
            .body(http_body_util::Empty::<hyper::body::Bytes>::new())
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap();
    }
    drop(sender);
    let _ = conn.await;
    // ...and when it closes, the server stops by itself.
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
}
