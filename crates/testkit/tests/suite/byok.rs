//! Bring your own key: keys made by OpenSSL, wrapped client-side to the
//! enclave's wrapping key, imported and used; bad imports leave nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use base64::Engine;
use minikms_testkit::{https, Server};
use serde_json::{json, Value};

const TOKEN: &str = "s.test-root-token";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

async fn call(s: &Server, method: &str, path: &str, body: Option<Value>) -> https::Response {
    crate::common::call(s, TOKEN, method, path, body).await
}

async fn ok(s: &Server, path: &str, body: Value) -> Value {
    let r = call(s, "POST", path, Some(body)).await;
    assert_eq!(r.status, 200, "{path}: {}", String::from_utf8_lossy(&r.raw));
    r.body["data"].clone()
}

/// An import (or import_version) that must answer as Vault's: 204, no
/// body; then the key as a read describes it.
async fn imported(s: &Server, path: &str, body: Value) -> Value {
    let r = call(s, "POST", path, Some(body)).await;
    assert_eq!(r.status, 204, "{path}: {}", String::from_utf8_lossy(&r.raw));
    assert!(r.raw.is_empty(), "{path}: a 204 has no body");
    let name = path.split('/').nth(4).unwrap();
    let r = call(s, "GET", &format!("/v1/transit/keys/{name}"), None).await;
    assert_eq!(r.status, 200);
    r.body["data"].clone()
}

