//! What one client without a token can do to the audit log, and a full
//! disk under it: requests without a valid token are rate-limited per
//! address (429 with `Retry-After`) and counted in one `unauthenticated`
//! entry per address instead of one entry each; when the log's disk is
//! full, requests get 503 and change nothing, `sys/health` says why, and
//! the server goes on by itself once there is room, its log unbroken.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use minikms_testkit::{bin, https, Server};
use serde_json::{json, Value};

use crate::common::{entries, log_path};

const TOKEN: &str = "s.floods-root-token";
const DEV: &[&str] = &["--simulation", "--dev-root-token", TOKEN];

/// `minikms audit verify FILE`: its summary, or a panic with its error.
fn audit_verify(file: &Path) -> Value {
    let out = Command::new(bin("minikms"))
        .args(["audit", "verify"])
        .arg(file)
        .args(["--allow-simulation", "--allow-debug"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn call(
    server: &Server,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> https::Response {
    let headers: Vec<(&str, &str)> = token.map(|t| ("X-Vault-Token", t)).into_iter().collect();
    https::send_json(server.addr, method, path, &headers, body.as_ref()).await
}

/// One client floods the open and the guarded routes without a valid
/// token: after its burst it gets 429 with `Retry-After`; a client with a
/// token is not held back; the log gains no entry per flooding request,
/// and at shutdown one `unauthenticated` entry counts them all, which
/// `minikms audit verify` accepts.
#[tokio::test(flavor = "multi_thread")]
async fn tokenless_floods_are_limited_and_counted_not_recorded_each() {
    let server = Server::try_start(DEV).unwrap_or_else(|r| panic!("did not start: {r:?}"));
    let file = log_path(server.data_dir.path());
    let before = std::fs::metadata(&file).unwrap().len();

    let kinds: [(Option<&'static str>, &'static str, &'static str); 3] = [
        (None, "GET", "/v1/transit/keys/app"),
        (Some("s.not-a-token"), "POST", "/v1/transit/encrypt/app"),
        (None, "POST", "/v1/sys/join/challenge"),
    ];
    // In waves of concurrent requests, so that the flood outruns the
    // refill (10/s) however slow one handshake is on a loaded machine.
    let (sent, wave) = (304, 16);
    let addr = server.addr;
    let (mut limited, mut retry_after) = (0, None);
    for start in (0..sent).step_by(wave) {
        let mut flood = tokio::task::JoinSet::new();
        for i in start..start + wave {
            let (token, method, path) = kinds[i % kinds.len()];
            flood.spawn(async move {
                let headers: Vec<(&str, &str)> =
                    token.map(|t| ("X-Vault-Token", t)).into_iter().collect();
                let r = https::send_json(addr, method, path, &headers, None).await;
                (method, path, r)
            });
        }
        while let Some(done) = flood.join_next().await {
            let (method, path, r) = done.unwrap();
            match r.status {
                429 => {
                    limited += 1;
                    let message = r.body["errors"][0].as_str().unwrap_or_default();
                    assert!(
                        message.contains("too many requests without a valid token"),
                        "{message}"
                    );
                    retry_after = r.retry_after.clone();
                }
                200 | 403 => {}
                other => panic!(
                    "{method} {path}: {other}: {}",
                    String::from_utf8_lossy(&r.raw)
                ),
            }
        }
    }
    assert!(limited > 0, "no request of {sent} was limited");
    let seconds: u64 = retry_after
        .expect("a 429 says when to retry")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&seconds), "Retry-After: {seconds}");

    // A token is not limited, and its request has its own entry.
    let r = call(&server, Some(TOKEN), "POST", "/v1/transit/keys/app", None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    let id = r.body["request_id"].as_str().unwrap().to_string();

    // No entry per flooding request: the log grew by one entry's worth.
    let log = entries(&file);
    assert!(log.iter().any(|e| e["request_id"] == id.as_str()));
    assert!(
        !log.iter()
            .any(|e| e["accessor"].is_null() && e["type"] == "request"),
        "a tokenless request has an entry of its own"
    );
    let grown = std::fs::metadata(&file).unwrap().len() - before;
    assert!(grown < 2_000, "the log grew by {grown} bytes");

    // At shutdown the counts are written: one entry for this address.
    let (status, data_dir) = server.stop_keeping_data(libc::SIGTERM);
    assert!(status.success());
    let file = log_path(data_dir.path());
    let counted: Vec<Value> = entries(&file)
        .into_iter()
        .filter(|e| e["type"] == "unauthenticated")
        .collect();
    assert_eq!(counted.len(), 1, "{counted:?}");
    let entry = &counted[0];
    assert_eq!(entry["address"], "127.0.0.1");
    assert_eq!(entry["requests"], sent as u64);
    let operations = entry["operations"].as_array().unwrap();
    let count = |operation: &str, status: u64| {
        operations
            .iter()
            .filter(|o| o["operation"] == operation && o["status"] == status)
            .map(|o| o["count"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert!(count("read transit/keys/{name}", 403) > 0, "{operations:?}");
    assert!(count("update transit/encrypt/{name}", 403) > 0);
    assert!(count("update sys/join/challenge", 200) > 0);
    let all: u64 = operations
        .iter()
        .map(|o| o["count"].as_u64().unwrap())
        .sum();
    assert_eq!(all, sent as u64);
    let refused: u64 = operations
        .iter()
        .filter(|o| o["status"] == 429)
        .map(|o| o["count"].as_u64().unwrap())
        .sum();
    assert_eq!(refused, limited);
    let summary = audit_verify(&file);
    assert_eq!(summary["unauthenticated"], sent as u64, "{summary}");
}

/// A tmpfs of `size` mounted on `dir` (as root), unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` where mounting is not possible here (not root, or no
    /// permission in this container): the caller skips, except under CI.
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self(dir.to_path_buf())),
            Ok(o) => {
                let why = String::from_utf8_lossy(&o.stderr).into_owned();
                skip_or_fail(&why)
            }
            Err(e) => skip_or_fail(&e.to_string()),
        }
    }
}

fn skip_or_fail(why: &str) -> Option<Tmpfs> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "a full disk needs `mount -t tmpfs` (run as root): {why}"
    );
    eprintln!("SKIPPED: cannot mount a small tmpfs here ({why}); run as root to test a full disk");
    None
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system under `file`'s directory: writes until ENOSPC.
fn fill(file: &Path) {
    let mut f = std::fs::File::create(file).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        if let Err(e) = f.write_all(&chunk) {
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
            break;
        }
    }
}

/// The enclave's data (`DATA/enclave`, the audit log and the key store)
/// on a small file system of its own, which then fills up: requests get
/// 503 and change nothing, `sys/health` answers 503 with `audit_error`;
/// once space is freed the server serves again by itself (no restart),
/// and the log verifies, every answered request in it, no gap.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_requests_and_recovers_by_itself() {
    let data_dir = tempfile::tempdir().unwrap();
    let enclave_dir = data_dir.path().join("enclave");
    let Some(tmpfs) = Tmpfs::mount(&enclave_dir, "32m") else {
        return;
    };
    let server =
        Server::try_start_in(data_dir, DEV).unwrap_or_else(|r| panic!("did not start: {r:?}"));
    let plaintext = json!({ "plaintext": base64::engine::general_purpose::STANDARD.encode(b"x") });
    let r = call(&server, Some(TOKEN), "POST", "/v1/transit/keys/app", None).await;
    assert_eq!(r.status, 200);

    let filler = enclave_dir.join("filler");
    fill(&filler);
    // Entries still fit for a while (the log keeps room ahead); then the
    // log has no room left and every request is refused before it runs.
    let mut answered = Vec::new();
    let mut refused = None;
    for _ in 0..5_000 {
        let path = "/v1/transit/encrypt/app";
        let r = call(&server, Some(TOKEN), "POST", path, Some(plaintext.clone())).await;
        match r.status {
            200 => answered.push(r.body["request_id"].as_str().unwrap().to_string()),
            503 => {
                refused = Some(r);
                break;
            }
            other => panic!("{other}: {}", String::from_utf8_lossy(&r.raw)),
        }
    }
    let refused = refused.expect("a request refused once the disk is full");
    let message = refused.body["errors"][0].as_str().unwrap();
    assert!(message.contains("audit log cannot be written"), "{message}");
    // Nothing is done: a key create is refused and leaves no key.
    let r = call(&server, Some(TOKEN), "POST", "/v1/transit/keys/lost", None).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.raw));
    let r = call(&server, None, "POST", "/v1/sys/join/challenge", None).await;
    assert_eq!(r.status, 503);
    // Health answers, and says why.
    let health = server.get("/v1/sys/health").await;
    assert_eq!(
        health.status,
        503,
        "{}",
        String::from_utf8_lossy(&health.raw)
    );
    assert!(
        health.body["audit_error"]
            .as_str()
            .unwrap()
            .contains("audit log cannot be written"),
        "{}",
        health.body
    );
    assert_eq!(health.body["sealed"], false);

    // Room again: the server goes on by itself.
    std::fs::remove_file(&filler).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if server.get("/v1/sys/health").await.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no recovery in 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let r = call(
        &server,
        Some(TOKEN),
        "POST",
        "/v1/transit/encrypt/app",
        Some(plaintext),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
    answered.push(r.body["request_id"].as_str().unwrap().to_string());
    let r = call(&server, Some(TOKEN), "GET", "/v1/transit/keys/lost", None).await;
    assert_eq!(r.status, 404, "the refused create made a key");

    let (status, data_dir) = server.stop_keeping_data(libc::SIGTERM);
    assert!(status.success());
    let file = log_path(data_dir.path());
    let summary = audit_verify(&file);
    let log = entries(&file);
    assert_eq!(summary["entries"], log.len() as u64);
    for id in &answered {
        assert!(
            log.iter().any(|e| e["request_id"] == id.as_str()),
            "answered request {id} is not in the log"
        );
    }
    assert!(
        !log.iter().any(|e| e["key"] == "lost" && e["status"] == 200),
        "the refused create is in the log as done"
    );
    drop(tmpfs);
}
