//! Running it as a service (issue 38): `GET /v1/sys/metrics` scraped with
//! the Prometheus project's own parser, one server config file with
//! `MINIKMS_…` overrides and flags over both, `kms-host check-config`, and
//! JSON log lines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use minikms_testkit::{bin, https, Server};
use serde_json::{json, Value};

use crate::common::{dev_server, ok};

/// `interop/prometheus/run.sh FILE`: the scrape parsed by
/// `prometheus_client`'s OpenMetrics and classic parsers; what they found.
fn parsed_by_prometheus(text: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scrape.txt");
    std::fs::write(&file, text).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/prometheus/run.sh");
    // The virtualenv is made once and kept in the target dir
    // (target/debug/deps/suite-… -> target/interop-venvs).
    let exe = std::env::current_exe().unwrap();
    let cache = exe.ancestors().nth(3).unwrap().join("interop-venvs");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&file)
        .env("VENV_CACHE", cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the scrape:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of the sample `name` with these `labels` in a parse.
fn sample(parsed: &Value, name: &str, labels: Value) -> Option<f64> {
    parsed["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| (s[0] == name && s[1] == labels).then(|| s[2].as_f64().unwrap()))
}

async fn scrape(server: &Server, token: Option<&str>, query: &str) -> https::Response {
    let headers: Vec<(&str, &str)> = token.map(|t| ("X-Vault-Token", t)).into_iter().collect();
    https::send_raw(
        server.addr,
        "GET",
        &format!("/v1/sys/metrics{query}"),
        &headers,
        Vec::new(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_parse_as_prometheus_text_are_gated_by_policy_and_name_no_secret() {
    let server = dev_server("root");
    let key = "payroll-metrics-secret-name";
    for _ in 0..3 {
        ok(
            &server,
            "root",
            "POST",
            &format!("/v1/transit/encrypt/{key}"),
            json!({"plaintext": "aGVsbG8="}),
        )
        .await;
    }
    // Gated like any path: no token, or a token without `read` on
    // sys/metrics, is refused; a policy that grants it lets its token in.
    assert_eq!(
        scrape(&server, None, "?format=prometheus").await.status,
        403
    );
    let policy = r#"path "sys/metrics" { capabilities = ["read"] }"#;
    ok(
        &server,
        "root",
        "PUT",
        "/v1/sys/policy/scraper",
        json!({ "policy": policy }),
    )
    .await;
    let other = r#"path "transit/*" { capabilities = ["update"] }"#;
    ok(
        &server,
        "root",
        "PUT",
        "/v1/sys/policy/other",
        json!({ "policy": other }),
    )
    .await;
    let token = |policy: &str| {
        let server = &server;
        let policy = policy.to_string();
        async move {
            let r = ok(
                server,
                "root",
                "POST",
                "/v1/auth/token/create",
                json!({ "policies": [policy] }),
            )
            .await;
            r["auth"]["client_token"].as_str().unwrap().to_string()
        }
    };
    let scraper = token("scraper").await;
    let stranger = token("other").await;
    assert_eq!(scrape(&server, Some(&stranger), "").await.status, 403);

    let r = scrape(&server, Some(&scraper), "?format=prometheus").await;
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("application/openmetrics-text"),
        "{}",
        r.content_type
    );
    let text = String::from_utf8(r.raw.to_vec()).unwrap();
    for secret in [key, "root", &scraper, &stranger, "127.0.0.1"] {
        assert!(!text.contains(secret), "{secret:?} in the metrics:\n{text}");
    }
    let parsed = parsed_by_prometheus(&text);
    let families = parsed["families"].as_object().unwrap();
    for (name, kind) in [
        ("minikms_http_request_duration_seconds", "histogram"),
        ("minikms_connections_refused", "counter"),
        ("minikms_connections_open", "gauge"),
        ("minikms_audit_append_duration_seconds", "histogram"),
        ("minikms_audit_fsync_duration_seconds", "histogram"),
        ("minikms_store_write_duration_seconds", "histogram"),
        ("minikms_store_group_commit_batch_size", "histogram"),
        ("minikms_postgres_round_trip_duration_seconds", "histogram"),
        ("minikms_postgres_catch_up_records", "gauge"),
        ("minikms_tls_certificate_expiry_timestamp_seconds", "gauge"),
        ("minikms_sealed", "gauge"),
        ("minikms_keys", "gauge"),
        ("minikms_tokens", "gauge"),
        ("minikms_policies", "gauge"),
        ("minikms_rsa_pool_ready", "gauge"),
    ] {
        assert_eq!(
            families.get(name),
            Some(&json!(kind)),
            "{name}: {families:?}"
        );
    }
    let encrypts = sample(
        &parsed,
        "minikms_http_request_duration_seconds_count",
        json!({"family": "transit", "status": "2xx"}),
    );
    assert!(encrypts >= Some(3.0), "{encrypts:?}");
    let refused = sample(
        &parsed,
        "minikms_http_request_duration_seconds_count",
        json!({"family": "sys", "status": "4xx"}),
    );
    assert!(refused >= Some(2.0), "{refused:?}");
    assert_eq!(sample(&parsed, "minikms_keys", json!({})), Some(1.0));
    assert!(sample(&parsed, "minikms_policies", json!({})) >= Some(2.0));
    assert_eq!(sample(&parsed, "minikms_sealed", json!({})), Some(0.0));
    assert!(sample(&parsed, "minikms_connections_open", json!({})) >= Some(1.0));
    // The key's creation was a store write, fsynced in the audit log.
    assert!(
        sample(
            &parsed,
            "minikms_store_write_duration_seconds_count",
            json!({})
        ) >= Some(1.0)
    );
    assert!(
        sample(
            &parsed,
            "minikms_audit_fsync_duration_seconds_count",
            json!({})
        ) >= Some(1.0)
    );

    // Without ?format=prometheus: the same samples as JSON.
    let r = scrape(&server, Some(&scraper), "").await;
    assert_eq!(r.status, 200);
    let samples = r.body["samples"].as_array().unwrap();
    assert!(
        samples
            .iter()
            .any(|s| s["name"] == "minikms_keys" && s["value"] == 1.0),
        "{samples:?}"
    );
}

/// `kms-host ARGS` with `env`, to completion.
fn kms_host_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(bin("kms-host"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn check_config_lists_the_effective_settings_and_every_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "# the operator's settings\nport = 9443\nstorage = \"postgres://kms:hunter2@db:5432/kms\"\n\
         tls-name = [\"kms.example\", \"10.0.0.5\"]\ndev-root-token = \"s3cret-root\"\n",
    )
    .unwrap();
    let g = good.display().to_string();
    let out = kms_host_env(&["check-config", &g], &[("MINIKMS_BIND", "0.0.0.0")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        format!("port = \"9443\"    # {g}:2"),
        format!("storage = \"postgres://kms:(not shown)@db:5432/kms\"    # {g}:3"),
        format!("tls-name = [\"kms.example\", \"10.0.0.5\"]    # {g}:4"),
        format!("dev-root-token = \"(set, not shown)\"    # {g}:5"),
        "bind = \"0.0.0.0\"    # environment MINIKMS_BIND".to_string(),
        "once = false    # default".to_string(),
        "tls-cert-lifetime = \"86400\"    # default".to_string(),
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} not in:\n{stdout}"
        );
    }
    assert!(!stdout.contains("hunter2") && !stdout.contains("s3cret-root"));

    // Every error, each with its line; and `run` refuses the same file
    // before it starts anything.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "port = 9443\nprot = 9443\nmax-connections = 0\nonce = \"yes\"\ntls-name = [\"not a name!\"]\n",
    )
    .unwrap();
    let b = bad.display().to_string();
    let out = kms_host_env(&["check-config", &b], &[("MINIKMS_PORT", "http")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        format!("{b}:2: unknown setting \"prot\""),
        format!("{b}:3: "),
        format!("{b}:4: once: a switch: give true or false"),
        format!("{b}:5: "),
        "environment MINIKMS_PORT: ".to_string(),
    ] {
        assert!(stderr.contains(&needle), "{needle:?} not in:\n{stderr}");
    }
    assert_eq!(stderr.lines().count(), 5, "{stderr}");
    let data = dir.path().join("data");
    let d = data.display().to_string();
    let run = kms_host_env(&["run", "--server-config", &b, "--data-dir", &d], &[]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains(&format!("{b}:2: unknown setting")));
    assert!(!data.exists(), "run went ahead with a bad config");

    // Not TOML: the parser's line; settings that exclude each other: said.
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "port = 9443\n\nbind = \n").unwrap();
    let out = kms_host_env(&["check-config", &broken.display().to_string()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3: not valid TOML", broken.display())),
        "{stderr}"
    );
    let both = dir.path().join("both.toml");
    std::fs::write(&both, "simulation = true\nplatform = \"tsm\"\n").unwrap();
    let out = kms_host_env(&["check-config", &both.display().to_string()], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_config_with_env_overrides_and_flags_over_both_and_json_logs() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("minikms.toml");
    std::fs::write(
        &config,
        "simulation = true\nunauthenticated-metrics-access = true\n\
         tls-cert-lifetime = 1000\nlog-format = \"text\"\n",
    )
    .unwrap();
    let c = config.display().to_string();
    let server = Server::try_start_with_env(
        &["--server-config", &c, "--tls-cert-lifetime", "3000"],
        &[
            ("MINIKMS_TLS_CERT_LIFETIME", "2000"),
            ("MINIKMS_LOG_FORMAT", "json"),
        ],
    )
    .unwrap_or_else(|r| panic!("server did not start: {r:?}"));

    // The file's switches: a simulated server, metrics without a token.
    let r = scrape(&server, None, "").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // The flag's certificate lifetime, over the environment's and the file's.
    let expiry = r.body["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "minikms_tls_certificate_expiry_timestamp_seconds")
        .and_then(|s| s["value"].as_f64())
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (expiry - now - 3000.0).abs() < 120.0,
        "expires in {}",
        expiry - now
    );

    // The environment's log format, over the file's: every line is JSON,
    // the host's and the enclave's.
    let stderr = server.stderr();
    let mut components = std::collections::BTreeSet::new();
    for line in stderr.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        for field in ["timestamp", "level", "component", "message"] {
            assert!(v[field].is_string(), "{field} missing in {line}");
        }
        // RFC 3339 in UTC: 2026-12-07T23:10:00.123456789Z.
        let ts = v["timestamp"].as_str().unwrap();
        assert!(
            ts.len() >= 20 && &ts[10..11] == "T" && ts.ends_with('Z'),
            "{ts}"
        );
        components.insert(v["component"].as_str().unwrap().to_string());
    }
    assert_eq!(
        components.into_iter().collect::<Vec<_>>(),
        ["enclave", "host"],
        "{stderr}"
    );
}
