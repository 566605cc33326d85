//! Rollback: `keys.redb` or `audit.log` put back (or cut) alone is refused
//! at start, naming what disagrees; both put back together start (nothing
//! inside can tell), but the `minikms` client, which remembers the state's
//! generation and audit head per server, refuses to go on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use minikms_testkit::{bin, copy_dir, https, Server};
use serde_json::{json, Value};

const TOKEN: &str = "rollback-root";
const DEV: &[&str] = &["--simulation", "--dev-root-token", TOKEN];

async fn call(server: &Server, method: &str, path: &str, body: Value) -> https::Response {
    let r = crate::common::call(server, TOKEN, method, path, body).await;
    assert!(r.status < 300, "{method} {path}: {}", r.status);
    r
}

fn store(dir: &Path) -> PathBuf {
    dir.join("enclave/keys.redb")
}

fn log(dir: &Path) -> PathBuf {
    dir.join("enclave/audit.log")
}

fn copy(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    copy_dir(from, to.path());
    to
}

/// Starts on `dir` and expects a refusal whose error line says `says`.
fn assert_refused(dir: tempfile::TempDir, what: &str, says: &[&str]) -> String {
    let refusal = match Server::try_start_in(dir, DEV) {
        Ok(server) => panic!("{what}: started on {}", server.addr),
        Err(refusal) => refusal,
    };
    assert_eq!(refusal.status.code(), Some(1), "{what}: {}", refusal.stderr);
    let error = refusal
        .stderr
        .lines()
        .find(|l| l.starts_with("kms-host: error: "))
        .unwrap_or_else(|| panic!("{what}: no error line: {}", refusal.stderr))
        .to_string();
    for s in says {
        assert!(error.contains(s), "{what}: {error}");
    }
    eprintln!("{what}: {error}");
    error
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_or_a_log_rolled_back_alone_is_refused() {
    let server = Server::try_start(DEV).unwrap();
    call(&server, "POST", "/v1/transit/keys/k", json!({})).await;
    let token = call(
        &server,
        "POST",
        "/v1/auth/token/create",
        json!({"policies": ["default"]}),
    )
    .await;
    let accessor = token.body["auth"]["accessor"].as_str().unwrap().to_string();
    let (_, dir) = server.stop_keeping_data(libc::SIGTERM);
    let older = copy(dir.path());

    let server = Server::try_start_in(dir, DEV).unwrap();
    call(&server, "POST", "/v1/transit/keys/k/rotate", json!({})).await;
    call(
        &server,
        "POST",
        "/v1/auth/token/revoke-accessor",
        json!({ "accessor": accessor }),
    )
    .await;
    let (_, newer) = server.stop_keeping_data(libc::SIGTERM);

    // The older keys.redb (the token not revoked, the key not rotated)
    // with the newer log.
    let d = copy(newer.path());
    std::fs::copy(store(older.path()), store(d.path())).unwrap();
    assert_refused(
        d,
        "older keys.redb",
        &["keys.redb is at generation", "keys.redb was rolled back"],
    );

    // The older log with the newer keys.redb.
    let d = copy(newer.path());
    std::fs::copy(log(older.path()), log(d.path())).unwrap();
    assert_refused(
        d,
        "older audit.log",
        &["but keys.redb recorded its entry", "audit log was cut"],
    );

    // The newer log's last whole line dropped (after a clean stop, the
    // store recorded it).
    let d = copy(newer.path());
    let text = std::fs::read_to_string(log(d.path())).unwrap();
    let cut = text[..text.len() - 1].rfind('\n').unwrap() + 1;
    std::fs::write(log(d.path()), &text[..cut]).unwrap();
    assert_refused(
        d,
        "last line dropped",
        &["ends at entry", "audit log was cut"],
    );

    // The log deleted.
    let d = copy(newer.path());
    std::fs::remove_file(log(d.path())).unwrap();
    assert_refused(d, "audit.log deleted", &["is empty or missing"]);

    // Untouched, it starts, with the rotation and the revocation.
    let server = Server::try_start_in(newer, DEV).unwrap();
    let r = https::send_json(
        server.addr,
        "GET",
        "/v1/transit/keys/k",
        &[("X-Vault-Token", TOKEN)],
        None,
    )
    .await;
    assert_eq!(r.body["data"]["latest_version"], 2);
}

struct Run {
    ok: bool,
    stderr: String,
}

/// `minikms status` against `server`, remembering in `memory`.
async fn status(server: &Server, memory: &Path, extra: &[&str]) -> Run {
    let enclave = server.signed_enclave().to_path_buf();
    let out = tokio::process::Command::new(bin("minikms"))
        .args([
            "--server",
            &format!("https://{}", server.addr),
            "--enclave",
            enclave.to_str().unwrap(),
            "--allow-simulation",
        ])
        .args(extra)
        .arg("status")
        .env("MINIKMS_FRESHNESS_FILE", memory)
        .env_remove("MINIKMS_SERVER")
        .output()
        .await
        .unwrap();
    Run {
        ok: out.status.success(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whole_state_rollback_is_refused_by_the_client() {
    let work = tempfile::tempdir().unwrap();
    let memory = work.path().join("freshness.json");
    let server = Server::try_start(DEV).unwrap();
    // A server restarts at its address: the client remembers it there.
    let port = server.addr.port().to_string();
    let again = [DEV, &["--port", port.as_str()]].concat();
    call(&server, "POST", "/v1/transit/keys/k", json!({})).await;
    let run = status(&server, &memory, &[]).await;
    assert!(run.ok, "{}", run.stderr);
    let (_, dir) = server.stop_keeping_data(libc::SIGTERM);
    let older = copy(dir.path());

    // More writes, and a restart the client sees.
    let server = Server::try_start_in(dir, &again).unwrap();
    call(&server, "POST", "/v1/transit/keys/k/rotate", json!({})).await;
    let (_, dir) = server.stop_keeping_data(libc::SIGTERM);
    let server = Server::try_start_in(dir, &again).unwrap();
    let run = status(&server, &memory, &[]).await;
    assert!(run.ok, "{}", run.stderr);
    let remembered: Value = serde_json::from_slice(&std::fs::read(&memory).unwrap()).unwrap();
    let seen = remembered["servers"].as_object().unwrap();
    assert_eq!(seen.len(), 1, "{remembered}");
    let (_, newer) = server.stop_keeping_data(libc::SIGTERM);

    // Both files put back together: the enclave cannot tell...
    let server = Server::try_start_in(older, &again).unwrap();
    // ...the client can.
    let run = status(&server, &memory, &[]).await;
    assert!(!run.ok, "accepted a rolled-back server");
    assert!(
        run.stderr.contains("the server's state went backwards")
            && run.stderr.contains("--accept-rollback"),
        "{}",
        run.stderr
    );
    // A deliberate restore: accepted once, then remembered.
    let run = status(&server, &memory, &["--accept-rollback"]).await;
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stderr.contains("accepted the server's older state"));
    let run = status(&server, &memory, &[]).await;
    assert!(run.ok, "{}", run.stderr);
    drop(server);
    drop(newer);
}
