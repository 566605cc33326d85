//! What the differential test against OpenBao (`interop/openbao`) found
//! and minikms now answers as Vault does, held here against the real
//! server: key reads in Vault's shape, the newer key types, upsert on
//! encrypt and `disable_upsert`, the mounts, batches, and the bodies the
//! `bao` CLI and curl send.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use minikms_testkit::{https, Server};
use serde_json::{json, Value};

const TOKEN: &str = "s.conformance-root-token";
const P: &str = "YXR0YWNrIGF0IGRhd24="; // "attack at dawn"

struct Vault {
    server: Server,
}

impl Vault {
    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> https::Response {
        https::send_json(
            self.server.addr,
            method,
            path,
            &[("X-Vault-Token", token)],
            body.as_ref(),
        )
        .await
    }

    /// A root request that must answer `status`; its body.
    async fn expect(&self, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
        let r = self.call(TOKEN, method, path, body).await;
        assert_eq!(
            r.status,
            status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.raw)
        );
        r.body
    }

    async fn data(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.expect(method, path, body, 200).await["data"].clone()
    }

    async fn raw(&self, path: &str, content_type: &str, body: &str) -> https::Response {
        https::send_raw(
            self.server.addr,
            "POST",
            path,
            &[("X-Vault-Token", TOKEN), ("content-type", content_type)],
            body.as_bytes().to_vec(),
        )
        .await
    }
}

async fn aes_warnings_absent(v: &Vault) -> bool {
    let again = v
        .expect("POST", "/v1/transit/keys/aes", Some(json!({})), 200)
        .await;
    again["warnings"].is_null()
}

