//! Secure key release end to end: roles under `auth/attest/role`, workload
//! enclaves (simulated, signed by `kms-host sign`) logging in with their
//! evidence through `minikms login` and the client library, each refusal
//! with its reason, tokens bound to the workload's key, and keys released
//! only to attested workloads (`minikms release`), decrypted here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use base64::Engine;
use minikms_client::attested_tls::Attestation;
use minikms_client::client::Client;
use minikms_client::connection::ServerUrl;
use minikms_client::error::Error;
use minikms_client::login::Session;
use minikms_client::workload::{SimulatedWorkload, Workload, WorkloadKey};
use minikms_testkit::{
    bin, https, kms_host, kms_host_sign, shared_signing_key, shipped_config, Server,
};
use serde_json::{json, Value};

use crate::common::{call, dev_server, ok};

const ROOT: &str = "s.release-root-token";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Signing key B, made once.
fn other_signing_key() -> &'static Path {
    static KEY: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = KEY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key-b.pem");
        let out = kms_host(&["keygen", "--out", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (dir, path)
    });
    path
}

/// A workload enclave file signed by `key`, at `svn`, debug or not.
pub(crate) fn workload(dir: &Path, name: &str, key: &Path, svn: u16, debug: bool) -> PathBuf {
    let shipped = std::fs::read_to_string(shipped_config()).unwrap();
    let config = shipped
        .replace("SecurityVersion = 1", &format!("SecurityVersion = {svn}"))
        .replace("Debug = true", &format!("Debug = {debug}"));
    let config_path = dir.join(format!("{name}.toml"));
    std::fs::write(&config_path, config).unwrap();
    let out = dir.join(format!("{name}.signed"));
    let signed = kms_host_sign(key, &config_path, &out);
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    out
}

/// MRSIGNER of a signed file.
pub(crate) fn mrsigner(signed: &Path) -> String {
    let (id, _) = minikms_sigstruct::image::verify_image(&std::fs::read(signed).unwrap()).unwrap();
    id.mrsigner.to_hex()
}

pub(crate) fn attestation() -> Attestation {
    let mut a = Attestation::default();
    a.policy.allow_simulation = true;
    a.policy.allow_debug = true;
    a
}

pub(crate) fn url(addr: SocketAddr) -> ServerUrl {
    ServerUrl::parse(&format!("https://{addr}")).unwrap()
}

/// The server's refusal (status, message) of a login.
fn refusal(result: Result<Session, Error>) -> (u16, String) {
    match result {
        Err(Error::Server { status, message }) => (status, message),
        Err(e) => panic!("not a server refusal: {e}"),
        Ok(s) => panic!("accepted: {}", s.answer()),
    }
}

struct Setup {
    server: Server,
    _dir: tempfile::TempDir,
    a: PathBuf,
}

/// A server with role `app` for signer A (min SVN 2, simulation allowed,
/// not debug), policy `app` (export and encrypt of key `app`).
async fn setup() -> Setup {
    let server = dev_server(ROOT);
    let dir = tempfile::tempdir().unwrap();
    let a = workload(dir.path(), "a", shared_signing_key(), 2, false);
    let addr = server.addr;
    ok(
        addr, ROOT,
        "PUT",
        "/v1/sys/policy/app",
        Some(json!({ "policy": "path \"transit/export/encryption-key/app/*\" { capabilities = [\"read\"] }\npath \"transit/datakey/+/app\" { capabilities = [\"update\"] }\npath \"transit/decrypt/app\" { capabilities = [\"update\"] }\npath \"auth/token/create\" { capabilities = [\"update\"] }" })),
    )
    .await;
    ok(
        addr,
        ROOT,
        "POST",
        "/v1/auth/attest/role/app",
        Some(json!({
            "mrsigner": [mrsigner(&a)], "mrenclave": [], "product_id": 1, "min_svn": 2,
            "allow_debug": false, "allow_simulation": true, "policies": ["app"], "ttl": "1h"
        })),
    )
    .await;
    Setup {
        server,
        _dir: dir,
        a,
    }
}

