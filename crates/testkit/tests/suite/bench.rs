//! `minikms bench` against a real server: it runs, verifies the enclave,
//! and reports its numbers as JSON. Timing targets are never asserted here
//! (they depend on the machine); see bench/run.sh and the README.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use minikms_testkit::{bin, Server};

const TOKEN: &str = "bench-test-token";

/// `minikms bench` (1 s, c2, JSON) against `server`, with `extra` args.
fn run_bench(server: &Server, extra: &[&str]) -> std::process::Output {
    let url = format!("https://{}", server.addr);
    let enclave = server.signed_enclave().to_path_buf();
    std::process::Command::new(bin("minikms"))
        .args([
            "--server",
            &url,
            "--enclave",
            enclave.to_str().unwrap(),
            "--allow-simulation",
            "--token",
            TOKEN,
            "bench",
            "--duration",
            "1",
            "--concurrency",
            "2",
            "--json",
        ])
        .args(extra)
        .env_remove("MINIKMS_SERVER")
        .env_remove("MINIKMS_TOKEN")
        .env_remove("VAULT_TOKEN")
        .output()
        .unwrap()
}

/// A run that must succeed with no errors: its JSON report.
fn bench(server: &Server, extra: &[&str]) -> serde_json::Value {
    let out = run_bench(server, extra);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{extra:?}: {stdout}\n{stderr}");
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for field in [
        "ops_per_sec",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
        "errors",
    ] {
        assert!(json[field].is_number(), "{field} in {json}");
    }
    assert_eq!(json["errors"], 0, "{json}");
    assert!(json["ops_per_sec"].as_f64().unwrap() > 0.0, "{json}");
    assert!(
        json["p50_ms"].as_f64().unwrap() <= json["max_ms"].as_f64().unwrap(),
        "{json}"
    );
    json
}

#[test]
fn bench_reports_json_for_health_encrypt_batches_and_other_ops() {
    let server = Server::try_start(&["--simulation", "--dev-root-token", TOKEN]).unwrap();

    let health = bench(&server, &["--op", "health"]);
    assert_eq!(health["op"], "health");

    let batch = bench(&server, &["--op", "encrypt", "--batch", "10"]);
    assert_eq!(batch["batch"], 10);
    assert_eq!(
        batch["items"].as_u64().unwrap(),
        batch["requests"].as_u64().unwrap() * 10
    );

    for op in [
        &["--op", "decrypt"][..],
        &["--op", "verify", "--key-type", "ed25519", "--batch", "3"],
        &["--op", "datakey"],
        &["--op", "create-key"],
        &["--op", "attest"],
        &["--op", "health", "--new-connections"],
    ] {
        bench(&server, op);
    }

    // A plan the server refuses stops before the run, with its answer.
    let out = run_bench(&server, &["--op", "sign", "--key-type", "aes256-gcm96"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("the first request failed, so nothing was measured")
            && stderr.contains("does not support signing"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bench_refuses_what_it_cannot_measure() {
    // No server needed: the arguments are checked first.
    let out = std::process::Command::new(bin("minikms"))
        .args([
            "--server",
            "https://127.0.0.1:1",
            "--any-enclave",
            "--allow-simulation",
            "bench",
            "--op",
            "encrypt",
        ])
        .env_remove("MINIKMS_TOKEN")
        .env_remove("VAULT_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("--token"), "{stderr}");
    assert!(out.stdout.is_empty());
}