fn wrap(pem_pub: &str, target: &[u8]) -> String {
    let der = pem::parse(pem_pub).unwrap();
    let public = PublicEncryptingKey::from_der(der.contents()).unwrap();
    let oaep = OaepPublicEncryptingKey::new(public).unwrap();
    let mut eph = [0u8; 32];
    aws_lc_rs::rand::fill(&mut eph).unwrap();
    let mut rsa = vec![0u8; oaep.ciphertext_size()];
    let rsa = oaep
        .encrypt(&OAEP_SHA256_MGF1SHA256, &eph, &mut rsa, None)
        .unwrap()
        .to_vec();
    let mut kwp = vec![0u8; target.len() + 16];
    let kwp = AesKek::new(&AES_256, &eph)
        .unwrap()
        .wrap_with_padding(target, &mut kwp)
        .unwrap()
        .to_vec();
    B64.encode([rsa, kwp].concat())
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn genpkey(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    // genpkey's DER is PKCS#1 for RSA in OpenSSL 3.0; PKCS#8 is asked for.
    let file = format!("{name}.der");
    let pem_file = format!("{name}.pem");
    let mut all = vec!["genpkey"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-out", &pem_file]);
    openssl(dir, &all);
    openssl(
        dir,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", &pem_file, "-outform", "DER", "-out", &file,
        ],
    );
    std::fs::read(dir.join(&file)).unwrap()
}

#[tokio::test]
async fn openssl_keys_imported_and_used_and_bad_imports_leave_nothing() {
    if Command::new("openssl").arg("version").output().is_err() {
        println!("SKIPPED: openssl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = Server::try_start(&["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("server did not start: {r:?}"));

    let r = call(&s, "GET", "/v1/transit/wrapping_key", None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    let wk = r.body["data"]["public_key"].as_str().unwrap().to_string();
    assert!(wk.contains("BEGIN PUBLIC KEY"));
    // Stable across calls.
    let again = call(&s, "GET", "/v1/transit/wrapping_key", None).await;
    assert_eq!(again.body["data"]["public_key"].as_str().unwrap(), wk);
    let der = pem::parse(&wk).unwrap();
    assert_eq!(
        PublicEncryptingKey::from_der(der.contents())
            .unwrap()
            .key_size_bits(),
        4096
    );

    // AES-256 from `openssl rand`: encrypt here with the same key, decrypt there.
    let aes = openssl(d, &["rand", "32"]);
    assert_eq!(aes.len(), 32);
    let info = imported(
        &s,
        "/v1/transit/keys/aes/import",
        json!({"ciphertext": wrap(&wk, &aes), "type": "aes256-gcm96"}),
    )
    .await;
    assert_eq!(info["imported_key"], true);
    assert_eq!(info["imported_key_allow_rotation"], false);
    let ct = ok(
        &s,
        "/v1/transit/encrypt/aes",
        json!({"plaintext": B64.encode(b"hi")}),
    )
    .await;
    let ct = ct["ciphertext"].as_str().unwrap().to_string();
    let raw = B64.decode(ct.strip_prefix("vault:v1:").unwrap()).unwrap();
    let key = aws_lc_rs::aead::LessSafeKey::new(
        aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &aes).unwrap(),
    );
    let (nonce, sealed) = raw.split_at(12);
    let mut sealed = sealed.to_vec();
    let plain = key
        .open_in_place(
            aws_lc_rs::aead::Nonce::try_assume_unique_for_key(nonce).unwrap(),
            aws_lc_rs::aead::Aad::empty(),
            &mut sealed,
        )
        .unwrap();
    assert_eq!(plain, b"hi", "the server used exactly the imported AES key");
    // Not imported with allow_rotation: rotate refused.
    let r = call(&s, "POST", "/v1/transit/keys/aes/rotate", Some(json!({}))).await;
    assert_eq!(r.status, 400);
    // import_version adds v2.
    let aes2 = openssl(d, &["rand", "32"]);
    let info = imported(
        &s,
        "/v1/transit/keys/aes/import_version",
        json!({"ciphertext": wrap(&wk, &aes2)}),
    )
    .await;
    assert_eq!(info["latest_version"], 2);
    let back = ok(&s, "/v1/transit/decrypt/aes", json!({"ciphertext": ct})).await;
    assert_eq!(back["plaintext"], B64.encode(b"hi"));

    // Imported with allow_rotation: rotate generates a version, and the
    // key is no longer an imported one, as Vault reports it.
    let info = imported(
        &s,
        "/v1/transit/keys/aes-rot/import",
        json!({"ciphertext": wrap(&wk, &aes), "allow_rotation": true}),
    )
    .await;
    assert_eq!(info["imported_key_allow_rotation"], true);
    let info = ok(&s, "/v1/transit/keys/aes-rot/rotate", json!({})).await;
    assert_eq!(info["latest_version"], 2);
    assert_eq!(info["imported_key"], false);
    assert!(info.get("imported_key_allow_rotation").is_none());
    let ct2 = ok(
        &s,
        "/v1/transit/encrypt/aes-rot",
        json!({"plaintext": B64.encode(b"v2")}),
    )
    .await;
    assert!(ct2["ciphertext"].as_str().unwrap().starts_with("vault:v2:"));

    // RSA-2048: decrypt what OpenSSL encrypted with RSA-OAEP-SHA256.
    let rsa = genpkey(
        d,
        "rsa",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    imported(
        &s,
        "/v1/transit/keys/rsa/import",
        json!({"ciphertext": wrap(&wk, &rsa), "type": "rsa-2048"}),
    )
    .await;
    std::fs::write(d.join("msg"), b"secret from openssl").unwrap();
    openssl(
        d,
        &[
            "pkey", "-inform", "DER", "-in", "rsa.der", "-pubout", "-out", "rsa.pub",
        ],
    );
    openssl(
        d,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            "rsa.pub",
            "-in",
            "msg",
            "-out",
            "msg.enc",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
    );
    let enc = std::fs::read(d.join("msg.enc")).unwrap();
    let back = ok(
        &s,
        "/v1/transit/decrypt/rsa",
        json!({"ciphertext": format!("vault:v1:{}", B64.encode(enc))}),
    )
    .await;
    assert_eq!(back["plaintext"], B64.encode(b"secret from openssl"));

    // Ed25519 and P-256: OpenSSL verifies what the server signed.
    for (name, ty, args, extra) in [
        (
            "ed",
            "ed25519",
            vec!["-algorithm", "ED25519"],
            vec!["-rawin"],
        ),
        (
            "ec",
            "ecdsa-p256",
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            vec!["-digest", "sha256", "-rawin"],
        ),
    ] {
        let k = genpkey(d, name, &args);
        imported(
            &s,
            &format!("/v1/transit/keys/{name}/import"),
            json!({"ciphertext": wrap(&wk, &k), "type": ty}),
        )
        .await;
        let sig = ok(
            &s,
            &format!("/v1/transit/sign/{name}"),
            json!({"input": B64.encode(b"signed in the enclave")}),
        )
        .await;
        let sig = sig["signature"].as_str().unwrap();
        let sig = B64.decode(sig.strip_prefix("vault:v1:").unwrap()).unwrap();
        std::fs::write(d.join("sig"), sig).unwrap();
        std::fs::write(d.join("data"), b"signed in the enclave").unwrap();
        let der = format!("{name}.der");
        let mut v = vec![
            "pkeyutl", "-verify", "-keyform", "DER", "-inkey", &der, "-in", "data", "-sigfile",
            "sig",
        ];
        v.extend_from_slice(&extra);
        openssl(d, &v);
    }

    // Bad imports: a clear 4xx and nothing left behind.
    let p384 = genpkey(
        d,
        "p384",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    );
    let mut tampered = B64.decode(wrap(&wk, &aes)).unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let other =
        aws_lc_rs::rsa::PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let other_pem = {
        use aws_lc_rs::encoding::AsDer;
        let der: aws_lc_rs::encoding::PublicKeyX509Der = other.public_key().as_der().unwrap();
        pem::encode(&pem::Pem::new("PUBLIC KEY", der.as_ref().to_vec()))
    };
    let cases: Vec<(&str, Value)> = vec![
        (
            "not base64",
            json!({"ciphertext": "%%%", "type": "aes256-gcm96"}),
        ),
        ("missing ciphertext", json!({"type": "aes256-gcm96"})),
        ("too short", json!({"ciphertext": B64.encode([0u8; 100])})),
        ("tampered KWP", json!({"ciphertext": B64.encode(&tampered)})),
        (
            "wrapped to another key",
            json!({"ciphertext": wrap(&other_pem, &aes)}),
        ),
        (
            "AES bytes as RSA",
            json!({"ciphertext": wrap(&wk, &aes), "type": "rsa-2048"}),
        ),
        (
            "16-byte AES",
            json!({"ciphertext": wrap(&wk, &aes[..16]), "type": "aes256-gcm96"}),
        ),
        (
            "P-384 as P-256",
            json!({"ciphertext": wrap(&wk, &p384), "type": "ecdsa-p256"}),
        ),
        (
            "RSA-2048 as RSA-4096",
            json!({"ciphertext": wrap(&wk, &rsa), "type": "rsa-4096"}),
        ),
        (
            "Ed25519 as RSA",
            json!({"ciphertext": wrap(&wk, &genpkey(d, "ed2", &["-algorithm", "ED25519"])), "type": "rsa-2048"}),
        ),
        (
            "unknown type",
            json!({"ciphertext": wrap(&wk, &aes), "type": "des"}),
        ),
        (
            "bad hash",
            json!({"ciphertext": wrap(&wk, &rsa), "type": "rsa-2048", "hash_function": "MD5"}),
        ),
    ];
    for (what, body) in cases {
        let r = call(&s, "POST", "/v1/transit/keys/bad/import", Some(body)).await;
        assert_eq!(r.status, 400, "{what}: {}", String::from_utf8_lossy(&r.raw));
        assert!(
            r.body["errors"][0].as_str().is_some_and(|e| !e.is_empty()),
            "{what}"
        );
        let r = call(&s, "GET", "/v1/transit/keys/bad", None).await;
        assert_eq!(r.status, 404, "{what}: a key was left behind");
    }
    // Existing key: import refused, key unchanged; import_version of a
    // mismatched key refused; import_version on a generated key refused.
    let r = call(
        &s,
        "POST",
        "/v1/transit/keys/aes/import",
        Some(json!({"ciphertext": wrap(&wk, &aes)})),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = call(
        &s,
        "POST",
        "/v1/transit/keys/ec/import_version",
        Some(json!({"ciphertext": wrap(&wk, &p384)})),
    )
    .await;
    assert_eq!(r.status, 400);
    ok(&s, "/v1/transit/keys/gen", json!({})).await;
    let r = call(
        &s,
        "POST",
        "/v1/transit/keys/gen/import_version",
        Some(json!({"ciphertext": wrap(&wk, &aes)})),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = call(&s, "GET", "/v1/transit/keys/ec", None).await;
    assert_eq!(r.body["data"]["latest_version"], 1);
}

/// `minikms import` wraps on the client, and only for an enclave that met
/// the policy: key files as OpenSSL writes them (PKCS#8 PEM, PKCS#1 PEM,
/// SEC1 PEM, DER, raw bytes), then used against OpenSSL.
#[tokio::test(flavor = "multi_thread")]
async fn minikms_import_wraps_key_files_for_the_attested_enclave_only() {
    if Command::new("openssl").arg("version").output().is_err() {
        println!("SKIPPED: openssl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = Server::try_start(&["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("server did not start: {r:?}"));
    let url = format!("https://{}", s.addr);
    let enclave = s.signed_enclave().to_path_buf();
    let import = |extra: Vec<String>| {
        let mut args: Vec<String> = ["--server", &url, "--token", TOKEN, "--enclave"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        args.push(enclave.to_str().unwrap().to_string());
        args.extend(extra);
        Command::new(minikms_testkit::bin("minikms"))
            .args(&args)
            .output()
            .unwrap()
    };
    let path = |name: &str| d.join(name).to_str().unwrap().to_string();
    let args = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();

    // Not attested as the policy wants: refused before anything is sent.
    std::fs::write(d.join("aes.key"), openssl(d, &["rand", "32"])).unwrap();
    let out = import(args(&["import", "aes", "--file", &path("aes.key")]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("simulation evidence refused"));
    assert_eq!(
        call(&s, "GET", "/v1/transit/keys/aes", None).await.status,
        404
    );

    let sim = "--allow-simulation";
    // Raw AES-256: the server encrypts, we decrypt with the file's key.
    let out = import(args(&[sim, "import", "aes", "--file", &path("aes.key")]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(said["type"], "aes256-gcm96");
    let ct = ok(
        &s,
        "/v1/transit/encrypt/aes",
        json!({"plaintext": B64.encode(b"hi")}),
    )
    .await;
    let raw = B64
        .decode(
            ct["ciphertext"]
                .as_str()
                .unwrap()
                .strip_prefix("vault:v1:")
                .unwrap(),
        )
        .unwrap();
    let key = aws_lc_rs::aead::LessSafeKey::new(
        aws_lc_rs::aead::UnboundKey::new(
            &aws_lc_rs::aead::AES_256_GCM,
            &std::fs::read(d.join("aes.key")).unwrap(),
        )
        .unwrap(),
    );
    let (nonce, body) = raw.split_at(12);
    let mut body = body.to_vec();
    let plain = key
        .open_in_place(
            aws_lc_rs::aead::Nonce::try_assume_unique_for_key(nonce).unwrap(),
            aws_lc_rs::aead::Aad::empty(),
            &mut body,
        )
        .unwrap();
    assert_eq!(plain, b"hi");

    // RSA as PKCS#1 PEM ("BEGIN RSA PRIVATE KEY"): decrypts what OpenSSL
    // encrypted to its public key.
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa8.pem",
        ],
    );
    openssl(
        d,
        &["rsa", "-in", "rsa8.pem", "-traditional", "-out", "rsa1.pem"],
    );
    assert!(std::fs::read_to_string(d.join("rsa1.pem"))
        .unwrap()
        .contains("BEGIN RSA PRIVATE KEY"));
    let out = import(args(&[sim, "import", "rsa", "--file", &path("rsa1.pem")]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(d.join("msg"), b"from openssl").unwrap();
    openssl(
        d,
        &[
            "pkeyutl",
            "-encrypt",
            "-inkey",
            "rsa8.pem",
            "-in",
            "msg",
            "-out",
            "msg.enc",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
    );
    let enc = std::fs::read(d.join("msg.enc")).unwrap();
    let back = ok(
        &s,
        "/v1/transit/decrypt/rsa",
        json!({"ciphertext": format!("vault:v1:{}", B64.encode(enc))}),
    )
    .await;
    assert_eq!(back["plaintext"], B64.encode(b"from openssl"));

    // EC P-256 as SEC1 PEM and Ed25519 as PKCS#8 DER: OpenSSL verifies what
    // the server signed.
    openssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ec.pem",
        ],
    );
    assert!(std::fs::read_to_string(d.join("ec.pem"))
        .unwrap()
        .contains("BEGIN EC PRIVATE KEY"));
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "ED25519",
            "-outform",
            "DER",
            "-out",
            "ed.der",
        ],
    );
    for (name, file, ty, dgst) in [
        ("ec", "ec.pem", "ecdsa-p256", Some("-sha256")),
        ("ed", "ed.der", "ed25519", None),
    ] {
        let out = import(args(&[sim, "import", name, "--file", &path(file)]));
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(said["type"], ty);
        let sig = ok(
            &s,
            &format!("/v1/transit/sign/{name}"),
            json!({"input": B64.encode(b"signed")}),
        )
        .await;
        let sig = sig["signature"]
            .as_str()
            .unwrap()
            .strip_prefix("vault:v1:")
            .unwrap()
            .to_string();
        std::fs::write(d.join("sig"), B64.decode(sig).unwrap()).unwrap();
        std::fs::write(d.join("signed"), b"signed").unwrap();
        let inform = if file.ends_with(".der") { "DER" } else { "PEM" };
        openssl(
            d,
            &[
                "pkey", "-inform", inform, "-in", file, "-pubout", "-out", "pub.pem",
            ],
        );
        match dgst {
            Some(dgst) => openssl(
                d,
                &[
                    "dgst",
                    dgst,
                    "-verify",
                    "pub.pem",
                    "-signature",
                    "sig",
                    "signed",
                ],
            ),
            None => openssl(
                d,
                &[
                    "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "signed",
                    "-sigfile", "sig",
                ],
            ),
        };
    }

    // A mismatched type is refused on this side; nothing reaches the server.
    let out = import(args(&[
        sim,
        "import",
        "wrong",
        "--file",
        &path("ec.pem"),
        "--type",
        "rsa-2048",
    ]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("holds a key of type ecdsa-p256, not rsa-2048"));
    let out = import(args(&[sim, "import", "short", "--file", &path("msg")]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("32 raw bytes"));
    for name in ["wrong", "short"] {
        assert_eq!(
            call(&s, "GET", &format!("/v1/transit/keys/{name}"), None)
                .await
                .status,
            404
        );
    }
}