#[tokio::test]
async fn roles_are_managed_under_the_acl_and_checked() {
    let server = dev_server(ROOT);
    let addr = server.addr;
    let signer = "ab".repeat(32);
    let role = json!({
        "mrsigner": [signer], "mrenclave": [], "product_id": 7, "min_svn": 3,
        "allow_debug": false, "allow_simulation": true, "policies": ["app", "default"], "ttl": "2h"
    });
    ok(addr, ROOT, "POST", "/v1/auth/attest/role/web", Some(role)).await;
    let read = ok(addr, ROOT, "GET", "/v1/auth/attest/role/web", None).await;
    assert_eq!(
        read["data"],
        json!({
            "mrsigner": [signer], "mrenclave": [], "mrtd": [], "product_id": 7, "min_svn": 3,
            "allow_debug": false, "allow_simulation": true, "policies": ["app", "default"], "ttl": 7200
        })
    );
    let listed = ok(addr, ROOT, "LIST", "/v1/auth/attest/role", None).await;
    assert_eq!(listed["data"]["keys"], json!(["web"]));
    let listed = ok(addr, ROOT, "GET", "/v1/auth/attest/role?list=true", None).await;
    assert_eq!(listed["data"]["keys"], json!(["web"]));

    // Each bad role: 400 with the reason, and nothing stored.
    for (body, why) in [
        (
            json!({ "mrsigner": [], "mrenclave": [], "policies": [] }),
            "must not all be empty",
        ),
        (json!({ "mrsigner": ["abc"] }), "64 hex digits"),
        (json!({ "mrsigners": [signer] }), "unknown field"),
        (json!({ "mrsigner": [signer], "min_svn": 70000 }), "min_svn"),
        (
            json!({ "mrsigner": [signer], "ttl": "forever" }),
            "invalid ttl",
        ),
        (
            json!({ "mrsigner": [signer], "policies": ["root"] }),
            "root",
        ),
    ] {
        let r = call(
            addr,
            ROOT,
            "POST",
            "/v1/auth/attest/role/bad",
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status, 400, "{body}: {}", String::from_utf8_lossy(&r.raw));
        let message = r.body["errors"][0].as_str().unwrap();
        assert!(message.contains(why), "{body}: {message}");
    }
    assert_eq!(
        call(addr, ROOT, "GET", "/v1/auth/attest/role/bad", None)
            .await
            .status,
        404
    );

    // Under the ACL: a token without a policy for it may not.
    let made = ok(
        addr,
        ROOT,
        "POST",
        "/v1/auth/token/create",
        Some(json!({ "policies": ["default"] })),
    )
    .await;
    let plain = made["auth"]["client_token"].as_str().unwrap();
    for (method, path) in [
        ("GET", "/v1/auth/attest/role/web"),
        ("LIST", "/v1/auth/attest/role"),
        ("DELETE", "/v1/auth/attest/role/web"),
    ] {
        assert_eq!(
            call(addr, plain, method, path, None).await.status,
            403,
            "{method} {path}"
        );
    }
    ok(addr, ROOT, "DELETE", "/v1/auth/attest/role/web", None).await;
    assert_eq!(
        call(addr, ROOT, "GET", "/v1/auth/attest/role/web", None)
            .await
            .status,
        404
    );
}

