//! Audit log rotation and shipping through real processes: `kms-host run
//! --audit-max-bytes --audit-stdout` under 4 concurrent clients, rotated 5
//! times; `minikms audit verify` over the files (in any order, or from a
//! later file's checkpoint), every acknowledged request's entry exactly
//! once, and stdout carrying every entry once, in order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use minikms_testkit::{bin, shared_signing_key, signal_pid};
use serde_json::{json, Value};

use crate::common::{call, ok};

const TOKEN: &str = "s.rotation-root-token";
const ROTATIONS: usize = 5;

/// The rotated files (`audit.log.SEQ`), oldest first, then `audit.log`.
fn log_files(enclave_dir: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(enclave_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.strip_prefix("audit.log.")
                .is_some_and(|seq| seq.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    rotated.sort();
    rotated.push(enclave_dir.join("audit.log"));
    rotated
}

fn audit_verify(files: &[PathBuf]) -> Value {
    let out = Command::new(bin("minikms"))
        .args(["audit", "verify"])
        .args(files)
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

#[tokio::test(flavor = "multi_thread")]
async fn rotation_under_load_loses_and_duplicates_nothing_and_ships_every_entry() {
    let data_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        shared_signing_key(),
        data_dir.path().join("dev-signing-key.pem"),
    )
    .unwrap();
    let mut host = Command::new(bin("kms-host"))
        .args([
            "run",
            "--simulation",
            "--port",
            "0",
            "--dev-root-token",
            TOKEN,
        ])
        .args(["--audit-max-bytes", "65536", "--audit-stdout", "--data-dir"])
        .arg(data_dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let shipped = Arc::new(Mutex::new(Vec::<String>::new()));
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let reader = {
        let shipped = shipped.clone();
        let stdout = host.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let _ = first_tx.send(lines.next());
            for line in lines {
                shipped.lock().unwrap().push(line);
            }
        })
    };
    let first = first_rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .unwrap()
        .expect("a listening line");
    let addr: std::net::SocketAddr = first
        .strip_prefix("listening on https://")
        .unwrap()
        .parse()
        .unwrap();
    let enclave_dir = data_dir.path().join("enclave");
    ok(addr, TOKEN, "POST", "/v1/transit/keys/rot", json!({})).await;

    // Four clients encrypt until the log was rotated 5 times; each keeps
    // the request ids of the answers it got.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let enclave_dir = enclave_dir.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                while log_files(&enclave_dir).len() <= ROTATIONS {
                    let r = call(
                        addr,
                        TOKEN,
                        "POST",
                        "/v1/transit/encrypt/rot",
                        json!({"plaintext": "aGVsbG8="}),
                    )
                    .await;
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.raw));
                    acknowledged.push(r.body["request_id"].as_str().unwrap().to_string());
                }
                acknowledged
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap());
    }
    signal_pid(host.id(), libc::SIGTERM);
    assert!(host.wait().unwrap().success());
    reader.join().unwrap();

    let files = log_files(&enclave_dir);
    assert!(files.len() > ROTATIONS, "{files:?}");
    let lines: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.lines().map(str::to_string).collect::<Vec<_>>()
        })
        .collect();

    // Every file after the first begins with a continue entry that names
    // the previous file's last entry.
    for pair in files.windows(2) {
        let before = std::fs::read_to_string(&pair[0]).unwrap();
        let after = std::fs::read_to_string(&pair[1]).unwrap();
        let last: Value = serde_json::from_str(before.lines().last().unwrap()).unwrap();
        let first: Value = serde_json::from_str(after.lines().next().unwrap()).unwrap();
        assert_eq!(first["type"], "continue", "{}", pair[1].display());
        assert_eq!(first["seq"], last["seq"].as_u64().unwrap() + 1);
        assert!(last["sig"].is_string(), "the old file ends signed");
    }

    // The whole chain verifies, given in any order; and from a later
    // file's checkpoint without the older files.
    let mut shuffled = files.clone();
    shuffled.reverse();
    let whole = audit_verify(&shuffled);
    assert_eq!(whole["entries"], lines.len());
    assert_eq!(whole["files"], files.len());
    assert_eq!(whole["first_seq"], 1);
    let recent = audit_verify(&files[files.len() - 2..]);
    assert!(recent["first_seq"].as_u64().unwrap() > 1, "{recent}");
    assert_eq!(recent["head"], whole["head"]);

    // Each acknowledged request is recorded exactly once; no id twice.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for line in &lines {
        let entry: Value = serde_json::from_str(line).unwrap();
        if let Some(id) = entry["request_id"].as_str() {
            *seen.entry(id.to_string()).or_default() += 1;
        }
    }
    assert!(
        seen.values().all(|&n| n == 1),
        "a request id recorded twice"
    );
    for id in &acknowledged {
        assert_eq!(seen.get(id), Some(&1), "request {id} not recorded");
    }

    // --audit-stdout shipped every entry of this run, in order, once.
    let shipped = shipped.lock().unwrap().clone();
    assert_eq!(shipped, lines, "stdout differs from the files");
}
