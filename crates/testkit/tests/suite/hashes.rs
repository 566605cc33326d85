//! Issue 37's hashes and signatures, checked by OpenSSL's command line
//! against the real server: RSA signatures with every hash Vault takes
//! (SHA-1, SHA-224, SHA-3) and `none`, in PSS and PKCS#1 v1.5;
//! `transit/hash` and `transit/hmac` with SHA-3.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use crate::common::{call, dev_server, ok, openssl};

const TOKEN: &str = "s.hashes-root-token";
const MSG: &[u8] = b"attack at dawn";

fn openssl_name(hash: &str) -> String {
    match hash {
        "sha1" => "sha1".into(),
        h if h.starts_with("sha2-") => format!("sha{}", &h[5..]),
        h => h.to_string(),
    }
}

fn path_of(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

fn signature_bytes(answer: &Value) -> Vec<u8> {
    let s = answer["data"]["signature"].as_str().unwrap();
    B64.decode(s.strip_prefix("vault:v1:").unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn rsa_sha3_sha224_and_none_signatures_and_sha3_hmacs_verify_with_openssl() {
    let s = dev_server(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("msg"), MSG).unwrap();
    let input = B64.encode(MSG);
    ok(
        &s,
        TOKEN,
        "POST",
        "/v1/transit/keys/rsa",
        json!({"type": "rsa-2048", "exportable": true}),
    )
    .await;
    let info = ok(&s, TOKEN, "GET", "/v1/transit/keys/rsa", None).await;
    let public = info["data"]["keys"]["1"]["public_key"].as_str().unwrap();
    std::fs::write(d.join("pub.pem"), public).unwrap();
    let export = ok(
        &s,
        TOKEN,
        "GET",
        "/v1/transit/export/signing-key/rsa/1",
        None,
    )
    .await;
    let private = export["data"]["keys"]["1"].as_str().unwrap();
    std::fs::write(d.join("key.pem"), private).unwrap();
    let (public, private, msg, sig) = (
        path_of(d, "pub.pem"),
        path_of(d, "key.pem"),
        path_of(d, "msg"),
        path_of(d, "sig"),
    );

    for hash in [
        "sha1", "sha2-224", "sha3-224", "sha3-256", "sha3-384", "sha3-512",
    ] {
        for alg in ["pss", "pkcs1v15"] {
            let what = format!("{hash} {alg}");
            let body = json!({"input": input, "hash_algorithm": hash, "signature_algorithm": alg});
            let signed = ok(&s, TOKEN, "POST", "/v1/transit/sign/rsa", body.clone()).await;
            std::fs::write(&sig, signature_bytes(&signed)).unwrap();
            // OpenSSL hashes the message itself and checks the padding
            // (PSS: the salt's length detected).
            let mut args = vec![
                format!("-{}", openssl_name(hash)),
                "-verify".into(),
                public.clone(),
                "-signature".into(),
                sig.clone(),
            ];
            if alg == "pss" {
                for o in ["rsa_padding_mode:pss", "rsa_pss_saltlen:auto"] {
                    args.extend(["-sigopt".to_string(), o.to_string()]);
                }
            }
            args.push(msg.clone());
            let mut all = vec!["dgst"];
            all.extend(args.iter().map(String::as_str));
            openssl(&all);
            let mut v = body.clone();
            v["signature"] = signed["data"]["signature"].clone();
            let valid = ok(&s, TOKEN, "POST", "/v1/transit/verify/rsa", v).await;
            assert_eq!(valid["data"]["valid"], true, "{what}");

            // The reverse: OpenSSL signs (PSS with the longest salt, as
            // Vault's `auto` does), the server verifies.
            let osig = path_of(d, "osig");
            let mut all = vec![
                "dgst".to_string(),
                format!("-{}", openssl_name(hash)),
                "-sign".into(),
                private.clone(),
                "-out".into(),
                osig.clone(),
            ];
            if alg == "pss" {
                for o in ["rsa_padding_mode:pss", "rsa_pss_saltlen:max"] {
                    all.extend(["-sigopt".to_string(), o.to_string()]);
                }
            }
            all.push(msg.clone());
            openssl(&all.iter().map(String::as_str).collect::<Vec<_>>());
            let theirs = B64.encode(std::fs::read(&osig).unwrap());
            let mut v = body.clone();
            v["signature"] = json!(format!("vault:v1:{theirs}"));
            let valid = ok(&s, TOKEN, "POST", "/v1/transit/verify/rsa", v.clone()).await;
            assert_eq!(valid["data"]["valid"], true, "{what}: OpenSSL's signature");
            v["input"] = json!(B64.encode(b"another message"));
            let valid = ok(&s, TOKEN, "POST", "/v1/transit/verify/rsa", v).await;
            assert_eq!(valid["data"]["valid"], false, "{what}: another message");
        }
    }

    // `none`: PKCS#1 v1.5 over the caller's bytes, without a DigestInfo.
    let raw = b"thirty-two bytes of a digest....";
    std::fs::write(d.join("raw"), raw).unwrap();
    let body =
        json!({"input": B64.encode(raw), "prehashed": true, "signature_algorithm": "pkcs1v15"});
    let signed = ok(&s, TOKEN, "POST", "/v1/transit/sign/rsa/none", body.clone()).await;
    std::fs::write(&sig, signature_bytes(&signed)).unwrap();
    let raw_path = path_of(d, "raw");
    openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        &public,
        "-in",
        &raw_path,
        "-sigfile",
        &sig,
        "-pkeyopt",
        "rsa_padding_mode:pkcs1",
    ]);
    let mut v = body.clone();
    v["signature"] = signed["data"]["signature"].clone();
    let valid = ok(&s, TOKEN, "POST", "/v1/transit/verify/rsa/none", v).await;
    assert_eq!(valid["data"]["valid"], true);
    // `none` is refused without prehashed PKCS#1 v1.5, as Vault refuses it.
    for body in [
        json!({"input": B64.encode(raw), "prehashed": true}),
        json!({"input": B64.encode(raw), "signature_algorithm": "pkcs1v15"}),
    ] {
        let r = call(&s, TOKEN, "POST", "/v1/transit/sign/rsa/none", body).await;
        assert_eq!(r.status, 400);
        assert_eq!(
            r.body["errors"][0],
            "hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15"
        );
    }
    // Too long for the key without a DigestInfo: a 400 that says so.
    let r = call(
        &s,
        TOKEN,
        "POST",
        "/v1/transit/sign/rsa/none",
        json!({"input": B64.encode([7u8; 300]), "prehashed": true, "signature_algorithm": "pkcs1v15"}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.raw));
    assert!(r.body["errors"][0]
        .as_str()
        .unwrap()
        .contains("at most 245 bytes"));

    // ECDSA takes SHA3-224 too.
    ok(
        &s,
        TOKEN,
        "POST",
        "/v1/transit/keys/ec",
        json!({"type": "ecdsa-p256"}),
    )
    .await;
    let signed = ok(
        &s,
        TOKEN,
        "POST",
        "/v1/transit/sign/ec/sha3-224",
        json!({"input": input}),
    )
    .await;
    let valid = ok(
        &s,
        TOKEN,
        "POST",
        "/v1/transit/verify/ec/sha3-224",
        json!({"input": input, "signature": signed["data"]["signature"]}),
    )
    .await;
    assert_eq!(valid["data"]["valid"], true);

    // transit/hash with SHA-3, as OpenSSL computes it.
    for hash in ["sha3-224", "sha3-256", "sha3-384", "sha3-512"] {
        let sum = ok(
            &s,
            TOKEN,
            "POST",
            &format!("/v1/transit/hash/{hash}"),
            json!({"input": input}),
        )
        .await;
        let want = openssl(&["dgst", &format!("-{hash}"), "-binary", &msg]);
        assert_eq!(sum["data"]["sum"], hex::encode(want), "{hash}");
    }

    // HMAC with SHA-3: the tag OpenSSL computes with the exported key;
    // verify takes it and refuses a changed one.
    ok(
        &s,
        TOKEN,
        "POST",
        "/v1/transit/keys/mac",
        json!({"type": "hmac", "exportable": true}),
    )
    .await;
    let key = ok(&s, TOKEN, "GET", "/v1/transit/export/hmac-key/mac/1", None).await;
    let key = B64
        .decode(key["data"]["keys"]["1"].as_str().unwrap())
        .unwrap();
    for hash in ["sha3-224", "sha3-256", "sha3-384", "sha3-512"] {
        let tag = ok(
            &s,
            TOKEN,
            "POST",
            &format!("/v1/transit/hmac/mac/{hash}"),
            json!({"input": input}),
        )
        .await;
        let tag = tag["data"]["hmac"].as_str().unwrap().to_string();
        let want = openssl(&[
            "dgst",
            &format!("-{hash}"),
            "-mac",
            "HMAC",
            "-macopt",
            &format!("hexkey:{}", hex::encode(&key)),
            "-binary",
            &msg,
        ]);
        assert_eq!(tag, format!("vault:v1:{}", B64.encode(&want)), "{hash}");
        let valid = ok(
            &s,
            TOKEN,
            "POST",
            &format!("/v1/transit/verify/mac/{hash}"),
            json!({"input": input, "hmac": tag}),
        )
        .await;
        assert_eq!(valid["data"]["valid"], true, "{hash}");
        let mut changed = want.clone();
        changed[0] ^= 1;
        let valid = ok(
            &s,
            TOKEN,
            "POST",
            &format!("/v1/transit/verify/mac/{hash}"),
            json!({"input": input, "hmac": format!("vault:v1:{}", B64.encode(&changed))}),
        )
        .await;
        assert_eq!(valid["data"]["valid"], false, "{hash}");
    }
}