/// Issue 33, point 1: a token allowed to write roles grants a role only
/// policies it holds itself (as token create), so that it cannot log in
/// with its own workload and hold more; root grants any.
#[tokio::test]
async fn a_role_writer_grants_only_the_policies_it_holds() {
    let s = setup().await;
    let addr = s.server.addr;
    let signer = mrsigner(&s.a);
    ok(
        addr, ROOT,
        "PUT",
        "/v1/sys/policy/admin-pol",
        Some(json!({ "policy": "path \"*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"sudo\"] }" })),
    )
    .await;
    ok(
        addr,
        ROOT,
        "PUT",
        "/v1/sys/policies/acl/role-writer",
        Some(json!({ "policy": json!({"path": {"auth/attest/role/*": {
            "capabilities": ["create", "update"],
            "denied_parameters": {"allow_debug": [true]},
        }}}).to_string() })),
    )
    .await;
    let made = ok(
        addr,
        ROOT,
        "POST",
        "/v1/auth/token/create",
        Some(json!({ "policies": ["role-writer"] })),
    )
    .await;
    let writer = made["auth"]["client_token"].as_str().unwrap();
    let role = |policies: Value| json!({ "mrsigner": [signer], "allow_simulation": true, "policies": policies });

    // The attack: a role granting admin-pol, for the writer's own workload.
    let r = call(
        addr,
        writer,
        "POST",
        "/v1/auth/attest/role/mine",
        Some(role(json!(["admin-pol"]))),
    )
    .await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.raw));
    assert_eq!(
        r.body["errors"][0],
        "a role may grant only policies its writer holds: admin-pol is not"
    );
    // ... also hidden among policies it holds; and nothing was stored.
    let r = call(
        addr,
        writer,
        "POST",
        "/v1/auth/attest/role/mine",
        Some(role(json!(["role-writer", "default", "admin-pol"]))),
    )
    .await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.raw));
    assert_eq!(
        call(addr, ROOT, "GET", "/v1/auth/attest/role/mine", None)
            .await
            .status,
        404
    );
    let a = SimulatedWorkload::from_signed_file(&s.a, None).unwrap();
    let (status, message) = refusal(Session::login(&url(addr), attestation(), "mine", &a).await);
    assert_eq!(status, 403);
    assert!(message.contains("no role named"), "{message}");

    // Overwriting root's role `app` (policy app, which the writer lacks)
    // is refused too: the writer would re-grant it.
    let r = call(
        addr,
        writer,
        "POST",
        "/v1/auth/attest/role/app",
        Some(role(json!(["app"]))),
    )
    .await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.raw));

    // Its own policies (and default) it may grant; the login gets them.
    let r = call(
        addr,
        writer,
        "POST",
        "/v1/auth/attest/role/mine",
        Some(role(json!(["role-writer", "default"]))),
    )
    .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.raw));
    let session = Session::login(&url(addr), attestation(), "mine", &a)
        .await
        .unwrap();
    assert_eq!(
        session.answer()["auth"]["policies"],
        json!(["default", "role-writer"])
    );

    // The writer's own constraints see the role as read: `"1"` is true.
    for debug in [json!(true), json!("1"), json!("t")] {
        let mut body = role(json!(["role-writer"]));
        body["allow_debug"] = debug.clone();
        let r = call(
            addr,
            writer,
            "POST",
            "/v1/auth/attest/role/mine",
            Some(body),
        )
        .await;
        assert_eq!(
            r.status,
            403,
            "allow_debug {debug}: {}",
            String::from_utf8_lossy(&r.raw)
        );
    }
    let read = ok(addr, ROOT, "GET", "/v1/auth/attest/role/mine", None).await;
    assert_eq!(read["data"]["allow_debug"], false);
}

