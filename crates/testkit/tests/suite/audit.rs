//! The audit log end to end: the real server records every `/v1` request
//! in `audit.log` (accessors, never tokens; no plaintext, ciphertext or key
//! material), the `minikms audit verify` CLI accepts it and names each kind
//! of tampering, and a restart continues the chain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use base64::Engine;
use minikms_testkit::{bin, contains, https, Server};
use serde_json::{json, Value};

use crate::common::{call, entries, log_path};

const TOKEN: &str = "s.audit-root-token";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const DEV: &[&str] = &["--simulation", "--dev-root-token", TOKEN];

fn audit_verify(file: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(bin("minikms"))
        .args(["audit", "verify"])
        .arg(file)
        .args(extra)
        .output()
        .unwrap()
}

/// A tampered copy of the log's lines, checked to fail with `expected`.
fn assert_tampered(dir: &Path, name: &str, lines: &[String], expected: &str) {
    let file = dir.join(name);
    std::fs::write(
        &file,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let out = audit_verify(&file, &["--allow-simulation", "--allow-debug"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{name} verified");
    assert!(stderr.contains(expected), "{name}: {stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "{name}: one line: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_recorded_verified_and_tampering_is_named() {
    let server = Server::try_start(DEV).unwrap_or_else(|r| panic!("did not start: {r:?}"));
    let status = server.get("/").await.body;

    // Key operations and token lookups, remembering each answer's id.
    let mut ids: Vec<(String, &str, Option<&str>, Option<u64>)> = Vec::new();
    let mut id_of =
        |r: &https::Response, op: &'static str, key: Option<&'static str>, v: Option<u64>| {
            assert!(r.status < 300, "{op}: {}", String::from_utf8_lossy(&r.raw));
            let id = r.body["request_id"].as_str().unwrap().to_string();
            ids.push((id, op, key, v));
        };
    let r = call(
        &server,
        TOKEN,
        "POST",
        "/v1/transit/keys/app",
        Some(json!({"exportable": true})),
    )
    .await;
    id_of(&r, "update transit/keys/{name}", Some("app"), Some(1));
    let plaintext = b"attack at dawn, audit edition";
    let r = call(
        &server,
        TOKEN,
        "POST",
        "/v1/transit/encrypt/app",
        Some(json!({"plaintext": B64.encode(plaintext)})),
    )
    .await;
    let ciphertext = r.body["data"]["ciphertext"].as_str().unwrap().to_string();
    id_of(&r, "update transit/encrypt/{name}", Some("app"), Some(1));
    let r = call(
        &server,
        TOKEN,
        "POST",
        "/v1/transit/decrypt/app",
        Some(json!({"ciphertext": ciphertext})),
    )
    .await;
    id_of(&r, "update transit/decrypt/{name}", Some("app"), None);
    let r = call(&server, TOKEN, "POST", "/v1/transit/keys/app/rotate", None).await;
    id_of(
        &r,
        "update transit/keys/{name}/rotate",
        Some("app"),
        Some(2),
    );
    let r = call(
        &server,
        TOKEN,
        "POST",
        "/v1/transit/encrypt/app",
        Some(json!({"plaintext": B64.encode(plaintext)})),
    )
    .await;
    let ciphertext2 = r.body["data"]["ciphertext"].as_str().unwrap().to_string();
    id_of(&r, "update transit/encrypt/{name}", Some("app"), Some(2));
    let r = call(
        &server,
        TOKEN,
        "POST",
        "/v1/transit/datakey/plaintext/app",
        None,
    )
    .await;
    let data_key = r.body["data"]["plaintext"].as_str().unwrap().to_string();
    id_of(
        &r,
        "update transit/datakey/{kind}/{name}",
        Some("app"),
        Some(2),
    );
    let r = call(
        &server,
        TOKEN,
        "GET",
        "/v1/transit/export/encryption-key/app",
        None,
    )
    .await;
    let exported: Vec<String> = r.body["data"]["keys"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    id_of(&r, "read transit/export/{kind}/{name}", Some("app"), None);
    let r = call(&server, TOKEN, "GET", "/v1/auth/token/lookup-self", None).await;
    let accessor = r.body["data"]["accessor"].as_str().unwrap().to_string();
    id_of(&r, "read auth/token/lookup-self", None, None);
    // Concurrent requests keep one chain.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            https::send_json(
                addr,
                "POST",
                "/v1/transit/random/16",
                &[("X-Vault-Token", TOKEN)],
                None,
            )
            .await
            .body["request_id"]
                .as_str()
                .map(|s| (i, s.to_string()))
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().is_some());
    }
    // A wrong token, or none, is denied and counted with the other
    // requests from this address without a valid token, not recorded alone
    // (floods.rs reads the counts).
    let bad_token = "s.not-the-root-token-but-a-guess";
    let denied = call(
        &server,
        bad_token,
        "POST",
        "/v1/transit/encrypt/app",
        Some(json!({"plaintext": "AAAA"})),
    )
    .await;
    assert_eq!(denied.status, 403);
    let no_token = https::send_json(server.addr, "GET", "/v1/transit/keys/app", &[], None).await;
    assert_eq!(no_token.status, 403);

    let file = log_path(server.data_dir.path());
    let log = entries(&file);
    let raw = std::fs::read(&file).unwrap();
    assert_eq!(log[0]["type"], "start");
    assert_eq!(log[0]["seq"], 1);
    for (id, op, key, version) in &ids {
        let e = log
            .iter()
            .find(|e| e["request_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no entry for {op} ({id})"));
        assert_eq!(e["type"], "request");
        assert_eq!(e["operation"], *op, "{e}");
        assert_eq!(e["key"], json!(key), "{e}");
        assert_eq!(e["accessor"], accessor.as_str(), "{e}");
        assert_eq!(e["outcome"], "ok", "{e}");
        assert!(e["status"].as_u64().unwrap() < 300);
        if let Some(v) = version {
            assert_eq!(e["key_version"], *v, "{e}");
        }
        assert!(e["time"].as_str().unwrap().ends_with('Z'));
    }
    let randoms = log
        .iter()
        .filter(|e| e["operation"] == "update transit/random/{a}")
        .count();
    assert_eq!(randoms, 8);
    assert!(
        !log.iter().any(|e| e["outcome"] == "denied"),
        "a refusal without a valid token has an entry of its own"
    );

    // No token, plaintext, ciphertext or key material in the file.
    let mut secrets: Vec<(String, Vec<u8>)> = vec![
        ("root token".into(), TOKEN.as_bytes().to_vec()),
        ("wrong token".into(), bad_token.as_bytes().to_vec()),
        ("plaintext".into(), plaintext.to_vec()),
        (
            "plaintext (base64)".into(),
            B64.encode(plaintext).into_bytes(),
        ),
        ("ciphertext".into(), ciphertext.as_bytes().to_vec()),
        ("ciphertext 2".into(), ciphertext2.as_bytes().to_vec()),
        ("data key".into(), data_key.as_bytes().to_vec()),
        ("data key (raw)".into(), B64.decode(&data_key).unwrap()),
    ];
    for k in &exported {
        secrets.push(("exported key".into(), k.as_bytes().to_vec()));
        secrets.push(("exported key (raw)".into(), B64.decode(k).unwrap()));
    }
    for (what, bytes) in &secrets {
        assert!(!contains(&raw, bytes), "{what} found in the audit log");
    }

    // The CLI verifies it, with the policy flags of `minikms verify`.
    let mrenclave = status["mrenclave"].as_str().unwrap();
    let pins = [
        "--allow-simulation",
        "--allow-debug",
        "--mrenclave",
        mrenclave,
    ];
    let ok = audit_verify(&file, &pins);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let summary: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(summary["entries"], log.len());
    // The head it verified: the last entry's number and line hash.
    let text = std::fs::read_to_string(&file).unwrap();
    let last = text.lines().last().unwrap();
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, last.as_bytes());
    assert_eq!(
        summary["head"],
        json!({"seq": log.len(), "hash": hex::encode(hash.as_ref())})
    );
    assert_eq!(summary["segments"].as_array().unwrap().len(), 1);
    assert_eq!(summary["segments"][0]["platform"], "simulation");
    assert_eq!(summary["segments"][0]["mrenclave"], mrenclave);
    assert_eq!(summary["segments"][0]["mrsigner"], status["mrsigner"]);
    assert_eq!(summary["simulation"], true);
    // Simulated evidence is refused without --allow-simulation, and a
    // pinned MRENCLAVE must match.
    let strict = audit_verify(&file, &["--allow-debug"]);
    assert!(!strict.status.success());
    assert!(String::from_utf8_lossy(&strict.stderr).contains("entry 1: evidence does not verify"));
    let other = "00".repeat(32);
    let wrong = audit_verify(
        &file,
        &["--allow-simulation", "--allow-debug", "--mrenclave", &other],
    );
    assert!(!wrong.status.success());

    // Tampered copies, each named.
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let mut removed = lines.clone();
    removed.remove(3);
    assert_tampered(
        dir.path(),
        "removed",
        &removed,
        "entry 4: hash chain broken (the entry before it was edited, or entries were removed, reordered or inserted)",
    );
    let mut swapped = lines.clone();
    swapped.swap(2, 3);
    assert_tampered(
        dir.path(),
        "swapped",
        &swapped,
        "entry 3: hash chain broken",
    );
    let mut inserted = lines.clone();
    inserted.insert(5, lines[2].clone());
    assert_tampered(
        dir.path(),
        "inserted",
        &inserted,
        "entry 6: hash chain broken",
    );
    let mut edited = lines.clone();
    let e = &mut edited[4];
    assert!(e.contains("\"outcome\":\"ok\""));
    *e = e.replace("\"outcome\":\"ok\"", "\"outcome\":\"error\"");
    assert_tampered(
        dir.path(),
        "edited",
        &edited,
        "entry 5: bad signature (edited)",
    );
    let mut rekeyed = lines.clone();
    let header: Value = serde_json::from_str(&lines[0]).unwrap();
    let pk = header["public_key"].as_str().unwrap();
    rekeyed[0] = rekeyed[0].replace(pk, &B64.encode([7u8; 32]));
    assert_tampered(
        dir.path(),
        "rekeyed",
        &rekeyed,
        "entry 1: evidence does not bind the audit key",
    );
    assert_tampered(
        dir.path(),
        "headless",
        &lines[1..],
        "entry 1: the log does not begin with a start entry",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_continues_the_chain_and_a_bad_tail_stops_the_start() {
    let server = Server::try_start(DEV).unwrap_or_else(|r| panic!("did not start: {r:?}"));
    let r = call(&server, TOKEN, "POST", "/v1/transit/keys/k", None).await;
    assert_eq!(r.status, 200);
    let (status, data_dir) = server.stop_keeping_data(libc::SIGTERM);
    assert!(status.success());
    let file = log_path(data_dir.path());
    let before = entries(&file);
    let key = before[0]["public_key"].clone();

    let server =
        Server::try_start_in(data_dir, DEV).unwrap_or_else(|r| panic!("did not restart: {r:?}"));
    let r = call(
        &server,
        TOKEN,
        "POST",
        "/v1/transit/encrypt/k",
        Some(json!({"plaintext": "aGk="})),
    )
    .await;
    assert_eq!(r.status, 200);
    let after = entries(&file);
    let start = &after[before.len()];
    assert_eq!(start["type"], "start");
    assert_eq!(start["seq"], before.len() as u64 + 1);
    assert_eq!(start["public_key"], key, "the sealed key continues the log");
    assert_eq!(after.last().unwrap()["request_id"], r.body["request_id"]);
    let ok = audit_verify(&file, &["--allow-simulation", "--allow-debug"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let summary: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(summary["segments"].as_array().unwrap().len(), 2);
    assert_eq!(summary["entries"], after.len());

    // A crash loses nothing acknowledged; an edited tail stops the start.
    let data_dir = server.crash();
    assert_eq!(entries(&file).len(), after.len());
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("\"outcome\":\"ok\"", "\"outcome\":\"error\""),
    )
    .unwrap();
    let refusal = match Server::try_start_in(data_dir, DEV) {
        Ok(_) => panic!("started on an edited audit log"),
        Err(r) => r,
    };
    assert!(!refusal.status.success());
    assert!(
        refusal.stderr.contains("audit log") && refusal.stderr.contains("move the file away"),
        "{}",
        refusal.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn init_is_recorded_without_the_token_it_returns() {
    let server = Server::start();
    let r = https::send_json(server.addr, "PUT", "/v1/sys/init", &[], Some(&json!({}))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    let root = r.body["root_token"].as_str().unwrap().to_string();
    let r = call(&server, &root, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!(r.status, 200);
    let accessor = r.body["data"]["accessor"].as_str().unwrap().to_string();

    let file = log_path(server.data_dir.path());
    let raw = std::fs::read(&file).unwrap();
    assert!(
        !contains(&raw, root.as_bytes()),
        "root token in the audit log"
    );
    let log = entries(&file);
    let init = log
        .iter()
        .find(|e| e["operation"] == "update sys/init")
        .unwrap();
    assert!(init["accessor"].is_null());
    assert_eq!(init["outcome"], "ok");
    let lookup = log.last().unwrap();
    assert_eq!(lookup["operation"], "read auth/token/lookup-self");
    assert_eq!(lookup["accessor"], accessor.as_str());
    assert_eq!(lookup["request_id"], r.body["request_id"]);
}

/// Concurrent requests share writes (one signature covers a group of
/// entries), yet each answer leaves only once its entry is in the file, and
/// the log still verifies; a key created under that load survives a crash
/// with its entry.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_are_each_in_the_log_when_answered() {
    let server = Server::try_start(DEV).unwrap_or_else(|r| panic!("did not start: {r:?}"));
    let r = call(&server, TOKEN, "POST", "/v1/transit/keys/busy", None).await;
    assert_eq!(r.status, 200);
    let plaintext = B64.encode(b"grouped");
    let server = std::sync::Arc::new(server);
    let mut tasks = Vec::new();
    for t in 0..24 {
        let server = server.clone();
        let plaintext = plaintext.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..8 {
                let (path, body) = if i == 7 {
                    (format!("/v1/transit/keys/made-{t}"), None)
                } else {
                    (
                        "/v1/transit/encrypt/busy".to_string(),
                        Some(json!({ "plaintext": plaintext })),
                    )
                };
                let r = call(&*server, TOKEN, "POST", &path, body).await;
                assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
                ids.push(r.body["request_id"].as_str().unwrap().to_string());
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    // Read while the server still runs: every answered request is there.
    let file = log_path(server.data_dir.path());
    let logged = entries(&file);
    for id in &ids {
        let n = logged.iter().filter(|e| e["request_id"] == *id).count();
        assert_eq!(n, 1, "request {id} is in the log {n} times");
    }
    let unsigned = logged.iter().filter(|e| e.get("sig").is_none()).count();
    eprintln!(
        "{} entries, {unsigned} covered by a later entry's signature",
        logged.len()
    );
    assert!(logged.last().unwrap().get("sig").is_some());

    let server = std::sync::Arc::try_unwrap(server).unwrap_or_else(|_| panic!("still shared"));
    let data_dir = server.crash();
    let file = log_path(data_dir.path());
    let after = entries(&file);
    for t in 0..24 {
        let made = format!("made-{t}");
        assert!(
            after
                .iter()
                .any(|e| e["key"] == made.as_str() && e["status"] == 200),
            "{made}'s entry lost in the crash"
        );
    }
    let out = audit_verify(&file, &["--allow-simulation", "--allow-debug"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
