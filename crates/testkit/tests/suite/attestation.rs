//! Remote attestation end to end: the running enclave's evidence, bound to
//! its TLS key and a fresh nonce, checked by the `minikms verify` CLI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use aws_lc_rs::digest::{digest, SHA256};
use ciborium::Value as Cbor;
use minikms_testkit::{bin, https, Server};
use x509_parser::prelude::*;

/// The ISV report body starts after the 48-byte quote header.
const BODY: usize = 48;

struct Fetched {
    json: serde_json::Value,
    tls_spki_sha256: Vec<u8>,
    ca_spki_sha256: Vec<u8>,
}

async fn fetch(server: &Server, nonce_hex: &str) -> Fetched {
    let tls = https::connect_tls13(server.addr).await;
    let cert = https::peer_certificate(&tls);
    let (_, parsed) = X509Certificate::from_der(&cert).unwrap();
    let tls_spki_sha256 = digest(&SHA256, parsed.public_key().raw).as_ref().to_vec();
    let ca = https::peer_chain(&tls).pop().unwrap();
    let (_, ca) = X509Certificate::from_der(&ca).unwrap();
    let ca_spki_sha256 = digest(&SHA256, ca.public_key().raw).as_ref().to_vec();
    let r = https::request_on(tls, "GET", &format!("/attestation?nonce={nonce_hex}")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    Fetched {
        json: r.body,
        tls_spki_sha256,
        ca_spki_sha256,
    }
}

fn minikms_verify(json: &serde_json::Value, extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evidence.json");
    std::fs::write(&file, serde_json::to_vec(json).unwrap()).unwrap();
    Command::new(bin("minikms"))
        .arg("verify")
        .arg(&file)
        .args(extra)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn evidence_binds_the_tls_key_and_the_nonce_and_verifies() {
    let server = Server::start();
    let status = server.get("/").await.body;
    let nonce = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let Fetched {
        json,
        tls_spki_sha256,
        ca_spki_sha256: fetched_ca_spki_sha256,
    } = fetch(&server, nonce).await;

    // The tutorial's fields, with our identity.
    assert_eq!(json["Type"], 2);
    assert_eq!(json["platform"], "simulation");
    let mrenclave = status["mrenclave"].as_str().unwrap();
    let mrsigner = status["mrsigner"].as_str().unwrap();
    assert_eq!(
        json["MrEnclaveHex"].as_str().unwrap().to_lowercase(),
        mrenclave
    );
    assert_eq!(
        json["MrSignerHex"].as_str().unwrap().to_lowercase(),
        mrsigner
    );
    assert_eq!(json["ProductIdHex"], "01000000000000000000000000000000");
    assert_eq!(json["SecurityVersion"], 1);
    assert!(
        json["CollateralJson"].is_object(),
        "simulation ships its collateral"
    );

    // EnclaveHeldData = {"pubkey-hash": [1, SHA-256(SPKI)], "ca-pubkey-hash":
    // [1, SHA-256(CA SPKI)], "nonce": bstr}.
    let held = hex::decode(json["EnclaveHeldDataHex"].as_str().unwrap()).unwrap();
    let held_claims: Cbor = ciborium::from_reader(&held[..]).unwrap();
    let held_claims = held_claims.as_map().unwrap();
    assert_eq!(
        held_claims[0],
        (
            Cbor::Text("pubkey-hash".into()),
            Cbor::Array(vec![Cbor::Integer(1.into()), Cbor::Bytes(tls_spki_sha256)])
        )
    );
    assert_eq!(
        held_claims[1],
        (
            Cbor::Text("ca-pubkey-hash".into()),
            Cbor::Array(vec![
                Cbor::Integer(1.into()),
                Cbor::Bytes(fetched_ca_spki_sha256.clone())
            ])
        )
    );
    assert_eq!(
        held_claims[2],
        (
            Cbor::Text("nonce".into()),
            Cbor::Bytes(hex::decode(nonce).unwrap())
        )
    );

    // The quote binds the held data and names us.
    let quote = hex::decode(json["QuoteHex"].as_str().unwrap()).unwrap();
    let report_data = &quote[BODY + 320..BODY + 384];
    assert_eq!(&report_data[..32], digest(&SHA256, &held).as_ref());
    assert_eq!(&report_data[32..], &[0u8; 32]);
    assert_eq!(hex::encode(&quote[BODY + 64..BODY + 96]), mrenclave);
    assert_eq!(hex::encode(&quote[BODY + 128..BODY + 160]), mrsigner);

    // The verifier accepts it only when simulation is allowed.
    let pins = [
        "--allow-simulation",
        "--allow-debug",
        "--mrenclave",
        mrenclave,
        "--mrsigner",
        mrsigner,
    ];
    let ok = minikms_verify(&json, &pins);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let claims: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(claims["simulation"], true);
    assert_eq!(claims["platform"], "simulation");
    assert_eq!(claims["mrenclave"], mrenclave);
    assert_eq!(claims["tcb_status"], "UpToDate");
    assert_eq!(claims["binding"], "valid");

    let refused = minikms_verify(&json, &["--allow-debug"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("simulation evidence refused"));

    let wrong = "00".repeat(32);
    let refused = minikms_verify(
        &json,
        &["--allow-simulation", "--allow-debug", "--mrenclave", &wrong],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("MRENCLAVE mismatch"));

    // Held data swapped for another nonce no longer binds.
    let mut entries = held_claims.to_vec();
    entries[1].1 = Cbor::Bytes(vec![0xee; 32]);
    let mut other = Vec::new();
    ciborium::into_writer(&Cbor::Map(entries), &mut other).unwrap();
    let mut forged = json.clone();
    forged["EnclaveHeldDataHex"] = hex::encode_upper(other).into();
    let out = minikms_verify(&forged, &["--allow-simulation", "--allow-debug"]);
    if out.status.success() {
        let claims: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(claims["binding"], "invalid");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_gets_fresh_evidence() {
    let server = Server::start();
    let a = fetch(&server, "01").await.json;
    let b = fetch(&server, "02").await.json;
    assert_ne!(a["QuoteHex"], b["QuoteHex"]);
    assert_ne!(a["EnclaveHeldDataHex"], b["EnclaveHeldDataHex"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_nonces_are_400_with_a_json_error() {
    let server = Server::start();
    for (nonce, want) in [
        ("xyz", "nonce must be hex"),
        ("abc", "nonce must be hex"),
        (&"ab".repeat(65), "nonce must be at most 64 bytes, got 65"),
    ] {
        let r = server.get(&format!("/attestation?nonce={nonce}")).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.body["errors"][0], want);
    }
}

/// Attested TLS, server side: the certificate carries RA-TLS evidence for
/// its own key, and the evidence verifies.
#[tokio::test(flavor = "multi_thread")]
async fn the_tls_certificate_carries_evidence_for_its_own_key() {
    let server = Server::start();
    let status = server.get("/").await.body;
    let cert = https::peer_certificate(&https::connect_tls13(server.addr).await);
    let (_, parsed) = X509Certificate::from_der(&cert).unwrap();
    let ext = parsed
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "2.23.133.5.4.9")
        .expect("RA-TLS extension");
    assert!(!ext.critical);
    let Cbor::Tag(60000, evidence) = ciborium::from_reader::<Cbor, _>(ext.value).unwrap() else {
        panic!("not CBOR tag 60000");
    };
    let Cbor::Array(parts) = *evidence else {
        panic!("not [quote, claims]")
    };
    let (Cbor::Bytes(quote), Cbor::Bytes(claims)) = (&parts[0], &parts[1]) else {
        panic!("not [bstr, bstr]");
    };
    let map: Cbor = ciborium::from_reader(&claims[..]).unwrap();
    let map = map.as_map().unwrap();
    let spki_hash = digest(&SHA256, parsed.public_key().raw).as_ref().to_vec();
    assert_eq!(
        map[0],
        (
            Cbor::Text("pubkey-hash".into()),
            Cbor::Array(vec![Cbor::Integer(1.into()), Cbor::Bytes(spki_hash)])
        )
    );
    assert_eq!(
        &quote[BODY + 320..BODY + 352],
        digest(&SHA256, claims).as_ref()
    );
    let ca = https::peer_chain(&https::connect_tls13(server.addr).await)
        .pop()
        .unwrap();
    let (_, ca_parsed) = X509Certificate::from_der(&ca).unwrap();
    let ca_hash = digest(&SHA256, ca_parsed.public_key().raw)
        .as_ref()
        .to_vec();
    assert_eq!(
        map[1],
        (
            Cbor::Text("ca-pubkey-hash".into()),
            Cbor::Array(vec![Cbor::Integer(1.into()), Cbor::Bytes(ca_hash)])
        )
    );
    let (_, Cbor::Bytes(collateral)) = &map[2] else {
        panic!("no collateral claim")
    };

    let mrenclave: [u8; 32] = hex::decode(status["mrenclave"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let options = minikms_verifier::VerifyOptions {
        at: now,
        collateral: Some(collateral),
        offline: false,
    };
    let mut policy = minikms_verifier::Policy {
        mrenclave: Some(mrenclave),
        allow_debug: true,
        allow_simulation: true,
        ..Default::default()
    };
    let claims_out =
        minikms_verifier::verify_quote(quote, Some(claims), &options, &policy).unwrap();
    let json = serde_json::to_value(&claims_out).unwrap();
    assert_eq!(json["binding"], "valid");
    assert_eq!(json["tcb_status"], "UpToDate");
    assert_eq!(json["simulation"], true);

    policy.allow_simulation = false;
    let err = minikms_verifier::verify_quote(quote, Some(claims), &options, &policy).unwrap_err();
    assert!(
        err.to_string().contains("simulation evidence refused"),
        "{err}"
    );
}

/// Certificates are short-lived and renewed (new key, new quote) at half
/// their lifetime; connections made before keep working, and attestation on
/// each connection binds that connection's key.
#[tokio::test(flavor = "multi_thread")]
async fn certificates_are_renewed_without_dropping_connections() {
    let server = Server::try_start(&["--simulation", "--tls-cert-lifetime", "4"]).unwrap();
    let spki_hash = |cert: &[u8]| {
        let (_, parsed) = X509Certificate::from_der(cert).unwrap();
        let validity = parsed.validity().time_to_expiration().unwrap();
        assert!(validity.whole_seconds() <= 4, "short-lived: {validity:?}");
        digest(&SHA256, parsed.public_key().raw).as_ref().to_vec()
    };
    let old_tls = https::connect_tls13(server.addr).await;
    let old_key = spki_hash(&https::peer_certificate(&old_tls));
    let (mut old, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(old_tls))
            .await
            .unwrap();
    tokio::spawn(conn);

    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let new_tls = https::connect_tls13(server.addr).await;
    let new_key = spki_hash(&https::peer_certificate(&new_tls));
    assert_ne!(
        old_key, new_key,
        "the certificate was renewed with a new key"
    );
    let on_new = https::request_on(new_tls, "GET", "/attestation?nonce=01").await;
    assert_eq!(held_pubkey_hash(&on_new.body), new_key);

    // The old connection still works, and its evidence binds its own key.
    let req = hyper::Request::get("/attestation?nonce=02")
        .header("host", "localhost")
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .unwrap();
    let resp = old.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(held_pubkey_hash(&body), old_key);
}

fn held_pubkey_hash(evidence: &serde_json::Value) -> Vec<u8> {
    let held = hex::decode(evidence["EnclaveHeldDataHex"].as_str().unwrap()).unwrap();
    let claims: Cbor = ciborium::from_reader(&held[..]).unwrap();
    let Cbor::Array(pair) = claims.as_map().unwrap()[0].1.clone() else {
        panic!("pubkey-hash")
    };
    pair[1].as_bytes().unwrap().clone()
}