#[tokio::test]
async fn a_workload_logs_in_with_its_evidence_and_others_are_refused_with_the_reason() {
    let s = setup().await;
    let (addr, dir) = (s.server.addr, s._dir.path());

    // The CLI: `minikms login` prints Vault's auth block.
    let out = std::process::Command::new(bin("minikms"))
        .args([
            "--server",
            &format!("https://{addr}"),
            "--any-enclave",
            "--allow-simulation",
            "--allow-debug",
        ])
        .args([
            "login",
            "--role",
            "app",
            "--simulate-enclave",
            s.a.to_str().unwrap(),
        ])
        .env_remove("MINIKMS_TOKEN")
        .env_remove("VAULT_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let auth = &answer["auth"];
    assert!(
        auth["client_token"].as_str().unwrap().starts_with("hvs."),
        "{answer}"
    );
    assert_eq!(auth["policies"], json!(["app", "default"]));
    assert_eq!(auth["lease_duration"], 3600);
    assert_eq!(auth["metadata"]["mrsigner"], mrsigner(&s.a));
    assert_eq!(auth["metadata"]["isv_svn"], "2");
    assert_eq!(answer["data"]["claims"]["simulation"], true);

    let b = workload(dir, "b", other_signing_key(), 2, false);
    let low = workload(dir, "low", shared_signing_key(), 1, false);
    let debug = workload(dir, "debug", shared_signing_key(), 2, true);
    for (file, why) in [
        (&b, "MRSIGNER"),
        (&low, "security version too low: minimum 2, got 1"),
        (&debug, "debug enclave refused"),
    ] {
        let me = SimulatedWorkload::from_signed_file(file, None).unwrap();
        let (status, message) =
            refusal(Session::login(&url(addr), attestation(), "app", &me).await);
        assert_eq!(status, 403, "{message}");
        assert!(
            message.starts_with("login refused") && message.contains(why),
            "{file:?}: {message}"
        );
    }

    // Simulated evidence for a role that does not allow it.
    ok(
        addr,
        ROOT,
        "POST",
        "/v1/auth/attest/role/hardware",
        Some(json!({ "mrsigner": [mrsigner(&s.a)], "policies": ["app"] })),
    )
    .await;
    let a = SimulatedWorkload::from_signed_file(&s.a, None).unwrap();
    let (status, message) =
        refusal(Session::login(&url(addr), attestation(), "hardware", &a).await);
    assert_eq!(status, 403);
    assert!(message.contains("simulation evidence refused"), "{message}");
    // The hint points at the role, not at a client flag that does not apply.
    assert!(
        message.contains("\"allow_simulation\": true in auth/attest/role/NAME"),
        "{message}"
    );
    assert!(!message.contains("--allow-simulation"), "{message}");
    let (status, message) = refusal(Session::login(&url(addr), attestation(), "nobody", &a).await);
    assert_eq!(status, 403);
    assert!(message.contains("no role named"), "{message}");

    // By hand: replayed evidence, and evidence that binds another key.
    let mut client = Client::open(&url(addr), attestation()).await.unwrap();
    let key = WorkloadKey::generate().unwrap();
    let body = login_body(&mut client, &a, &key, key.public_key_der()).await;
    let first = client
        .api("POST", "auth/attest/login", Some(&body))
        .await
        .unwrap();
    assert!(first["auth"]["client_token"].is_string());
    let again = client
        .api("POST", "auth/attest/login", Some(&body))
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already used nonce"), "{again}");

    let other = WorkloadKey::generate().unwrap();
    let mut body = login_body(&mut client, &a, &key, key.public_key_der()).await;
    body["public_key"] = B64.encode(other.public_key_der()).into();
    let swapped = client
        .api("POST", "auth/attest/login", Some(&body))
        .await
        .unwrap_err();
    assert!(
        swapped
            .to_string()
            .contains("does not bind this nonce and public key"),
        "{swapped}"
    );
}

/// A login body for `key`'s report data, sending `sent_key`.
async fn login_body(
    client: &mut Client,
    me: &SimulatedWorkload,
    key: &WorkloadKey,
    sent_key: &[u8],
) -> Value {
    let nonce = client.api("POST", "auth/attest/nonce", None).await.unwrap();
    let nonce = nonce["data"]["nonce"].as_str().unwrap().to_string();
    let rd = minikms_api::release::report_data(&hex::decode(&nonce).unwrap(), key.public_key_der());
    let evidence = me.evidence(&rd).unwrap();
    json!({
        "role": "app", "nonce": nonce, "public_key": B64.encode(sent_key),
        "quote": B64.encode(&evidence.quote), "collateral": evidence.collateral,
    })
}

#[tokio::test]
async fn a_login_token_is_refused_without_its_key() {
    let s = setup().await;
    let addr = s.server.addr;
    let a = SimulatedWorkload::from_signed_file(&s.a, None).unwrap();
    let mut session = Session::login(&url(addr), attestation(), "app", &a)
        .await
        .unwrap();
    let token = session.answer()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    // With its key (the session's connection): allowed.
    let me = session
        .client()
        .api("GET", "auth/token/lookup-self", None)
        .await
        .unwrap();
    assert_eq!(me["data"]["display_name"], "attest-app");
    // The token alone, over a connection without the key: refused.
    let r = call(addr, &token, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!(r.status, 403);
    assert!(
        r.body["errors"][0]
            .as_str()
            .unwrap()
            .contains("bound to an attested key"),
        "{}",
        r.body
    );
    // ... or with another key's certificate.
    let other = WorkloadKey::generate().unwrap();
    let mut stranger = Client::open_as(&url(addr), attestation(), &other)
        .await
        .unwrap();
    stranger.set_token(Some(token.clone()));
    let e = stranger
        .api("GET", "auth/token/lookup-self", None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("bound to an attested key"), "{e}");
    // And it makes no unbound children.
    let e = session
        .client()
        .api("POST", "auth/token/create", Some(&json!({})))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("cannot generate child tokens"),
        "{e}"
    );
}

#[tokio::test]
async fn keys_are_released_only_to_attested_workloads() {
    let s = setup().await;
    let (addr, dir) = (s.server.addr, s._dir.path());
    let made = ok(
        addr,
        ROOT,
        "POST",
        "/v1/transit/keys/app",
        Some(json!({ "release_only_to_attested": true })),
    )
    .await;
    assert_eq!(made["data"]["release_only_to_attested"], true, "{made}");
    let plaintext = b"released to the workload only";
    let sealed = ok(
        addr,
        ROOT,
        "POST",
        "/v1/transit/encrypt/app",
        Some(json!({ "plaintext": B64.encode(plaintext) })),
    )
    .await;
    let ciphertext = sealed["data"]["ciphertext"].as_str().unwrap().to_string();

    // Not even root gets its material in clear.
    for (method, path, body, why) in [
        (
            "GET",
            "/v1/transit/export/encryption-key/app",
            None,
            "released only to attested workloads",
        ),
        (
            "GET",
            "/v1/transit/backup/app",
            None,
            "released only to attested workloads",
        ),
        (
            "POST",
            "/v1/transit/keys/app/config",
            Some(json!({ "exportable": true })),
            "cannot be exportable",
        ),
        (
            "POST",
            "/v1/transit/keys/app/config",
            Some(json!({ "allow_plaintext_backup": true })),
            "cannot be exportable",
        ),
        (
            "GET",
            "/v1/transit/export/encryption-key/app?recipient=attested",
            None,
            "auth/attest/login",
        ),
    ] {
        let r = call(addr, ROOT, method, path, body).await;
        assert!(matches!(r.status, 400 | 403), "{path}: {}", r.status);
        assert!(
            r.body["errors"][0].as_str().unwrap().contains(why),
            "{path}: {}",
            r.body
        );
    }
    let r = call(
        addr,
        ROOT,
        "POST",
        "/v1/transit/keys/both",
        Some(json!({ "release_only_to_attested": true, "exportable": true })),
    )
    .await;
    assert_eq!(r.status, 400);
    // Ordinary decryption is unaffected.
    let opened = ok(
        addr,
        ROOT,
        "POST",
        "/v1/transit/decrypt/app",
        Some(json!({ "ciphertext": ciphertext })),
    )
    .await;
    assert_eq!(opened["data"]["plaintext"], B64.encode(plaintext));

    // `minikms release` writes the raw key; it decrypts here what the
    // server encrypted.
    let out_file = dir.join("app.key");
    let out = std::process::Command::new(bin("minikms"))
        .args([
            "--server",
            &format!("https://{addr}"),
            "--any-enclave",
            "--allow-simulation",
            "--allow-debug",
        ])
        .args([
            "release",
            "app",
            "--role",
            "app",
            "--simulate-enclave",
            s.a.to_str().unwrap(),
        ])
        .args(["--out", out_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (printed["version"].as_u64(), printed["bytes"].as_u64()),
        (Some(1), Some(32))
    );
    let key = std::fs::read(&out_file).unwrap();
    assert_eq!(key.len(), 32);
    let raw = B64
        .decode(ciphertext.strip_prefix("vault:v1:").unwrap())
        .unwrap();
    let (nonce, sealed) = raw.split_at(12);
    let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
    let mut in_out = sealed.to_vec();
    let opened = aead
        .open_in_place(
            Nonce::try_assume_unique_for_key(nonce).unwrap(),
            Aad::empty(),
            &mut in_out,
        )
        .unwrap();
    assert_eq!(&opened[..], &plaintext[..]);

    // The answer itself holds the key only wrapped.
    let a = SimulatedWorkload::from_signed_file(&s.a, None).unwrap();
    let mut session = Session::login(&url(addr), attestation(), "app", &a)
        .await
        .unwrap();
    let answer = session
        .client()
        .request(
            "GET",
            "/v1/transit/export/encryption-key/app/latest?recipient=attested",
            None,
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    let text = String::from_utf8_lossy(&answer.body);
    assert!(
        !text.contains(&B64.encode(&key)) && !text.contains(&hex::encode(&key)),
        "{text}"
    );
    let released = session.release_key("app").await.unwrap();
    assert_eq!(released.material.as_slice(), key.as_slice());

    // A data key released to the workload: wrapped to its key, and the
    // ciphertext decrypts to it.
    let made = session
        .client()
        .api(
            "POST",
            "transit/datakey/plaintext/app",
            Some(&json!({ "recipient": "attested" })),
        )
        .await
        .unwrap();
    let data = &made["data"];
    assert!(data.get("plaintext").is_none(), "{made}");
    let wrapped = B64
        .decode(data["wrapped_plaintext"].as_str().unwrap())
        .unwrap();
    let data_key = session.key().unwrap(&wrapped).unwrap();
    assert_eq!(data_key.len(), 32);
    let opened = ok(
        addr,
        ROOT,
        "POST",
        "/v1/transit/decrypt/app",
        Some(json!({ "ciphertext": data["ciphertext"] })),
    )
    .await;
    assert_eq!(opened["data"]["plaintext"], B64.encode(data_key.as_slice()));

    // Decrypt for the workload: the plaintext answered wrapped to its key.
    let opened = session
        .client()
        .api(
            "POST",
            "transit/decrypt/app",
            Some(&json!({ "ciphertext": ciphertext, "recipient": "attested" })),
        )
        .await
        .unwrap();
    assert!(opened["data"].get("plaintext").is_none(), "{opened}");
    assert!(!opened.to_string().contains(&B64.encode(plaintext)));
    let wrapped = B64
        .decode(opened["data"]["wrapped_plaintext"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        session.key().unwrap(&wrapped).unwrap().as_slice(),
        &plaintext[..]
    );
    // Without a login token, no recipient.
    let r = call(
        addr,
        ROOT,
        "POST",
        "/v1/transit/datakey/plaintext/app",
        Some(json!({ "recipient": "attested" })),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = call(
        addr,
        ROOT,
        "POST",
        "/v1/transit/datakey/plaintext/app",
        Some(json!({ "recipient": "someone" })),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // Each release is audited with what the login verified, never the key.
    let log = std::fs::read_to_string(s.server.data_dir.path().join("enclave/audit.log")).unwrap();
    let releases: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e.get("attested").is_some())
        .collect();
    assert!(
        releases
            .iter()
            .any(|e| e["operation"] == "update auth/attest/login"),
        "{log}"
    );
    assert!(
        releases
            .iter()
            .any(|e| e["operation"] == "read transit/export/{kind}/{name}/{version}"),
        "{log}"
    );
    assert!(
        releases
            .iter()
            .any(|e| e["operation"] == "update transit/datakey/{kind}/{name}"),
        "{log}"
    );
    assert!(
        releases
            .iter()
            .any(|e| e["operation"] == "update transit/decrypt/{name}"),
        "{log}"
    );
    for e in &releases {
        assert_eq!(e["attested"]["mrsigner"], mrsigner(&s.a));
        assert_eq!(e["attested"]["role"], "app");
    }
    assert!(!log.contains(&B64.encode(&key)) && !log.contains(&hex::encode(&key)));
}

/// A flood of nonces from one address, more than the server keeps open,
/// drops none of another address's: a workload that took its nonce before
/// the flood still logs in with it (before, the flood dropped the oldest
/// nonces, everyone's).
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_nonces_from_one_address_drops_no_one_elses() {
    let s = setup().await;
    let addr = s.server.addr;
    let nonce = https::send_json(addr, "POST", "/v1/auth/attest/nonce", &[], None).await;
    let nonce = nonce.body["data"]["nonce"].as_str().unwrap().to_string();
    let flooder = IpAddr::from([127, 0, 0, 2]);
    let answered = https::flood(flooder, addr, "/v1/auth/attest/nonce", 1100).await;
    eprintln!("nonce flood: {answered} of 1100 answered from {flooder}");

    let me = SimulatedWorkload::from_signed_file(&s.a, None).unwrap();
    let key = WorkloadKey::generate().unwrap();
    let report_data =
        minikms_api::release::report_data(&hex::decode(&nonce).unwrap(), key.public_key_der());
    let evidence = me.evidence(&report_data).unwrap();
    let login = json!({
        "role": "app",
        "nonce": nonce,
        "public_key": B64.encode(key.public_key_der()),
        "quote": B64.encode(&evidence.quote),
        "collateral": evidence.collateral,
    });
    let r = https::send_json(addr, "POST", "/v1/auth/attest/login", &[], Some(&login)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    assert!(r.body["auth"]["client_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
}