fn keys_of(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_mounts_and_bodies_answer_as_vault() {
    let server = Server::try_start(&["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("server did not start: {r:?}"));
    let v = Vault { server };

    // Key reads: Vault's fields, no convergent_encryption on a plain key.
    let aes = v
        .data("POST", "/v1/transit/keys/aes", Some(json!({})))
        .await;
    assert_eq!(aes["soft_deleted"], false);
    assert_eq!(aes["supports_derivation"], true);
    assert!(aes.get("convergent_encryption").is_none());
    // Unknown fields: Vault's warning, and the key made all the same.
    let warned = v
        .expect(
            "POST",
            "/v1/transit/keys/warned",
            Some(json!({"type": "ed25519", "not_a_param": 1})),
            200,
        )
        .await;
    assert_eq!(warned["data"]["type"], "ed25519");
    assert!(warned["warnings"][0]
        .as_str()
        .unwrap()
        .contains("[not_a_param]"));
    assert!(aes_warnings_absent(&v).await);
    let hmac = v
        .data(
            "POST",
            "/v1/transit/keys/mac",
            Some(json!({"type": "hmac", "key_size": 64})),
        )
        .await;
    assert_eq!(hmac["key_size"], 64);
    assert!(hmac.get("keys").is_none());
    assert_eq!(hmac["supports_derivation"], false);

    // The newer types: AEADs round-trip, P-521 signs and verifies.
    for t in ["aes128-gcm96", "chacha20-poly1305"] {
        let k = v
            .data(
                "POST",
                &format!("/v1/transit/keys/{t}"),
                Some(json!({"type": t})),
            )
            .await;
        assert_eq!(k["type"], t);
        let ct = v
            .data(
                "POST",
                &format!("/v1/transit/encrypt/{t}"),
                Some(json!({"plaintext": P})),
            )
            .await["ciphertext"]
            .clone();
        let pt = v
            .data(
                "POST",
                &format!("/v1/transit/decrypt/{t}"),
                Some(json!({"ciphertext": ct})),
            )
            .await;
        assert_eq!(pt["plaintext"], P);
    }
    let ec = v
        .data(
            "POST",
            "/v1/transit/keys/p521",
            Some(json!({"type": "ecdsa-p521"})),
        )
        .await;
    assert_eq!(ec["keys"]["1"]["name"], "P-521");
    assert_eq!(ec["keys"]["1"]["certificate_chain"], "");
    let sig = v
        .data("POST", "/v1/transit/sign/p521", Some(json!({"input": P})))
        .await["signature"]
        .clone();
    let ok = v
        .data(
            "POST",
            "/v1/transit/verify/p521",
            Some(json!({"input": P, "signature": sig})),
        )
        .await;
    assert_eq!(ok["valid"], true);

    // Versions below min_decryption_version are not shown.
    v.data("POST", "/v1/transit/keys/aes/rotate", None).await;
    let aes = v
        .data(
            "POST",
            "/v1/transit/keys/aes/config",
            Some(json!({"min_decryption_version": 2})),
        )
        .await;
    assert_eq!(keys_of(&aes["keys"]), ["2"]);

    // Backups and restores are recorded on the key.
    v.data(
        "POST",
        "/v1/transit/keys/aes/config",
        Some(json!({"exportable": true, "allow_plaintext_backup": true})),
    )
    .await;
    let backup = v.data("GET", "/v1/transit/backup/aes", None).await["backup"].clone();
    let aes = v.data("GET", "/v1/transit/keys/aes", None).await;
    assert_eq!(aes["backup_info"]["version"], 2);
    assert!(aes.get("restore_info").is_none());
    v.expect(
        "POST",
        "/v1/transit/restore/aes-copy",
        Some(json!({"backup": backup})),
        204,
    )
    .await;
    let copy = v.data("GET", "/v1/transit/keys/aes-copy", None).await;
    assert_eq!(copy["restore_info"]["version"], 2);

    // Bodies: JSON null (bao write -f) is empty; form fields as Vault reads them.
    let r = v
        .raw("/v1/transit/keys/from-null", "application/json", "null")
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    assert_eq!(r.body["data"]["type"], "aes256-gcm96");
    let r = v
        .raw(
            "/v1/transit/keys/from-form",
            "application/x-www-form-urlencoded",
            "type=ed25519&exportable=true",
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    assert_eq!(
        (
            r.body["data"]["type"].clone(),
            r.body["data"]["exportable"].clone()
        ),
        (json!("ed25519"), json!(true))
    );
    // curl -d '{...}' sends JSON with the form content type.
    let r = v
        .raw(
            "/v1/transit/encrypt/aes",
            "application/x-www-form-urlencoded",
            &json!({"plaintext": P}).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));

    // Refused as OpenBao refuses, and nothing made.
    v.expect("POST", "/v1/transit/keys/.hidden", Some(json!({})), 400)
        .await;
    v.expect("GET", "/v1/transit/keys/.hidden", None, 404).await;
    v.expect(
        "POST",
        "/v1/transit/datakey/plaintext/aes",
        Some(json!({"bits": 0})),
        400,
    )
    .await;
    v.expect(
        "POST",
        "/v1/transit/encrypt/aes",
        Some(json!({"batch_input": []})),
        400,
    )
    .await;
    let mac = v
        .data("POST", "/v1/transit/hmac/mac", Some(json!({"input": P})))
        .await["hmac"]
        .clone();
    v.expect(
        "POST",
        "/v1/transit/verify/mac",
        Some(json!({"input": P, "hmac": mac, "signature": "vault:v1:AAAA"})),
        400,
    )
    .await;

    // Batches: 200 with per-item errors for hmac, every reference echoed.
    let b = v
        .data(
            "POST",
            "/v1/transit/hmac/mac",
            Some(json!({"batch_input": [{"input": P}, {"input": "!!", "reference": "bad"}]})),
        )
        .await;
    let results = b["batch_results"].as_array().unwrap();
    assert_eq!(results[0]["reference"], "");
    assert!(results[0]["hmac"].is_string());
    assert_eq!(results[1]["reference"], "bad");
    assert!(results[1]["error"].is_string());

    // Upsert: encrypt makes a missing key (of the type asked), unless
    // disabled; a token without `create` on the path makes none.
    let ct = v
        .data(
            "POST",
            "/v1/transit/encrypt/made",
            Some(json!({"plaintext": P, "type": "chacha20-poly1305"})),
        )
        .await["ciphertext"]
        .clone();
    assert_eq!(
        v.data("GET", "/v1/transit/keys/made", None).await["type"],
        "chacha20-poly1305"
    );
    let pt = v
        .data(
            "POST",
            "/v1/transit/decrypt/made",
            Some(json!({"ciphertext": ct})),
        )
        .await;
    assert_eq!(pt["plaintext"], P);
    v.expect(
        "PUT",
        "/v1/sys/policy/enc-only",
        Some(json!({"policy": "path \"transit/encrypt/*\" { capabilities = [\"update\"] }"})),
        204,
    )
    .await;
    let child = v
        .expect(
            "POST",
            "/v1/auth/token/create",
            Some(json!({"policies": ["enc-only"]})),
            200,
        )
        .await["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = v
        .call(
            &child,
            "POST",
            "/v1/transit/encrypt/not-made",
            Some(json!({"plaintext": P})),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = v
        .call(
            &child,
            "POST",
            "/v1/transit/encrypt/made",
            Some(json!({"plaintext": P})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        v.data("GET", "/v1/transit/config/keys", None).await["disable_upsert"],
        false
    );
    let c = v
        .data(
            "POST",
            "/v1/transit/config/keys",
            Some(json!({"disable_upsert": true})),
        )
        .await;
    assert_eq!(c["disable_upsert"], true);
    v.expect(
        "POST",
        "/v1/transit/encrypt/not-made",
        Some(json!({"plaintext": P})),
        400,
    )
    .await;
    v.expect("GET", "/v1/transit/keys/not-made", None, 404)
        .await;
    assert_eq!(
        v.data("GET", "/v1/transit/cache-config", None).await["size"],
        0
    );

    // Mounts, and a token's capabilities.
    let mounts = v.data("GET", "/v1/sys/mounts", None).await;
    assert_eq!(mounts["transit/"]["type"], "transit");
    let m = v
        .data("GET", "/v1/sys/internal/ui/mounts/transit/keys/x", None)
        .await;
    assert_eq!(
        (m["type"].clone(), m["path"].clone()),
        (json!("transit"), json!("transit/"))
    );
    assert_eq!(
        v.data("GET", "/v1/sys/auth", None).await["token/"]["type"],
        "token"
    );
    let caps = v
        .data(
            "POST",
            "/v1/sys/capabilities-self",
            Some(json!({"paths": ["transit/encrypt/x"]})),
        )
        .await;
    assert_eq!(caps["transit/encrypt/x"], json!(["root"]));
    let r = v
        .call(
            &child,
            "POST",
            "/v1/sys/capabilities-self",
            Some(json!({"paths": ["transit/encrypt/x", "transit/keys/x"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    assert_eq!(r.body["data"]["transit/encrypt/x"], json!(["update"]));
    assert_eq!(r.body["data"]["transit/keys/x"], json!(["deny"]));
    let names = v.data("LIST", "/v1/transit/keys/", None).await["keys"].clone();
    assert!(names.as_array().unwrap().contains(&json!("made")));

    // Token renewal: renewable by default, never past 768h from creation;
    // a token made with renewable false is refused.
    let short = v
        .expect(
            "POST",
            "/v1/auth/token/create",
            Some(json!({"policies": ["default"], "ttl": "1h"})),
            200,
        )
        .await["auth"]
        .clone();
    assert_eq!(short["renewable"], true);
    let tok = short["client_token"].as_str().unwrap().to_string();
    let renewed = v
        .expect(
            "POST",
            "/v1/auth/token/renew",
            Some(json!({"token": tok, "increment": "2h"})),
            200,
        )
        .await["auth"]
        .clone();
    let lease = renewed["lease_duration"].as_u64().unwrap();
    assert!((7000..=7200).contains(&lease), "{lease}");
    assert_eq!(renewed["client_token"], "");
    let r = v
        .call(
            &tok,
            "POST",
            "/v1/auth/token/renew-self",
            Some(json!({"increment": "9999h"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    assert!(r.body["auth"]["lease_duration"].as_u64().unwrap() <= 768 * 3600);
    let fixed = v
        .expect(
            "POST",
            "/v1/auth/token/create",
            Some(json!({"ttl": "1h", "renewable": false})),
            200,
        )
        .await["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    v.expect(
        "POST",
        "/v1/auth/token/renew",
        Some(json!({"token": fixed})),
        400,
    )
    .await;
    v.expect("POST", "/v1/auth/token/renew-self", Some(json!({})), 400)
        .await;

    // Orphans (root only) outlive their creator's revocation; accessors
    // are listed for root.
    let parent = v
        .expect(
            "POST",
            "/v1/auth/token/create",
            Some(json!({"ttl": "1h"})),
            200,
        )
        .await["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = v
        .call(
            &parent,
            "POST",
            "/v1/auth/token/create-orphan",
            Some(json!({"ttl": "1h"})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.raw));
    let orphan = v
        .expect(
            "POST",
            "/v1/auth/token/create-orphan",
            Some(json!({"ttl": "1h"})),
            200,
        )
        .await["auth"]
        .clone();
    assert_eq!(orphan["orphan"], true);
    let listed = v.data("LIST", "/v1/auth/token/accessors", None).await["keys"].clone();
    assert!(listed.as_array().unwrap().contains(&orphan["accessor"]));
    let r = v
        .call(&parent, "LIST", "/v1/auth/token/accessors", None)
        .await;
    assert_eq!(r.status, 403);
}

/// The key's version-1 public key: the SubjectPublicKeyInfo's key bytes
/// (an EC point, or an RSAPublicKey).
fn public_key_bytes(info: &Value) -> Vec<u8> {
    use x509_parser::prelude::FromDer;
    let pem_text = info["keys"]["1"]["public_key"].as_str().unwrap();
    let der = pem::parse(pem_text).unwrap().contents().to_vec();
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der).unwrap();
    spki.subject_public_key.data.to_vec()
}

fn sig_bytes(sig: &Value, engine: &base64::engine::GeneralPurpose) -> Vec<u8> {
    use base64::Engine;
    let s = sig.as_str().unwrap();
    engine.decode(&s["vault:v1:".len()..]).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_take_every_hash_vault_takes() {
    use aws_lc_rs::digest;
    use aws_lc_rs::signature::{self, RsaPssSaltLength, VerificationAlgorithm};
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let server = Server::try_start(&["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("server did not start: {r:?}"));
    let v = Vault { server };
    let msg = b"attack at dawn";

    // ECDSA signs the digest of any of Vault's hashes on any curve
    // (sha2-256 by default): checked by a verifier that hashes the message
    // itself, for the curve/hash pairs aws-lc-rs verifies.
    let cases: [(&str, Option<&str>, &'static dyn VerificationAlgorithm); 6] = [
        (
            "ecdsa-p256",
            Some("sha2-384"),
            &signature::ECDSA_P256_SHA384_ASN1,
        ),
        (
            "ecdsa-p256",
            Some("sha2-512"),
            &signature::ECDSA_P256_SHA512_ASN1,
        ),
        ("ecdsa-p384", None, &signature::ECDSA_P384_SHA256_ASN1),
        (
            "ecdsa-p384",
            Some("sha2-512"),
            &signature::ECDSA_P384_SHA512_ASN1,
        ),
        ("ecdsa-p521", None, &signature::ECDSA_P521_SHA256_ASN1),
        (
            "ecdsa-p521",
            Some("sha2-384"),
            &signature::ECDSA_P521_SHA384_ASN1,
        ),
    ];
    for (ty, hash, alg) in cases {
        let info = v
            .data(
                "POST",
                &format!("/v1/transit/keys/{ty}"),
                Some(json!({"type": ty})),
            )
            .await;
        let point = public_key_bytes(&info);
        let mut body = json!({"input": P});
        if let Some(h) = hash {
            body["hash_algorithm"] = json!(h);
        }
        let s = v
            .data(
                "POST",
                &format!("/v1/transit/sign/{ty}"),
                Some(body.clone()),
            )
            .await;
        alg.verify_sig(&point, msg, &sig_bytes(&s["signature"], &STANDARD))
            .unwrap_or_else(|_| panic!("{ty} {hash:?}"));
        body["signature"] = s["signature"].clone();
        let ok = v
            .data("POST", &format!("/v1/transit/verify/{ty}"), Some(body))
            .await;
        assert_eq!(ok["valid"], true, "{ty} {hash:?}");
    }

    // JWS: r||s, URL-safe base64 without padding, for ECDSA; the same
    // bytes URL-safe for Ed25519 and RSA.
    let info = v.data("GET", "/v1/transit/keys/ecdsa-p256", None).await;
    let s = v
        .data(
            "POST",
            "/v1/transit/sign/ecdsa-p256",
            Some(json!({"input": P, "marshaling_algorithm": "jws"})),
        )
        .await;
    let raw = sig_bytes(&s["signature"], &URL_SAFE_NO_PAD);
    assert_eq!(raw.len(), 64);
    signature::ECDSA_P256_SHA256_FIXED
        .verify_sig(&public_key_bytes(&info), msg, &raw)
        .unwrap();
    for ty in ["ecdsa-p256", "ed25519"] {
        if ty == "ed25519" {
            v.data("POST", "/v1/transit/keys/ed", Some(json!({"type": ty})))
                .await;
        }
        let name = if ty == "ed25519" { "ed" } else { ty };
        let s = v
            .data(
                "POST",
                &format!("/v1/transit/sign/{name}"),
                Some(json!({"input": P, "marshaling_algorithm": "jws"})),
            )
            .await;
        let ok = v
            .data(
                "POST",
                &format!("/v1/transit/verify/{name}"),
                Some(
                    json!({"input": P, "marshaling_algorithm": "jws", "signature": s["signature"]}),
                ),
            )
            .await;
        assert_eq!(ok["valid"], true, "{ty}");
        // The asn1 (standard base64) reading of a JWS signature fails.
        let r = v
            .call(
                TOKEN,
                "POST",
                &format!("/v1/transit/verify/{name}"),
                Some(json!({"input": P, "signature": s["signature"]})),
            )
            .await;
        assert!(r.status == 400 || r.body["data"]["valid"] == false, "{ty}");
    }

    // Ed25519 signs the input whatever `prehashed`, as Vault does.
    let s = v
        .data(
            "POST",
            "/v1/transit/sign/ed",
            Some(json!({"input": P, "prehashed": true, "hash_algorithm": "sha2-256"})),
        )
        .await;
    let ok = v
        .data(
            "POST",
            "/v1/transit/verify/ed",
            Some(json!({"input": P, "signature": s["signature"]})),
        )
        .await;
    assert_eq!(ok["valid"], true);

    // RSA: prehashed SHA-256 (PKCS#1 v1.5) and PSS with a chosen salt
    // length, checked independently.
    let info = v
        .data(
            "POST",
            "/v1/transit/keys/rsa",
            Some(json!({"type": "rsa-2048"})),
        )
        .await;
    let public = public_key_bytes(&info);
    let d = digest::digest(&digest::SHA256, msg);
    let s = v
        .data(
            "POST",
            "/v1/transit/sign/rsa",
            Some(
                json!({"input": STANDARD.encode(d.as_ref()), "prehashed": true,
                        "hash_algorithm": "sha2-256", "signature_algorithm": "pkcs1v15"}),
            ),
        )
        .await;
    signature::RSA_PKCS1_2048_8192_SHA256
        .verify_sig(&public, msg, &sig_bytes(&s["signature"], &STANDARD))
        .unwrap();
    let s = v
        .data(
            "POST",
            "/v1/transit/sign/rsa",
            Some(json!({"input": P, "salt_length": 20})),
        )
        .await;
    signature::RSA_PSS_2048_8192_SHA256
        .with_pss_salt_length(RsaPssSaltLength::Custom(20))
        .verify_sig(&public, msg, &sig_bytes(&s["signature"], &STANDARD))
        .unwrap();
    let ok = v
        .data(
            "POST",
            "/v1/transit/verify/rsa",
            Some(json!({"input": P, "salt_length": "20", "signature": s["signature"]})),
        )
        .await;
    assert_eq!(ok["valid"], true);

    // Refused with a reason: a salt longer than the key allows, `none`
    // without prehashed PKCS#1 v1.5, a hash Vault does not take. (SHA-224
    // and SHA-3 sign: `hashes::`, checked by OpenSSL.)
    for body in [
        json!({"input": P, "salt_length": 300}),
        json!({"input": P, "hash_algorithm": "none"}),
        json!({"input": P, "hash_algorithm": "md5"}),
    ] {
        let e = v
            .expect("POST", "/v1/transit/sign/rsa", Some(body.clone()), 400)
            .await;
        assert!(!e["errors"][0].as_str().unwrap().is_empty(), "{body}");
    }

    // A failed batch item answers key_version 0, as Vault's does.
    let b = v
        .data(
            "POST",
            "/v1/transit/sign/ed",
            Some(json!({"batch_input": [{"input": P}, {"input": "!!"}]})),
        )
        .await;
    assert_eq!(b["batch_results"][0]["key_version"], 1);
    assert_eq!(b["batch_results"][1]["key_version"], 0);
    assert!(b["batch_results"][1]["error"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_rotate_on_their_auto_rotate_period() {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    let server = Server::try_start(&["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("server did not start: {r:?}"));
    let v = Vault { server };

    // Vault's durations (or seconds); 0 or at least an hour.
    let k = v
        .data(
            "POST",
            "/v1/transit/keys/rot",
            Some(json!({"auto_rotate_period": "1h", "allow_plaintext_backup": true, "exportable": true})),
        )
        .await;
    assert_eq!(k["auto_rotate_period"], 3600);
    for bad in [json!("30m"), json!(59), json!("soon")] {
        v.expect(
            "POST",
            "/v1/transit/keys/rot/config",
            Some(json!({"auto_rotate_period": bad})),
            400,
        )
        .await;
    }
    let k = v
        .data(
            "POST",
            "/v1/transit/keys/rot/config",
            Some(json!({"auto_rotate_period": "24h"})),
        )
        .await;
    assert_eq!(k["auto_rotate_period"], 86400);
    assert_eq!(k["latest_version"], 1);

    // A key whose latest version is older than its period (a backup with
    // the version's creation time moved back two days) rotates within a
    // round of the background check; a fresh one does not.
    let backup = v.data("GET", "/v1/transit/backup/rot", None).await["backup"]
        .as_str()
        .unwrap()
        .to_string();
    let mut record: Value = serde_json::from_slice(&STANDARD.decode(backup).unwrap()).unwrap();
    let created = record["versions"]["1"]["created"].as_i64().unwrap();
    record["versions"]["1"]["created"] = json!(created - 2 * 86400);
    record["name"] = json!("old");
    let old = STANDARD.encode(serde_json::to_vec(&record).unwrap());
    v.expect(
        "POST",
        "/v1/transit/restore/old",
        Some(json!({"backup": old})),
        204,
    )
    .await;
    let mut latest = 1;
    for _ in 0..40 {
        latest = v.data("GET", "/v1/transit/keys/old", None).await["latest_version"]
            .as_u64()
            .unwrap();
        if latest > 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(latest, 2, "the overdue key was not rotated");
    // Rotated once: the new version is fresh.
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    assert_eq!(
        v.data("GET", "/v1/transit/keys/old", None).await["latest_version"],
        2
    );
    assert_eq!(
        v.data("GET", "/v1/transit/keys/rot", None).await["latest_version"],
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn policies_take_json_and_parameter_constraints() {
    let server = Server::try_start(&["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("server did not start: {r:?}"));
    let v = Vault { server };
    let json_policy = json!({"path": {
        "transit/keys": {"capabilities": ["list"]},
        "transit/keys/*": {
            "capabilities": ["create", "update", "read"],
            "allowed_parameters": {"type": ["ed25519"], "exportable": []},
        },
        "transit/encrypt/*": {
            "capabilities": ["update"],
            "required_parameters": ["plaintext"],
            "denied_parameters": {"key_version": []},
        },
    }})
    .to_string();
    v.expect(
        "POST",
        "/v1/sys/policies/acl/p-json",
        Some(json!({ "policy": json_policy })),
        204,
    )
    .await;
    // Read back in Vault's two shapes.
    let acl = v.data("GET", "/v1/sys/policies/acl/p-json", None).await;
    assert_eq!(acl["policy"], json_policy.as_str());
    assert_eq!(acl["version"], 1);
    assert!(acl["modified"].is_string() && acl.get("rules").is_none());
    let old = v.expect("GET", "/v1/sys/policy/p-json", None, 200).await;
    assert_eq!(old["rules"], json_policy.as_str());
    assert_eq!(old["data"]["rules"], json_policy.as_str());
    assert!(old["data"].get("policy").is_none());
    let listed = v.expect("LIST", "/v1/sys/policies/acl", None, 200).await;
    assert!(listed.get("keys").is_none());
    assert!(listed["data"]["keys"]
        .as_array()
        .unwrap()
        .contains(&json!("p-json")));
    // Malformed constraints are refused, with the reason.
    let e = v
        .expect(
            "POST",
            "/v1/sys/policy/p-bad",
            Some(json!({"policy": "path \"a\" {\n capabilities = [\"read\"]\n allowed_parameters = [\"x\"]\n}"})),
            400,
        )
        .await;
    assert!(e["errors"][0]
        .as_str()
        .unwrap()
        .contains("allowed_parameters"));

    let tok = v
        .expect(
            "POST",
            "/v1/auth/token/create",
            Some(json!({"policies": ["p-json"], "ttl": "1h"})),
            200,
        )
        .await["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let as_tok = |path: &'static str, body: Value| {
        let v = &v;
        let tok = tok.clone();
        async move { v.call(&tok, "POST", path, Some(body)).await.status }
    };
    // allowed_parameters: only ed25519 keys, `exportable` any value, nothing else.
    assert_eq!(
        as_tok("/v1/transit/keys/ok", json!({"type": "ed25519"})).await,
        200
    );
    assert_eq!(
        as_tok(
            "/v1/transit/keys/ok2",
            json!({"type": "ed25519", "exportable": true})
        )
        .await,
        200
    );
    assert_eq!(
        as_tok("/v1/transit/keys/no", json!({"type": "aes256-gcm96"})).await,
        403
    );
    assert_eq!(
        as_tok(
            "/v1/transit/keys/no",
            json!({"type": "ed25519", "derived": true})
        )
        .await,
        403
    );
    let r = v.call(&tok, "GET", "/v1/transit/keys/no", None).await;
    assert_eq!(r.status, 404, "refused requests changed nothing");
    // required and denied parameters.
    v.data("POST", "/v1/transit/keys/enc", Some(json!({})))
        .await;
    assert_eq!(
        as_tok("/v1/transit/encrypt/enc", json!({"plaintext": P})).await,
        200
    );
    assert_eq!(
        as_tok("/v1/transit/encrypt/enc", json!({"context": P})).await,
        403
    );
    assert_eq!(
        as_tok(
            "/v1/transit/encrypt/enc",
            json!({"plaintext": P, "key_version": 1})
        )
        .await,
        403
    );
    // LIST on `transit/keys/` is decided by the rule for `transit/keys`.
    let r = v.call(&tok, "LIST", "/v1/transit/keys", None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
}

/// Derived and convergent keys as Vault makes them (HKDF-SHA256 of the
/// version's key with the request's `context`; convergent nonces from an
/// HMAC of the plaintext), through encrypt, decrypt, rewrap, datakey,
/// batches and upsert.
#[tokio::test(flavor = "multi_thread")]
async fn derived_and_convergent_keys_answer_as_vault() {
    let server = Server::try_start(&["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("server did not start: {r:?}"));
    let v = Vault { server };
    let (c1, c2) = ("Y29udGV4dC1vbmU=", "Y29udGV4dC10d28="); // context-one, -two
    let missing = "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key";

    let info = v
        .data(
            "POST",
            "/v1/transit/keys/der",
            Some(json!({"derived": true})),
        )
        .await;
    assert_eq!(info["derived"], true);
    assert_eq!(info["kdf"], "hkdf_sha256");
    assert_eq!(info["convergent_encryption"], false);
    assert!(info.get("convergent_encryption_version").is_none());
    assert_eq!(info["supports_derivation"], true);

    // Two contexts, two keys: each ciphertext decrypts under its own only.
    let enc = |ctx: &str| json!({"plaintext": P, "context": ctx});
    let a = v
        .data("POST", "/v1/transit/encrypt/der", Some(enc(c1)))
        .await["ciphertext"]
        .clone();
    let b = v
        .data("POST", "/v1/transit/encrypt/der", Some(enc(c2)))
        .await["ciphertext"]
        .clone();
    assert_ne!(a, b);
    assert!(a.as_str().unwrap().starts_with("vault:v1:"));
    let dec = |ct: &Value, ctx: &str| json!({"ciphertext": ct, "context": ctx});
    let back = v
        .data("POST", "/v1/transit/decrypt/der", Some(dec(&a, c1)))
        .await;
    assert_eq!(back["plaintext"], P);
    let r = v
        .expect("POST", "/v1/transit/decrypt/der", Some(dec(&a, c2)), 400)
        .await;
    assert!(
        r["errors"][0]
            .as_str()
            .unwrap()
            .contains("authentication failed"),
        "{r}"
    );
    // No context: Vault's words, on encrypt, decrypt, rewrap and datakey.
    for (path, body) in [
        ("/v1/transit/encrypt/der", json!({"plaintext": P})),
        ("/v1/transit/decrypt/der", json!({"ciphertext": a})),
        ("/v1/transit/rewrap/der", json!({"ciphertext": a})),
        ("/v1/transit/datakey/plaintext/der", json!({})),
    ] {
        let r = v.expect("POST", path, Some(body), 400).await;
        assert_eq!(r["errors"][0], missing, "{path}");
    }
    // A nonce is not the caller's to give on a derived key; a bad context is a 400.
    let r = v
        .expect(
            "POST",
            "/v1/transit/encrypt/der",
            Some(json!({"plaintext": P, "context": c1, "nonce": "AAAAAAAAAAAAAAAA"})),
            400,
        )
        .await;
    assert_eq!(r["errors"][0], "nonce provided when not allowed");
    v.expect(
        "POST",
        "/v1/transit/encrypt/der",
        Some(json!({"plaintext": P, "context": "%%"})),
        400,
    )
    .await;
    // Not convergent: the same input encrypts differently each time.
    let a2 = v
        .data("POST", "/v1/transit/encrypt/der", Some(enc(c1)))
        .await["ciphertext"]
        .clone();
    assert_ne!(a, a2);

    // Rewrap after a rotation keeps the context.
    v.expect("POST", "/v1/transit/keys/der/rotate", None, 200)
        .await;
    let w = v
        .data("POST", "/v1/transit/rewrap/der", Some(dec(&a, c1)))
        .await["ciphertext"]
        .clone();
    assert!(w.as_str().unwrap().starts_with("vault:v2:"), "{w}");
    let back = v
        .data("POST", "/v1/transit/decrypt/der", Some(dec(&w, c1)))
        .await;
    assert_eq!(back["plaintext"], P);
    v.expect("POST", "/v1/transit/decrypt/der", Some(dec(&w, c2)), 400)
        .await;

    // A data key under a context decrypts to its plaintext under it only.
    let dk = v
        .data(
            "POST",
            "/v1/transit/datakey/plaintext/der",
            Some(json!({"context": c2})),
        )
        .await;
    let back = v
        .data(
            "POST",
            "/v1/transit/decrypt/der",
            Some(dec(&dk["ciphertext"], c2)),
        )
        .await;
    assert_eq!(back["plaintext"], dk["plaintext"]);
    v.expect(
        "POST",
        "/v1/transit/decrypt/der",
        Some(dec(&dk["ciphertext"], c1)),
        400,
    )
    .await;

    // Batches: a context per item; an item without one fails alone.
    let batch = v
        .expect(
            "POST",
            "/v1/transit/encrypt/der",
            Some(json!({"batch_input": [enc(c1), {"plaintext": P}, enc(c2)]})),
            400,
        )
        .await;
    let items = batch["data"]["batch_results"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{batch}");
    assert_eq!(items[1]["error"], missing);
    let back = v
        .data(
            "POST",
            "/v1/transit/decrypt/der",
            Some(dec(&items[2]["ciphertext"], c2)),
        )
        .await;
    assert_eq!(back["plaintext"], P);

    // Convergent: equal plaintext and context, equal ciphertexts.
    v.expect(
        "POST",
        "/v1/transit/keys/conv",
        Some(json!({"convergent_encryption": true})),
        400,
    )
    .await;
    let info = v
        .data(
            "POST",
            "/v1/transit/keys/conv",
            Some(json!({"derived": true, "convergent_encryption": true, "type": "chacha20-poly1305"})),
        )
        .await;
    assert_eq!(info["convergent_encryption"], true);
    assert_eq!(info["convergent_encryption_version"], -1);
    let x = v
        .data("POST", "/v1/transit/encrypt/conv", Some(enc(c1)))
        .await["ciphertext"]
        .clone();
    let y = v
        .data("POST", "/v1/transit/encrypt/conv", Some(enc(c1)))
        .await["ciphertext"]
        .clone();
    let z = v
        .data("POST", "/v1/transit/encrypt/conv", Some(enc(c2)))
        .await["ciphertext"]
        .clone();
    assert_eq!(x, y);
    assert_ne!(x, z);
    let other = v
        .data(
            "POST",
            "/v1/transit/encrypt/conv",
            Some(json!({"plaintext": "b3RoZXI=", "context": c1})),
        )
        .await["ciphertext"]
        .clone();
    assert_ne!(x, other);
    let back = v
        .data("POST", "/v1/transit/decrypt/conv", Some(dec(&x, c1)))
        .await;
    assert_eq!(back["plaintext"], P);

    // Key types Vault does not derive are refused, and nothing is made.
    v.expect(
        "POST",
        "/v1/transit/keys/sig",
        Some(json!({"type": "ecdsa-p256", "derived": true})),
        400,
    )
    .await;
    v.expect("GET", "/v1/transit/keys/sig", None, 404).await;

    // Upsert with a context makes a derived key, as Vault's encrypt does.
    let u = v
        .data(
            "POST",
            "/v1/transit/encrypt/up",
            Some(json!({"plaintext": P, "context": c1, "convergent_encryption": true})),
        )
        .await["ciphertext"]
        .clone();
    let info = v.data("GET", "/v1/transit/keys/up", None).await;
    assert_eq!(info["derived"], true);
    assert_eq!(info["convergent_encryption"], true);
    let u2 = v
        .data("POST", "/v1/transit/encrypt/up", Some(enc(c1)))
        .await["ciphertext"]
        .clone();
    assert_eq!(u, u2);

    // A plain key ignores a context, as Vault does.
    v.expect("POST", "/v1/transit/keys/plain", None, 200).await;
    let p = v
        .data("POST", "/v1/transit/encrypt/plain", Some(enc(c1)))
        .await["ciphertext"]
        .clone();
    let back = v
        .data(
            "POST",
            "/v1/transit/decrypt/plain",
            Some(json!({"ciphertext": p})),
        )
        .await;
    assert_eq!(back["plaintext"], P);
}

/// A token the root chooses with `id` (Vault's semantics: the id is the
/// token), within minikms's rules: root only, 12 to 128 printable
/// characters without spaces or '.', never a duplicate.
#[tokio::test(flavor = "multi_thread")]
async fn root_chooses_a_token_id() {
    let server = Server::try_start(&["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("server did not start: {r:?}"));
    let v = Vault { server };
    let id = "my-own-token-id";
    let made = v
        .expect(
            "POST",
            "/v1/auth/token/create",
            Some(json!({"id": id, "policies": ["default"]})),
            200,
        )
        .await;
    assert_eq!(made["auth"]["client_token"], id);
    assert!(made["warnings"][0].as_str().unwrap().contains("custom ID"));
    let accessor = made["auth"]["accessor"].as_str().unwrap().to_string();
    let me = v.call(id, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!(me.status, 200, "the chosen id is the token");
    assert_eq!(me.body["data"]["accessor"], accessor.as_str());
    let list = v.data("LIST", "/v1/auth/token/accessors", None).await;
    assert!(list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == accessor.as_str()));
    // Twice, or the root token's own: refused, nothing changed.
    let r = v
        .expect(
            "POST",
            "/v1/auth/token/create",
            Some(json!({"id": id})),
            400,
        )
        .await;
    assert_eq!(r["errors"][0], "cannot create a token with a duplicate ID");
    v.expect(
        "POST",
        "/v1/auth/token/create",
        Some(json!({"id": TOKEN})),
        400,
    )
    .await;
    let again = v.data("LIST", "/v1/auth/token/accessors", None).await;
    assert_eq!(
        again["keys"].as_array().unwrap().len(),
        list["keys"].as_array().unwrap().len()
    );
    // Only the root chooses.
    let tok = v
        .expect(
            "POST",
            "/v1/auth/token/create",
            Some(json!({"policies": ["default"]})),
            200,
        )
        .await["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = v
        .call(
            &tok,
            "POST",
            "/v1/auth/token/create",
            Some(json!({"id": "another-chosen-id"})),
        )
        .await;
    assert!(r.status == 400 || r.status == 403, "{}", r.status);
    assert_eq!(
        v.call(
            "another-chosen-id",
            "GET",
            "/v1/auth/token/lookup-self",
            None
        )
        .await
        .status,
        403
    );
    // Revoked, it is a token no more.
    v.expect(
        "POST",
        "/v1/auth/token/revoke",
        Some(json!({"token": id})),
        204,
    )
    .await;
    assert_eq!(
        v.call(id, "GET", "/v1/auth/token/lookup-self", None)
            .await
            .status,
        403
    );
}

/// Issue 37, areas 3 and 4: batches with a failed item answer in Vault's
/// shape, `partial_failure_response_code` is honoured, and the
/// parameters a route does not know are named in Vault's warning.
#[tokio::test(flavor = "multi_thread")]
async fn batches_and_warnings_answer_as_vault() {
    let server = Server::try_start(&["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("server did not start: {r:?}"));
    let v = Vault { server };
    v.data("POST", "/v1/transit/keys/b", Some(json!({}))).await;
    let half = json!([{"plaintext": P}, {"plaintext": "%%%"}]);

    // Some items failed, others did not: the code asked for.
    let r = v
        .expect(
            "POST",
            "/v1/transit/encrypt/b",
            Some(json!({"batch_input": half, "partial_failure_response_code": 207})),
            207,
        )
        .await;
    let ct = r["data"]["batch_results"][0]["ciphertext"].clone();
    assert!(r["data"]["batch_results"][1]["error"].is_string());
    assert!(r["warnings"].is_null());
    // A code out of 1..599: the usual 400, with Vault's warning.
    let r = v
        .expect(
            "POST",
            "/v1/transit/encrypt/b",
            Some(json!({"batch_input": half, "partial_failure_response_code": 0})),
            400,
        )
        .await;
    assert_eq!(
        r["warnings"],
        json!(["invalid HTTP response code override from partial_failure_response_code, reverting to 400"])
    );
    // Every item failed: no override.
    v.expect(
        "POST",
        "/v1/transit/encrypt/b",
        Some(json!({"batch_input": [{"plaintext": "%%%"}], "partial_failure_response_code": 207})),
        400,
    )
    .await;
    // Decrypt too; a failed item answers `plaintext: ""` beside its error.
    let r = v
        .expect(
            "POST",
            "/v1/transit/decrypt/b",
            Some(json!({"batch_input": [{"ciphertext": ct}, {"ciphertext": "garbage", "reference": "x"}],
                        "partial_failure_response_code": 299})),
            299,
        )
        .await;
    let results = &r["data"]["batch_results"];
    assert_eq!(results[0]["plaintext"], P);
    assert_eq!(results[1]["plaintext"], "");
    assert_eq!(results[1]["reference"], "x");
    assert!(results[1]["error"].is_string());
    // Not a number: a 400 that says so.
    let r = v
        .call(
            TOKEN,
            "POST",
            "/v1/transit/encrypt/b",
            Some(json!({"batch_input": half, "partial_failure_response_code": "many"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["errors"][0],
        "partial_failure_response_code must be an integer"
    );

    // Verify batches: `valid` on every item, false on a failed one.
    v.data(
        "POST",
        "/v1/transit/keys/ed",
        Some(json!({"type": "ed25519"})),
    )
    .await;
    let s = v
        .data("POST", "/v1/transit/sign/ed", Some(json!({"input": P})))
        .await;
    let b = v
        .data(
            "POST",
            "/v1/transit/verify/ed",
            Some(json!({"batch_input": [
                {"input": P, "signature": s["signature"], "reference": "a"},
                {"input": "!!", "signature": s["signature"]},
            ]})),
        )
        .await;
    let results = &b["batch_results"];
    assert_eq!(results[0], json!({"valid": true, "reference": "a"}));
    assert_eq!(results[1]["valid"], false);
    assert_eq!(results[1]["reference"], "");
    assert!(results[1]["error"].is_string());

    // Unknown parameters: named in Vault's warning, on every route.
    let ignored = |names: &str| {
        json!([format!(
            "Endpoint ignored these unrecognized parameters: [{names}]"
        )])
    };
    for (path, body, names) in [
        (
            "/v1/transit/encrypt/b",
            json!({"plaintext": P, "zz": 1, "nonce": ""}),
            "nonce zz",
        ),
        (
            "/v1/transit/sign/ed",
            json!({"input": P, "reference": "r"}),
            "reference",
        ),
        (
            "/v1/transit/hmac/b",
            json!({"input": P, "context": ""}),
            "context",
        ),
        ("/v1/transit/keys/b/rotate", json!({"zz": 1}), "zz"),
        (
            "/v1/transit/keys/b/config",
            json!({"deletion_allowed": false, "zz": 1}),
            "zz",
        ),
        ("/v1/transit/hash", json!({"input": P, "zz": 1}), "zz"),
        ("/v1/transit/random", json!({"zz": 1}), "zz"),
    ] {
        let r = v.expect("POST", path, Some(body), 200).await;
        assert_eq!(r["warnings"], ignored(names), "{path}");
    }
    // Known parameters only: no warning.
    let r = v
        .expect(
            "POST",
            "/v1/transit/encrypt/b",
            Some(json!({"plaintext": P, "key_version": 0})),
            200,
        )
        .await;
    assert!(r["warnings"].is_null());
}
