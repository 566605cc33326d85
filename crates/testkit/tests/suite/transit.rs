//! The Vault-Transit-compatible API and its sealed store, end to end: the
//! real host and enclave, real TLS 1.3, real restarts and crashes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use base64::Engine;
use minikms_testkit::{copy_dir, https, walk, Server};
use serde_json::{json, Value};

const TOKEN: &str = "s.test-root-token";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn b64(data: &[u8]) -> String {
    B64.encode(data)
}

fn unb64(s: &Value) -> Vec<u8> {
    B64.decode(s.as_str().expect("a string")).expect("base64")
}

fn dev_server() -> Server {
    Server::try_start(&["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("server did not start: {r:?}"))
}

#[derive(Clone, Copy)]
struct Vault {
    addr: SocketAddr,
    token: &'static str,
}

impl Vault {
    fn new(server: &Server) -> Self {
        Self {
            addr: server.addr,
            token: TOKEN,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> https::Response {
        https::send_json(
            self.addr,
            method,
            path,
            &[("X-Vault-Token", self.token), ("X-Vault-Request", "true")],
            body.as_ref(),
        )
        .await
    }

    async fn post(&self, path: &str, body: Value) -> https::Response {
        self.call("POST", path, Some(body)).await
    }

    /// POST that must answer 200 in Vault's envelope; returns `data`.
    async fn ok(&self, path: &str, body: Value) -> Value {
        let r = self.post(path, body).await;
        assert_eq!(r.status, 200, "{path}: {}", String::from_utf8_lossy(&r.raw));
        assert_envelope(&r);
        r.body["data"].clone()
    }

    async fn read(&self, path: &str) -> Value {
        let r = self.call("GET", path, None).await;
        assert_eq!(r.status, 200, "{path}: {}", String::from_utf8_lossy(&r.raw));
        assert_envelope(&r);
        r.body["data"].clone()
    }

    /// A request that must fail with `status` and Vault's error shape.
    async fn fails(&self, method: &str, path: &str, body: Option<Value>, status: u16) -> String {
        let r = self.call(method, path, body).await;
        assert_eq!(
            r.status,
            status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.raw)
        );
        assert_eq!(r.content_type, "application/json", "{path}");
        let errors = r.body["errors"].as_array().expect("errors array");
        errors
            .first()
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    }
}

fn assert_envelope(r: &https::Response) {
    assert_eq!(r.content_type, "application/json");
    for field in [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "data",
        "wrap_info",
        "warnings",
        "auth",
    ] {
        assert!(r.body.get(field).is_some(), "no {field} in {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn init_and_tokens_guard_every_v1_route() {
    let server = Server::start();
    let addr = server.addr;
    let r = https::get(addr, "/v1/sys/init").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (200, json!({"initialized": false}))
    );

    // Before init no token is valid.
    let r = https::send_json(
        addr,
        "GET",
        "/v1/auth/token/lookup-self",
        &[("X-Vault-Token", "anything")],
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, json!({"errors": ["permission denied"]}));

    let r = https::send_json(
        addr,
        "PUT",
        "/v1/sys/init",
        &[],
        Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    let root = r.body["root_token"].as_str().unwrap().to_string();
    assert!(root.starts_with("hvs.") && root.len() > 40, "{root}");
    let again = https::send_json(addr, "PUT", "/v1/sys/init", &[], Some(&json!({}))).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.content_type, "application/json");
    assert_eq!(
        https::get(addr, "/v1/sys/init").await.body["initialized"],
        true
    );

    for headers in [
        vec![("X-Vault-Token", root.as_str())],
        vec![("Authorization", &*format!("Bearer {root}"))],
    ] {
        let r = https::send_json(addr, "GET", "/v1/auth/token/lookup-self", &headers, None).await;
        assert_eq!(r.status, 200);
        assert_envelope(&r);
        assert_eq!(r.body["data"]["policies"], json!(["root"]));
    }

    // Every /v1 route: no token, a wrong token -> 403, and nothing happens.
    let routes: &[(&str, &str)] = &[
        ("GET", "/v1/auth/token/lookup-self"),
        ("LIST", "/v1/transit/keys"),
        ("GET", "/v1/transit/keys?list=true"),
        ("POST", "/v1/transit/keys/k"),
        ("GET", "/v1/transit/keys/k"),
        ("DELETE", "/v1/transit/keys/k"),
        ("POST", "/v1/transit/keys/k/config"),
        ("POST", "/v1/transit/keys/k/rotate"),
        ("POST", "/v1/transit/keys/k/trim"),
        ("GET", "/v1/transit/export/encryption-key/k"),
        ("GET", "/v1/transit/export/encryption-key/k/1"),
        ("GET", "/v1/transit/backup/k"),
        ("POST", "/v1/transit/restore"),
        ("POST", "/v1/transit/restore/k"),
        ("POST", "/v1/transit/encrypt/k"),
        ("POST", "/v1/transit/decrypt/k"),
        ("POST", "/v1/transit/rewrap/k"),
        ("POST", "/v1/transit/datakey/plaintext/k"),
        ("POST", "/v1/transit/random"),
        ("POST", "/v1/transit/random/16"),
        ("POST", "/v1/transit/random/platform/16"),
        ("POST", "/v1/transit/hash"),
        ("POST", "/v1/transit/hash/sha2-512"),
        ("POST", "/v1/transit/hmac/k"),
        ("POST", "/v1/transit/hmac/k/sha2-512"),
        ("POST", "/v1/transit/sign/k"),
        ("POST", "/v1/transit/sign/k/sha2-256"),
        ("POST", "/v1/transit/verify/k"),
        ("POST", "/v1/transit/verify/k/sha2-256"),
    ];
    for (method, path) in routes {
        for headers in [
            vec![],
            vec![("X-Vault-Token", "hvs.wrong")],
            vec![("Authorization", "Bearer hvs.wrong")],
        ] {
            let r = https::send_json(addr, method, path, &headers, Some(&json!({}))).await;
            assert_eq!(r.status, 403, "{method} {path}");
            assert_eq!(r.content_type, "application/json");
            assert_eq!(r.body, json!({"errors": ["permission denied"]}));
        }
    }
    // The tutorial's routes stay open.
    assert_eq!(https::get(addr, "/").await.status, 200);
    assert_eq!(https::get(addr, "/generate-aes-key").await.status, 200);

    // The root token survives a restart; its plaintext is nowhere on disk.
    let (status, data_dir) = server.stop_keeping_data(libc::SIGTERM);
    assert!(status.success());
    assert_not_on_disk(data_dir.path(), root.as_bytes(), "root token");
    let server = Server::try_start_in(data_dir, &["--simulation"]).unwrap();
    let r = https::send_json(
        server.addr,
        "GET",
        "/v1/auth/token/lookup-self",
        &[("X-Vault-Token", root.as_str())],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn aes_keys_through_the_whole_transit_api() {
    let server = dev_server();
    let v = Vault::new(&server);

    // Create (nulls accepted, unknown fields ignored), read, list.
    let created = v
        .ok(
            "/v1/transit/keys/orders",
            json!({"type": null, "exportable": null, "some_future_field": 1}),
        )
        .await;
    assert_eq!(created["type"], "aes256-gcm96");
    assert_eq!(created["latest_version"], 1);
    let info = v.read("/v1/transit/keys/orders").await;
    assert_eq!(info["name"], "orders");
    assert_eq!(info["deletion_allowed"], false);
    assert_eq!(info["exportable"], false);
    assert_eq!(info["min_decryption_version"], 1);
    assert_eq!(info["supports_encryption"], true);
    assert!(info["keys"]["1"].is_number());
    v.ok("/v1/transit/keys/other", json!({})).await;
    for (method, path) in [
        ("LIST", "/v1/transit/keys"),
        ("GET", "/v1/transit/keys?list=true"),
    ] {
        let r = v.call(method, path, None).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["data"]["keys"], json!(["orders", "other"]));
    }
    // Creating an existing key changes nothing.
    let again = v
        .ok("/v1/transit/keys/orders", json!({"type": "ed25519"}))
        .await;
    assert_eq!(again["type"], "aes256-gcm96");

    // Encrypt / decrypt, with and without associated data.
    let secret = b"attack at dawn";
    let e = v
        .ok(
            "/v1/transit/encrypt/orders",
            json!({"plaintext": b64(secret), "associated_data": null, "context": null}),
        )
        .await;
    let c1 = e["ciphertext"].as_str().unwrap().to_string();
    assert!(c1.starts_with("vault:v1:"), "{c1}");
    assert_eq!(e["key_version"], 1);
    // nonce (12) || ciphertext || tag (16)
    assert_eq!(
        unb64(&json!(c1["vault:v1:".len()..])).len(),
        12 + secret.len() + 16
    );
    let d = v
        .ok("/v1/transit/decrypt/orders", json!({"ciphertext": c1}))
        .await;
    assert_eq!(unb64(&d["plaintext"]), secret);
    let aad = b64(b"order 17");
    let ea = v
        .ok(
            "/v1/transit/encrypt/orders",
            json!({"plaintext": b64(secret), "associated_data": aad}),
        )
        .await;
    let ca = ea["ciphertext"].as_str().unwrap().to_string();
    let d = v
        .ok(
            "/v1/transit/decrypt/orders",
            json!({"ciphertext": ca, "associated_data": aad}),
        )
        .await;
    assert_eq!(unb64(&d["plaintext"]), secret);
    v.fails(
        "POST",
        "/v1/transit/decrypt/orders",
        Some(json!({"ciphertext": ca, "associated_data": b64(b"order 18")})),
        400,
    )
    .await;
    v.fails(
        "POST",
        "/v1/transit/decrypt/orders",
        Some(json!({"ciphertext": ca})),
        400,
    )
    .await;
    // Empty plaintext is fine.
    let e0 = v
        .ok("/v1/transit/encrypt/orders", json!({"plaintext": ""}))
        .await;
    let d0 = v
        .ok(
            "/v1/transit/decrypt/orders",
            json!({"ciphertext": e0["ciphertext"]}),
        )
        .await;
    assert_eq!(d0["plaintext"], "");

    // Batches, with references echoed and per-item errors.
    let items: Vec<Value> = (0..5)
        .map(|i| json!({"plaintext": b64(format!("item {i}").as_bytes()), "reference": format!("r{i}")}))
        .collect();
    let eb = v
        .ok("/v1/transit/encrypt/orders", json!({"batch_input": items}))
        .await;
    let results = eb["batch_results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(results[3]["reference"], "r3");
    let dec_items: Vec<Value> = results
        .iter()
        .map(|r| json!({"ciphertext": r["ciphertext"]}))
        .collect();
    let db = v
        .ok(
            "/v1/transit/decrypt/orders",
            json!({"batch_input": dec_items}),
        )
        .await;
    for (i, r) in db["batch_results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(unb64(&r["plaintext"]), format!("item {i}").as_bytes());
    }
    let mixed = v
        .post(
            "/v1/transit/decrypt/orders",
            json!({"batch_input": [{"ciphertext": c1}, {"ciphertext": "vault:v1:!!!"}]}),
        )
        .await;
    assert_eq!(mixed.status, 400);
    assert_eq!(mixed.content_type, "application/json");
    let res = &mixed.body["data"]["batch_results"];
    assert_eq!(unb64(&res[0]["plaintext"]), secret);
    assert!(res[1]["error"].as_str().unwrap().contains("base64"));

    // Rotate, rewrap, min_decryption_version.
    let rotated = v.ok("/v1/transit/keys/orders/rotate", json!({})).await;
    assert_eq!(rotated["latest_version"], 2);
    let e2 = v
        .ok(
            "/v1/transit/encrypt/orders",
            json!({"plaintext": b64(secret)}),
        )
        .await;
    assert!(e2["ciphertext"].as_str().unwrap().starts_with("vault:v2:"));
    let e_old = v
        .ok(
            "/v1/transit/encrypt/orders",
            json!({"plaintext": b64(secret), "key_version": 1}),
        )
        .await;
    assert!(e_old["ciphertext"]
        .as_str()
        .unwrap()
        .starts_with("vault:v1:"));
    let rw = v
        .ok("/v1/transit/rewrap/orders", json!({"ciphertext": c1}))
        .await;
    let c1v2 = rw["ciphertext"].as_str().unwrap().to_string();
    assert!(c1v2.starts_with("vault:v2:"));
    assert_eq!(
        unb64(
            &v.ok("/v1/transit/decrypt/orders", json!({"ciphertext": c1v2}))
                .await["plaintext"]
        ),
        secret
    );
    let cfg = v
        .ok(
            "/v1/transit/keys/orders/config",
            json!({"min_decryption_version": 2}),
        )
        .await;
    assert_eq!(cfg["min_decryption_version"], 2);
    let msg = v
        .fails(
            "POST",
            "/v1/transit/decrypt/orders",
            Some(json!({"ciphertext": c1})),
            400,
        )
        .await;
    assert!(msg.contains("too old"), "{msg}");
    v.ok("/v1/transit/decrypt/orders", json!({"ciphertext": c1v2}))
        .await;
    // min_decryption_version above the latest version: refused.
    v.fails(
        "POST",
        "/v1/transit/keys/orders/config",
        Some(json!({"min_decryption_version": 3})),
        400,
    )
    .await;
    // Trim version 1 away.
    let trimmed = v
        .ok(
            "/v1/transit/keys/orders/trim",
            json!({"min_available_version": 2}),
        )
        .await;
    assert_eq!(trimmed["min_available_version"], 2);
    assert!(trimmed["keys"].get("1").is_none());

    // Data keys.
    let dk = v
        .ok("/v1/transit/datakey/plaintext/orders", json!({}))
        .await;
    let plain_dk = unb64(&dk["plaintext"]);
    assert_eq!(plain_dk.len(), 32);
    let back = v
        .ok(
            "/v1/transit/decrypt/orders",
            json!({"ciphertext": dk["ciphertext"]}),
        )
        .await;
    assert_eq!(unb64(&back["plaintext"]), plain_dk);
    let wk = v
        .ok("/v1/transit/datakey/wrapped/orders", json!({"bits": 512}))
        .await;
    assert!(wk.get("plaintext").is_none());
    let back = v
        .ok(
            "/v1/transit/decrypt/orders",
            json!({"ciphertext": wk["ciphertext"]}),
        )
        .await;
    assert_eq!(unb64(&back["plaintext"]).len(), 64);

    // Random and hash.
    let r = v.ok("/v1/transit/random", json!({"bytes": 48})).await;
    assert_eq!(unb64(&r["random_bytes"]).len(), 48);
    let r = v
        .ok("/v1/transit/random/16", json!({"format": "hex"}))
        .await;
    assert_eq!(r["random_bytes"].as_str().unwrap().len(), 32);
    let r = v.ok("/v1/transit/random/platform/8", json!({})).await;
    assert_eq!(unb64(&r["random_bytes"]).len(), 8);
    let h = v
        .ok("/v1/transit/hash", json!({"input": b64(b"abc")}))
        .await;
    assert_eq!(
        h["sum"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let h = v
        .ok(
            "/v1/transit/hash/sha2-512",
            json!({"input": b64(b"abc"), "format": "base64"}),
        )
        .await;
    assert_eq!(unb64(&h["sum"]).len(), 64);

    // HMAC and its verification.
    let m = v
        .ok("/v1/transit/hmac/orders", json!({"input": b64(b"msg")}))
        .await;
    let mac = m["hmac"].as_str().unwrap().to_string();
    assert!(mac.starts_with("vault:v2:"));
    let ok = v
        .ok(
            "/v1/transit/verify/orders",
            json!({"input": b64(b"msg"), "hmac": mac}),
        )
        .await;
    assert_eq!(ok["valid"], true);
    let bad = v
        .ok(
            "/v1/transit/verify/orders",
            json!({"input": b64(b"msh"), "hmac": mac}),
        )
        .await;
    assert_eq!(bad["valid"], false);
    let m512 = v
        .ok(
            "/v1/transit/hmac/orders/sha2-512",
            json!({"input": b64(b"msg")}),
        )
        .await;
    assert_eq!(
        unb64(&json!(m512["hmac"].as_str().unwrap()["vault:v2:".len()..])).len(),
        64
    );

    // Export: refused unless exportable; then the key decrypts locally.
    v.fails("GET", "/v1/transit/export/encryption-key/orders", None, 400)
        .await;
    v.ok(
        "/v1/transit/keys/exp",
        json!({"exportable": true, "allow_plaintext_backup": true}),
    )
    .await;
    let ex = v.read("/v1/transit/export/encryption-key/exp").await;
    let key = unb64(&ex["keys"]["1"]);
    assert_eq!(key.len(), 32);
    let ct = v
        .ok(
            "/v1/transit/encrypt/exp",
            json!({"plaintext": b64(secret), "associated_data": aad}),
        )
        .await["ciphertext"]
        .as_str()
        .unwrap()
        .to_string();
    let mut raw = B64.decode(&ct["vault:v1:".len()..]).unwrap();
    let nonce: [u8; 12] = raw[..12].try_into().unwrap();
    let local = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
    let plain = local
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(b"order 17"),
            &mut raw[12..],
        )
        .unwrap();
    assert_eq!(plain, secret);

    // Backup and restore under a new name.
    let bk = v.read("/v1/transit/backup/exp").await;
    let r = v
        .post(
            "/v1/transit/restore/exp-copy",
            json!({"backup": bk["backup"]}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.raw));
    let d = v
        .ok(
            "/v1/transit/decrypt/exp-copy",
            json!({"ciphertext": ct, "associated_data": aad}),
        )
        .await;
    assert_eq!(unb64(&d["plaintext"]), secret);
    v.fails("GET", "/v1/transit/backup/orders", None, 400).await;
    v.fails(
        "POST",
        "/v1/transit/restore/exp-copy",
        Some(json!({"backup": bk["backup"]})),
        400,
    )
    .await;

    // Delete needs deletion_allowed.
    let msg = v.fails("DELETE", "/v1/transit/keys/other", None, 400).await;
    assert!(msg.contains("deletion is not allowed"), "{msg}");
    v.ok(
        "/v1/transit/keys/other/config",
        json!({"deletion_allowed": true}),
    )
    .await;
    let r = v.call("DELETE", "/v1/transit/keys/other", None).await;
    assert_eq!(r.status, 204);
    v.fails("GET", "/v1/transit/keys/other", None, 404).await;
    let r = v.call("LIST", "/v1/transit/keys", None).await;
    assert_eq!(r.body["data"]["keys"], json!(["exp", "exp-copy", "orders"]));
}

/// Restore holds a backup to the checks import makes on key material, and
/// bounds version numbers (before, a 1-byte HMAC key was restored, and a
/// `latest_version` of u64::MAX made every later ciphertext `vault:v0:`).
/// Asking for automatic rotation on create is refused, not dropped.
#[tokio::test(flavor = "multi_thread")]
async fn restore_checks_a_backup_as_import_checks_a_key() {
    let server = dev_server();
    let v = Vault::new(&server);
    let opts = json!({"exportable": true, "allow_plaintext_backup": true});
    let mut hmac_opts = opts.clone();
    hmac_opts["type"] = json!("hmac");
    v.ok("/v1/transit/keys/h", hmac_opts).await;
    v.ok("/v1/transit/keys/a", opts).await;
    let record = |backup: &Value| -> Value {
        serde_json::from_slice(&unb64(&backup["backup"])).expect("a backup is JSON")
    };
    let h = record(&v.read("/v1/transit/backup/h").await);
    let a = record(&v.read("/v1/transit/backup/a").await);

    let mut cases: Vec<(&str, Value)> = Vec::new();
    for secret in [json!([7]), json!([])] {
        let mut bad = h.clone();
        bad["versions"]["1"]["secret"] = secret;
        cases.push(("a short hmac key", bad));
    }
    let mut bad = a.clone();
    bad["versions"]["1"]["hmac_key"] = json!([1]);
    cases.push(("a 1-byte hmac_key", bad));
    let mut bad = a.clone();
    bad["versions"]["1"]["secret"] = json!(vec![0u8; 16]);
    cases.push(("an AES-128 key", bad));
    for n in [u64::MAX, 1 << 32] {
        let mut bad = a.clone();
        let version = bad["versions"]["1"].clone();
        bad["versions"] = json!({ n.to_string(): version });
        bad["latest_version"] = json!(n);
        cases.push(("a huge version", bad));
    }
    let mut bad = a.clone();
    bad["min_decryption_version"] = json!(5);
    cases.push(("a minimum version above the latest", bad));
    for (what, record) in cases {
        let backup = b64(&serde_json::to_vec(&record).unwrap());
        let msg = v
            .fails(
                "POST",
                "/v1/transit/restore/restored",
                Some(json!({ "backup": backup })),
                400,
            )
            .await;
        assert!(msg.starts_with("invalid backup"), "{what}: {msg}");
        v.fails("GET", "/v1/transit/keys/restored", None, 404).await;
    }

    // A sound backup still restores, and its key rotates to version 2.
    let backup = b64(&serde_json::to_vec(&a).unwrap());
    let r = v
        .post("/v1/transit/restore/restored", json!({ "backup": backup }))
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.raw));
    let info = v.ok("/v1/transit/keys/restored/rotate", json!({})).await;
    assert_eq!(info["latest_version"], 2);
    let ct = v
        .ok(
            "/v1/transit/encrypt/restored",
            json!({"plaintext": b64(b"x")}),
        )
        .await;
    assert!(ct["ciphertext"].as_str().unwrap().starts_with("vault:v2:"));

    let msg = v
        .fails(
            "POST",
            "/v1/transit/keys/rotating",
            Some(json!({"auto_rotate_period": 60})),
            400,
        )
        .await;
    assert!(msg.contains("at least an hour"), "{msg}");
    v.fails("GET", "/v1/transit/keys/rotating", None, 404).await;
}

/// The public key of version `n` from a key read, as DER.
fn public_der(info: &Value, n: &str) -> Vec<u8> {
    let pem_text = info["keys"][n]["public_key"].as_str().unwrap();
    pem::parse(pem_text).unwrap().contents().to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_and_rsa_keys_verify_independently() {
    let server = dev_server();
    let v = Vault::new(&server);
    let msg = b"the message to sign";

    // Ed25519: the public key is base64 of the 32 raw bytes.
    let info = v
        .ok("/v1/transit/keys/ed", json!({"type": "ed25519"}))
        .await;
    assert_eq!(info["supports_signing"], true);
    let pk = unb64(&info["keys"]["1"]["public_key"]);
    let s = v
        .ok("/v1/transit/sign/ed", json!({"input": b64(msg)}))
        .await;
    let sig = s["signature"].as_str().unwrap().to_string();
    let raw_sig = B64.decode(&sig["vault:v1:".len()..]).unwrap();
    UnparsedPublicKey::new(&signature::ED25519, &pk)
        .verify(msg, &raw_sig)
        .unwrap();
    let ok = v
        .ok(
            "/v1/transit/verify/ed",
            json!({"input": b64(msg), "signature": sig}),
        )
        .await;
    assert_eq!(ok["valid"], true);
    let no = v
        .ok(
            "/v1/transit/verify/ed",
            json!({"input": b64(b"other"), "signature": sig}),
        )
        .await;
    assert_eq!(no["valid"], false);

    // ECDSA P-256 (SHA-256) and P-384 (SHA-384), ASN.1 signatures.
    for (name, ty, hash, alg) in [
        (
            "p256",
            "ecdsa-p256",
            "sha2-256",
            &signature::ECDSA_P256_SHA256_ASN1,
        ),
        (
            "p384",
            "ecdsa-p384",
            "sha2-384",
            &signature::ECDSA_P384_SHA384_ASN1,
        ),
    ] {
        let info = v
            .ok(&format!("/v1/transit/keys/{name}"), json!({"type": ty}))
            .await;
        let spki = public_der(&info, "1");
        let s = v
            .ok(
                &format!("/v1/transit/sign/{name}/{hash}"),
                json!({"input": b64(msg)}),
            )
            .await;
        let sig = s["signature"].as_str().unwrap().to_string();
        let raw_sig = B64.decode(&sig["vault:v1:".len()..]).unwrap();
        // SubjectPublicKeyInfo -> the point (the last 65 or 97 bytes).
        let point_len = if ty == "ecdsa-p256" { 65 } else { 97 };
        let point = &spki[spki.len() - point_len..];
        UnparsedPublicKey::new(alg, point)
            .verify(msg, &raw_sig)
            .unwrap();
        let ok = v
            .ok(
                &format!("/v1/transit/verify/{name}"),
                json!({"input": b64(msg), "signature": sig, "hash_algorithm": hash}),
            )
            .await;
        assert_eq!(ok["valid"], true);
    }

    // RSA-2048: PSS (default) and PKCS#1 v1.5, OAEP encryption.
    let info = v
        .ok(
            "/v1/transit/keys/rsa",
            json!({"type": "rsa-2048", "exportable": true}),
        )
        .await;
    assert_eq!(info["supports_encryption"], true);
    let spki = public_der(&info, "1");
    let (_, parsed) = {
        use x509_parser::prelude::FromDer;
        x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki).expect("SPKI")
    };
    let rsa_pub = parsed.subject_public_key.data.to_vec();
    for (sig_alg, hash, params) in [
        ("pss", "sha2-256", &signature::RSA_PSS_2048_8192_SHA256),
        ("pss", "sha2-512", &signature::RSA_PSS_2048_8192_SHA512),
        (
            "pkcs1v15",
            "sha2-256",
            &signature::RSA_PKCS1_2048_8192_SHA256,
        ),
        (
            "pkcs1v15",
            "sha2-384",
            &signature::RSA_PKCS1_2048_8192_SHA384,
        ),
    ] {
        let s = v
            .ok(
                "/v1/transit/sign/rsa",
                json!({"input": b64(msg), "signature_algorithm": sig_alg, "hash_algorithm": hash}),
            )
            .await;
        let sig = s["signature"].as_str().unwrap().to_string();
        let raw_sig = B64.decode(&sig["vault:v1:".len()..]).unwrap();
        UnparsedPublicKey::new(params, &rsa_pub)
            .verify(msg, &raw_sig)
            .unwrap_or_else(|_| panic!("{sig_alg} {hash}"));
        let ok = v
            .ok(
                "/v1/transit/verify/rsa",
                json!({"input": b64(msg), "signature": sig, "signature_algorithm": sig_alg, "hash_algorithm": hash}),
            )
            .await;
        assert_eq!(ok["valid"], true);
    }
    let e = v
        .ok("/v1/transit/encrypt/rsa", json!({"plaintext": b64(msg)}))
        .await;
    let ct = e["ciphertext"].as_str().unwrap().to_string();
    assert_eq!(B64.decode(&ct["vault:v1:".len()..]).unwrap().len(), 256);
    let d = v
        .ok("/v1/transit/decrypt/rsa", json!({"ciphertext": ct}))
        .await;
    assert_eq!(unb64(&d["plaintext"]), msg);
    // The exported private key (PKCS#1, as Vault exports it) decrypts it
    // too (an independent OAEP).
    let ex = v.read("/v1/transit/export/encryption-key/rsa/1").await;
    let pkcs1 = pem::parse(ex["keys"]["1"].as_str().unwrap()).unwrap();
    assert_eq!(pkcs1.tag(), "RSA PRIVATE KEY");
    let pair = aws_lc_rs::rsa::KeyPair::from_der(pkcs1.contents()).unwrap();
    let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der = aws_lc_rs::encoding::AsDer::as_der(&pair).unwrap();
    let private = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref()).unwrap();
    let private = aws_lc_rs::rsa::OaepPrivateDecryptingKey::new(private).unwrap();
    let mut out = vec![0u8; private.min_output_size()];
    let plain = private
        .decrypt(
            &aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256,
            &B64.decode(&ct["vault:v1:".len()..]).unwrap(),
            &mut out,
            None,
        )
        .unwrap();
    assert_eq!(plain, msg);

    // Batch signing.
    let sb = v
        .ok(
            "/v1/transit/sign/ed",
            json!({"batch_input": [{"input": b64(b"a")}, {"input": b64(b"b")}]}),
        )
        .await;
    let sigs = sb["batch_results"].as_array().unwrap();
    assert_eq!(sigs.len(), 2);
    let vb = v
        .ok(
            "/v1/transit/verify/ed",
            json!({"batch_input": [
                {"input": b64(b"a"), "signature": sigs[0]["signature"]},
                {"input": b64(b"a"), "signature": sigs[1]["signature"]},
            ]}),
        )
        .await;
    assert_eq!(vb["batch_results"][0]["valid"], true);
    assert_eq!(vb["batch_results"][1]["valid"], false);

    // HMAC keys; export of the HMAC key.
    v.ok(
        "/v1/transit/keys/mac",
        json!({"type": "hmac", "key_size": 64, "exportable": true}),
    )
    .await;
    let m = v
        .ok("/v1/transit/hmac/mac", json!({"input": b64(msg)}))
        .await;
    let ex = v.read("/v1/transit/export/hmac-key/mac").await;
    let hkey = unb64(&ex["keys"]["1"]);
    assert_eq!(hkey.len(), 64);
    let expect = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &hkey),
        msg,
    );
    assert_eq!(
        m["hmac"].as_str().unwrap(),
        format!("vault:v1:{}", b64(expect.as_ref()))
    );

    // Wrong key type for the operation: 400.
    v.fails(
        "POST",
        "/v1/transit/encrypt/ed",
        Some(json!({"plaintext": b64(msg)})),
        400,
    )
    .await;
    v.fails(
        "POST",
        "/v1/transit/sign/mac",
        Some(json!({"input": b64(msg)})),
        400,
    )
    .await;
    // A hash Vault does not know.
    v.fails(
        "POST",
        "/v1/transit/sign/ed/md5",
        Some(json!({"input": b64(msg)})),
        400,
    )
    .await;
    // Public keys export without exportable; private ones not.
    let pubs = v.read("/v1/transit/export/public-key/p256").await;
    assert!(pubs["keys"]["1"]
        .as_str()
        .unwrap()
        .contains("BEGIN PUBLIC KEY"));
    v.fails("GET", "/v1/transit/export/signing-key/p256", None, 400)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_4xx_and_changes_nothing() {
    let server = dev_server();
    let v = Vault::new(&server);
    v.ok("/v1/transit/keys/k", json!({})).await;
    v.ok("/v1/transit/keys/ed", json!({"type": "ed25519"}))
        .await;
    let ct = v
        .ok("/v1/transit/encrypt/k", json!({"plaintext": b64(b"hello")}))
        .await["ciphertext"]
        .as_str()
        .unwrap()
        .to_string();
    let before = (
        v.read("/v1/transit/keys/k").await,
        v.call("LIST", "/v1/transit/keys", None).await.body["data"].clone(),
    );

    let body = &ct["vault:v1:".len()..];
    let mut flipped = B64.decode(body).unwrap();
    flipped[14] ^= 1;
    let truncated = B64.decode(body).unwrap()[..20].to_vec();
    let cases: Vec<(&str, &str, Value, u16)> = vec![
        (
            "POST",
            "/v1/transit/encrypt/nope",
            json!({"plaintext": "", "type": "ed25519"}),
            400,
        ),
        (
            "POST",
            "/v1/transit/decrypt/nope",
            json!({"ciphertext": ct}),
            400,
        ),
        ("GET", "/v1/transit/keys/nope", json!(null), 404),
        ("POST", "/v1/transit/keys/nope/rotate", json!({}), 400),
        ("POST", "/v1/transit/keys/nope/config", json!({}), 400),
        ("DELETE", "/v1/transit/keys/nope", json!(null), 400),
        (
            "POST",
            "/v1/transit/keys/bad",
            json!({"type": "aes512-gcm"}),
            400,
        ),
        ("POST", "/v1/transit/keys/bad%20name", json!({}), 400),
        (
            "POST",
            "/v1/transit/encrypt/k",
            json!({"plaintext": "not base64!"}),
            400,
        ),
        ("POST", "/v1/transit/encrypt/k", json!({}), 400),
        (
            "POST",
            "/v1/transit/decrypt/k",
            json!({"ciphertext": "vault:v1:***"}),
            400,
        ),
        (
            "POST",
            "/v1/transit/decrypt/k",
            json!({"ciphertext": "hello"}),
            400,
        ),
        (
            "POST",
            "/v1/transit/decrypt/k",
            json!({"ciphertext": "vault:v9:AAAA"}),
            400,
        ),
        (
            "POST",
            "/v1/transit/decrypt/k",
            json!({"ciphertext": format!("vault:v1:{}", b64(&flipped))}),
            400,
        ),
        (
            "POST",
            "/v1/transit/decrypt/k",
            json!({"ciphertext": format!("vault:v1:{}", b64(&truncated))}),
            400,
        ),
        (
            "POST",
            "/v1/transit/decrypt/k",
            json!({"ciphertext": "vault:v1:"}),
            400,
        ),
        (
            "POST",
            "/v1/transit/decrypt/k",
            json!({"ciphertext": ct, "associated_data": b64(b"x")}),
            400,
        ),
        (
            "POST",
            "/v1/transit/decrypt/k",
            json!({"ciphertext": ct, "associated_data": "%%"}),
            400,
        ),
        (
            "POST",
            "/v1/transit/decrypt/ed",
            json!({"ciphertext": ct}),
            400,
        ),
        (
            "POST",
            "/v1/transit/sign/k",
            json!({"input": b64(b"x")}),
            400,
        ),
        (
            "POST",
            "/v1/transit/verify/ed",
            json!({"input": b64(b"x"), "signature": "vault:v1:??"}),
            400,
        ),
        (
            "POST",
            "/v1/transit/encrypt/k",
            json!({"plaintext": b64(b"x"), "key_version": 7}),
            400,
        ),
        ("POST", "/v1/transit/datakey/other/k", json!({}), 400),
        (
            "POST",
            "/v1/transit/datakey/plaintext/k",
            json!({"bits": 0}),
            400,
        ),
        (
            "POST",
            "/v1/transit/encrypt/k",
            json!({"batch_input": []}),
            400,
        ),
        (
            "POST",
            "/v1/transit/datakey/plaintext/k",
            json!({"bits": 100}),
            400,
        ),
        (
            "POST",
            "/v1/transit/random",
            json!({"bytes": 1_000_000}),
            400,
        ),
        (
            "POST",
            "/v1/transit/random",
            json!({"format": "base32"}),
            400,
        ),
        (
            "POST",
            "/v1/transit/hash",
            json!({"input": b64(b"x"), "algorithm": "md5"}),
            400,
        ),
        (
            "POST",
            "/v1/transit/keys/k/config",
            json!({"min_decryption_version": 5}),
            400,
        ),
        (
            "POST",
            "/v1/transit/keys/k/config",
            json!({"min_decryption_version": "x"}),
            400,
        ),
        (
            "POST",
            "/v1/transit/keys/k/trim",
            json!({"min_available_version": 2}),
            400,
        ),
        (
            "POST",
            "/v1/transit/restore",
            json!({"backup": b64(b"{}")}),
            400,
        ),
        ("POST", "/v1/transit/restore", json!({"backup": "!!"}), 400),
        (
            "GET",
            "/v1/transit/export/encryption-key/k",
            json!(null),
            400,
        ),
        ("GET", "/v1/transit/export/bogus-key/k", json!(null), 400),
        ("DELETE", "/v1/transit/keys/k", json!(null), 400),
    ];
    for (method, path, body, status) in cases {
        let body = if body.is_null() { None } else { Some(body) };
        v.fails(method, path, body, status).await;
    }
    // Not JSON at all.
    let r = https::send_raw(
        v.addr,
        "POST",
        "/v1/transit/encrypt/k",
        &[("X-Vault-Token", TOKEN)],
        b"{plaintext:".to_vec(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.content_type, "application/json");
    // Oversized body: 413 over the documented limit (4 MiB by default).
    let big = json!({"plaintext": b64(&vec![0u8; 4 * 1024 * 1024])});
    let r = v.post("/v1/transit/encrypt/k", big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.content_type, "application/json");
    // Far larger than the socket buffers: the client, still sending when
    // the server decides, must get the 413 too, not a reset connection.
    let r = https::send_raw(
        v.addr,
        "POST",
        "/v1/transit/encrypt/k",
        &[("X-Vault-Token", TOKEN)],
        vec![b' '; 16 * 1024 * 1024],
    )
    .await;
    assert_eq!(r.status, 413);
    assert_eq!(
        r.body["errors"][0], "request body too large (limit 4194304 bytes)",
        "{:?}",
        r.raw
    );
    // Oversized batch: 400, documented limit 1000 items.
    let items: Vec<Value> = (0..1001).map(|_| json!({"plaintext": ""})).collect();
    let msg = v
        .fails(
            "POST",
            "/v1/transit/encrypt/k",
            Some(json!({"batch_input": items})),
            400,
        )
        .await;
    assert!(msg.contains("1000"), "{msg}");

    let after = (
        v.read("/v1/transit/keys/k").await,
        v.call("LIST", "/v1/transit/keys", None).await.body["data"].clone(),
    );
    assert_eq!(before, after);
    // Nothing secret reached the host's log.
    let log = server.stderr();
    assert!(!log.contains(TOKEN));
    assert!(!log.contains(&ct));
}

/// Fails if `needle` (or its base64) occurs in any file under `dir`.
fn assert_not_on_disk(dir: &std::path::Path, needle: &[u8], what: &str) {
    let encodings = [
        needle.to_vec(),
        B64.encode(needle).into_bytes(),
        hex::encode(needle).into_bytes(),
    ];
    for entry in walk(dir) {
        // The signed enclave is the public build, written before any key
        // exists (and 50+ MB: too slow to scan unoptimised).
        if entry
            .file_name()
            .is_some_and(|n| n == "minikms-enclave.signed")
        {
            continue;
        }
        let data = std::fs::read(&entry).unwrap();
        for e in &encodings {
            assert!(
                !minikms_testkit::contains(&data, e),
                "{what} found in {}",
                entry.display()
            );
        }
    }
}

/// The store file, wherever the host puts the enclave's data dir.
fn store_file(data_dir: &std::path::Path) -> std::path::PathBuf {
    walk(data_dir)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "keys.redb"))
        .expect("keys.redb in the data dir")
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_survive_restarts_and_never_reach_the_disk_in_plaintext() {
    let server = dev_server();
    let v = Vault::new(&server);
    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    let mut ciphertexts = Vec::new();
    for (name, ty, kind) in [
        ("aes", "aes256-gcm96", "encryption-key"),
        ("ed", "ed25519", "signing-key"),
        ("p256", "ecdsa-p256", "signing-key"),
        ("rsa", "rsa-2048", "signing-key"),
        ("mac", "hmac", "hmac-key"),
    ] {
        v.ok(
            &format!("/v1/transit/keys/{name}"),
            json!({"type": ty, "exportable": true}),
        )
        .await;
        v.ok(&format!("/v1/transit/keys/{name}/rotate"), json!({}))
            .await;
        for k in [kind, "hmac-key"] {
            let ex = v.read(&format!("/v1/transit/export/{k}/{name}")).await;
            for n in ["1", "2"] {
                let s = ex["keys"][n].as_str().unwrap();
                let bytes = if s.starts_with("-----BEGIN") {
                    pem::parse(s).unwrap().contents().to_vec()
                } else {
                    B64.decode(s).unwrap()
                };
                secrets.push((format!("{name} {k} v{n}"), bytes));
            }
        }
    }
    for i in 0..3 {
        let e = v
            .ok(
                "/v1/transit/encrypt/aes",
                json!({"plaintext": b64(format!("payload {i}").as_bytes())}),
            )
            .await;
        ciphertexts.push(e["ciphertext"].as_str().unwrap().to_string());
    }
    let info_before = v.read("/v1/transit/keys/rsa").await;

    let (status, data_dir) = server.stop_keeping_data(libc::SIGTERM);
    assert!(status.success());
    assert!(store_file(data_dir.path()).is_file());
    for (what, bytes) in &secrets {
        // Whole keys, and for long keys any 32-byte stretch of them.
        assert_not_on_disk(data_dir.path(), bytes, what);
        if bytes.len() > 64 {
            assert_not_on_disk(data_dir.path(), &bytes[bytes.len() - 40..], what);
        }
    }
    assert_not_on_disk(data_dir.path(), TOKEN.as_bytes(), "root token");

    let server = Server::try_start_in(data_dir, &["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("restart: {r:?}"));
    let v = Vault::new(&server);
    assert_eq!(v.read("/v1/transit/keys/rsa").await, info_before);
    for (i, c) in ciphertexts.iter().enumerate() {
        let d = v
            .ok("/v1/transit/decrypt/aes", json!({"ciphertext": c}))
            .await;
        assert_eq!(unb64(&d["plaintext"]), format!("payload {i}").as_bytes());
    }
    let r = v.call("LIST", "/v1/transit/keys", None).await;
    assert_eq!(
        r.body["data"]["keys"],
        json!(["aes", "ed", "mac", "p256", "rsa"])
    );

    // Another dev root token on an initialised store: refused at start.
    let (_, data_dir) = server.stop_keeping_data(libc::SIGTERM);
    let stderr = refused_start(data_dir.path(), "other-token", "another root token");
    assert!(stderr.contains("different root token"), "{stderr}");
    assert!(!stderr.contains("other-token"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_acknowledged_write_survives_kill_9() {
    let server = dev_server();
    let addr = server.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let v = Vault { addr, token: TOKEN };
            let mut acked = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let name = format!("w{w}-k{i}");
                i += 1;
                let path = format!("/v1/transit/keys/{name}");
                let token = v.token;
                let done = async move {
                    let body = json!({});
                    tokio::time::timeout(
                        std::time::Duration::from_secs(5),
                        https::send_json(
                            addr,
                            "POST",
                            &path,
                            &[("X-Vault-Token", token)],
                            Some(&body),
                        ),
                    )
                    .await
                };
                // A request cut off by the crash panics inside the helper
                // or times out: neither is an acknowledgement.
                match tokio::spawn(done).await {
                    Ok(Ok(r)) if r.status == 200 => acked.push(name),
                    Ok(Ok(r)) => panic!(
                        "unexpected {}: {}",
                        r.status,
                        String::from_utf8_lossy(&r.raw)
                    ),
                    _ => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let data_dir = server.crash();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(
        acked.len() >= 4,
        "too few writes before the crash: {}",
        acked.len()
    );
    eprintln!("{} keys acknowledged before kill -9", acked.len());

    let server = Server::try_start_in(data_dir, &["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("restart after kill -9: {r:?}"));
    let v = Vault::new(&server);
    let r = v.call("LIST", "/v1/transit/keys", None).await;
    let listed: std::collections::HashSet<String> = r.body["data"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    for name in &acked {
        assert!(listed.contains(name), "acknowledged key {name} lost");
    }
    // Every key there (acknowledged or not) is whole and usable.
    for name in &listed {
        let e = v
            .ok(
                &format!("/v1/transit/encrypt/{name}"),
                json!({"plaintext": b64(b"x")}),
            )
            .await;
        assert!(e["ciphertext"].as_str().unwrap().starts_with("vault:v1:"));
    }
}

/// Opens the store file as the host could and edits the `keys` table.
fn edit_keys_table(data_dir: &std::path::Path, edit: impl FnOnce(&mut redb::Table<&str, &[u8]>)) {
    let db = redb::Database::open(store_file(data_dir)).unwrap();
    let tx = db.begin_write().unwrap();
    {
        let mut t = tx
            .open_table(redb::TableDefinition::<&str, &[u8]>::new("keys"))
            .unwrap();
        edit(&mut t);
    }
    tx.commit().unwrap();
}

fn record(data_dir: &std::path::Path, name: &str) -> Vec<u8> {
    use redb::{ReadableDatabase as _, ReadableTable as _};
    let db = redb::Database::open(store_file(data_dir)).unwrap();
    let tx = db.begin_read().unwrap();
    let t = tx
        .open_table(redb::TableDefinition::<&str, &[u8]>::new("keys"))
        .unwrap();
    let v = t.get(name).unwrap().unwrap().value().to_vec();
    v
}

/// Starts kms-host on `data_dir` and checks that the enclave refuses the
/// store as tampered with. Output goes to files, so nothing waits on pipes.
fn assert_refuses(data_dir: tempfile::TempDir, what: &str) {
    let stderr = refused_start(data_dir.path(), TOKEN, what);
    assert!(stderr.contains("tampered"), "{what}: {stderr}");
}

/// Starts kms-host on `data_dir` with `token`; it must exit with an error.
/// Returns its stderr.
fn refused_start(data_dir: &std::path::Path, token: &str, what: &str) -> String {
    let logs = tempfile::tempdir().unwrap();
    let out = logs.path().join("stdout");
    let err = logs.path().join("stderr");
    let mut child = std::process::Command::new(minikms_testkit::bin("kms-host"))
        .args([
            "run",
            "--simulation",
            "--port",
            "0",
            "--dev-root-token",
            token,
        ])
        .arg("--data-dir")
        .arg(data_dir)
        // The enclave the store's servers ran (docs/replicas.md's way).
        .arg(minikms_testkit::shared_signed_enclave())
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let listening = std::fs::read_to_string(&out).unwrap_or_default();
        if listening.contains("listening on") || std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: tampering was not detected");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!status.success(), "{what}");
    std::fs::read_to_string(&err).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_swapped_and_replayed_records_are_refused() {
    let server = dev_server();
    let v = Vault::new(&server);
    v.ok("/v1/transit/keys/a", json!({})).await;
    v.ok("/v1/transit/keys/b", json!({})).await;
    let (_, data_dir) = server.stop_keeping_data(libc::SIGTERM);
    let path = data_dir.path().to_path_buf();
    let a_v1 = record(&path, "a");
    let b_v1 = record(&path, "b");

    // Keep copies of the whole dir for each attack.
    let copy = |from: &std::path::Path| {
        let to = tempfile::tempdir().unwrap();
        copy_dir(from, to.path());
        to
    };

    // 1. A flipped byte in a sealed record.
    let d = copy(&path);
    edit_keys_table(d.path(), |t| {
        let mut bad = a_v1.clone();
        let last = bad.len() - 5;
        bad[last] ^= 0x40;
        t.insert("a", bad.as_slice()).unwrap();
    });
    assert_refuses(d, "flipped byte");

    // 2. Records swapped between names.
    let d = copy(&path);
    edit_keys_table(d.path(), |t| {
        t.insert("a", b_v1.as_slice()).unwrap();
        t.insert("b", a_v1.as_slice()).unwrap();
    });
    assert_refuses(d, "swapped records");

    // 3. A record removed, and one copied under a new name.
    let d = copy(&path);
    edit_keys_table(d.path(), |t| {
        t.remove("b").unwrap();
    });
    assert_refuses(d, "removed record");
    let d = copy(&path);
    edit_keys_table(d.path(), |t| {
        t.insert("c", a_v1.as_slice()).unwrap();
    });
    assert_refuses(d, "added record");

    // 4. An old version replayed after a rotation.
    let server = Server::try_start_in(data_dir, &["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("untouched store must open: {r:?}"));
    let v = Vault::new(&server);
    v.ok("/v1/transit/keys/a/rotate", json!({})).await;
    let (_, data_dir) = server.stop_keeping_data(libc::SIGTERM);
    let d = copy(data_dir.path());
    edit_keys_table(d.path(), |t| {
        t.insert("a", a_v1.as_slice()).unwrap();
    });
    assert_refuses(d, "replayed record");

    // The untouched store still opens, with the rotation.
    let server = Server::try_start_in(data_dir, &["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("untouched store must open: {r:?}"));
    let v = Vault::new(&server);
    assert_eq!(v.read("/v1/transit/keys/a").await["latest_version"], 2);
}
