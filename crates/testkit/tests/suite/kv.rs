//! The KV v2 engine at `secret/` through the real server (issue 36):
//! Vault's routes and shapes (versions, cas, patch, metadata, delete,
//! undelete, destroy, list, subkeys, config), bad input answered as Vault
//! answers it (never a 500), the mounts the CLI reads to pick the v2
//! paths, a secret that survives a restart sealed (never in clear on
//! disk), and audit entries that name the path and version, never a value.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use minikms_testkit::{contains, https, walk, Server};
use serde_json::{json, Value};

use crate::common::{call, entries, log_path, ok};

const TOKEN: &str = "s.kv-root-token";
const DEV: &[&str] = &["--simulation", "--dev-root-token", TOKEN];
/// A value that must never be seen outside an answer to its reader.
const VALUE: &str = "hunter2-kv-value-9f3a";

/// `data` of a successful answer.
async fn data(server: &Server, method: &str, path: &str, body: impl Into<Option<Value>>) -> Value {
    ok(server, TOKEN, method, path, body).await["data"].clone()
}

/// The status and errors of an answer.
async fn status(
    server: &Server,
    method: &str,
    path: &str,
    body: impl Into<Option<Value>>,
) -> (u16, Value) {
    let r = call(server, TOKEN, method, path, body).await;
    (r.status, r.body["errors"].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_v2_answers_as_vault_survives_a_restart_and_audits_no_value() {
    let server = Server::try_start(DEV).unwrap_or_else(|r| panic!("did not start: {r:?}"));
    let s = &server;

    // The mounts: `secret/` is KV version 2, so `bao kv` picks the v2 paths.
    let mounts = data(s, "GET", "/v1/sys/mounts", None).await;
    assert_eq!(mounts["secret/"]["type"], "kv");
    assert_eq!(mounts["secret/"]["options"]["version"], "2");
    let m = data(s, "GET", "/v1/sys/internal/ui/mounts/secret/db", None).await;
    assert_eq!(
        (m["path"].clone(), m["options"]["version"].clone()),
        (json!("secret/"), json!("2"))
    );

    // Versions.
    let v1 = data(
        s,
        "POST",
        "/v1/secret/data/db",
        json!({"data": {"password": VALUE, "user": "app"}}),
    )
    .await;
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["destroyed"], false);
    assert_eq!(v1["deletion_time"], "");
    assert!(v1["created_time"].as_str().unwrap().ends_with('Z'));
    let v2 = data(
        s,
        "PUT",
        "/v1/secret/data/db",
        json!({"data": {"password": "second", "user": "app"}}),
    )
    .await;
    assert_eq!(v2["version"], 2);
    let read = data(s, "GET", "/v1/secret/data/db", None).await;
    assert_eq!(read["data"], json!({"password": "second", "user": "app"}));
    assert_eq!(read["metadata"]["version"], 2);
    let old = data(s, "GET", "/v1/secret/data/db?version=1", None).await;
    assert_eq!(old["data"]["password"], VALUE);

    // Check-and-set: Vault's 400 and message.
    let (code, errors) = status(
        s,
        "POST",
        "/v1/secret/data/db",
        json!({"options": {"cas": 1}, "data": {"a": "b"}}),
    )
    .await;
    assert_eq!(
        (code, errors),
        (
            400,
            json!(["check-and-set parameter did not match the current version"])
        )
    );
    let v3 = data(
        s,
        "POST",
        "/v1/secret/data/db",
        json!({"options": {"cas": 2}, "data": {"password": "third", "user": "app"}}),
    )
    .await;
    assert_eq!(v3["version"], 3);

    // Patch: only with Vault's content type; null removes a field.
    let r = https::send_raw(
        s.addr,
        "PATCH",
        "/v1/secret/data/db",
        &[
            ("X-Vault-Token", TOKEN),
            ("content-type", "application/json"),
        ],
        br#"{"data":{"user":"x"}}"#.to_vec(),
    )
    .await;
    assert_eq!(r.status, 415, "{:?}", r.body);
    let r = https::send_raw(
        s.addr,
        "PATCH",
        "/v1/secret/data/db",
        &[
            ("X-Vault-Token", TOKEN),
            ("content-type", "application/merge-patch+json"),
        ],
        br#"{"data":{"user":null,"port":5432}}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (r.status, r.body["data"]["version"].clone()),
        (200, json!(4)),
        "{:?}",
        r.body
    );
    let read = data(s, "GET", "/v1/secret/data/db", None).await;
    assert_eq!(read["data"], json!({"password": "third", "port": 5432}));
    let r = https::send_raw(
        s.addr,
        "PATCH",
        "/v1/secret/data/none",
        &[
            ("X-Vault-Token", TOKEN),
            ("content-type", "application/merge-patch+json"),
        ],
        br#"{"data":{"a":"b"}}"#.to_vec(),
    )
    .await;
    assert_eq!(r.status, 404);

    // Subkeys: the keys, not the values.
    let sub = data(s, "GET", "/v1/secret/subkeys/db", None).await;
    assert_eq!(sub["subkeys"], json!({"password": null, "port": null}));

    // Soft delete, undelete, destroy.
    assert_eq!(
        call(s, TOKEN, "DELETE", "/v1/secret/data/db", None)
            .await
            .status,
        204
    );
    let r = call(s, TOKEN, "GET", "/v1/secret/data/db", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["data"]["data"], Value::Null);
    assert_ne!(r.body["data"]["metadata"]["deletion_time"], "");
    ok(
        s,
        TOKEN,
        "POST",
        "/v1/secret/undelete/db",
        json!({"versions": [4]}),
    )
    .await;
    assert_eq!(
        data(s, "GET", "/v1/secret/data/db", None).await["data"]["port"],
        5432
    );
    ok(
        s,
        TOKEN,
        "POST",
        "/v1/secret/destroy/db",
        json!({"versions": [2]}),
    )
    .await;
    let r = call(s, TOKEN, "GET", "/v1/secret/data/db?version=2", None).await;
    assert_eq!(
        (r.status, r.body["data"]["metadata"]["destroyed"].clone()),
        (404, json!(true))
    );
    ok(
        s,
        TOKEN,
        "POST",
        "/v1/secret/delete/db",
        json!({"versions": [3]}),
    )
    .await;
    assert_eq!(
        status(s, "POST", "/v1/secret/delete/db", json!({})).await,
        (400, json!(["No version number provided"]))
    );

    // Metadata: max_versions trims, cas_required, custom_metadata.
    ok(
        s,
        TOKEN,
        "POST",
        "/v1/secret/metadata/db",
        json!({"max_versions": 2, "cas_required": true, "custom_metadata": {"owner": "ops"}, "delete_version_after": "1h"}),
    )
    .await;
    let meta = data(s, "GET", "/v1/secret/metadata/db", None).await;
    assert_eq!(meta["current_version"], 4);
    assert_eq!(meta["oldest_version"], 3);
    assert_eq!(meta["max_versions"], 2);
    assert_eq!(meta["delete_version_after"], "1h0m0s");
    assert_eq!(meta["custom_metadata"], json!({"owner": "ops"}));
    let kept: Vec<&String> = meta["versions"].as_object().unwrap().keys().collect();
    assert_eq!(kept, ["3", "4"]);
    assert_eq!(
        status(s, "POST", "/v1/secret/data/db", json!({"data": {"a": "b"}})).await,
        (
            400,
            json!(["check-and-set parameter required for this call"])
        )
    );
    let v5 = data(
        s,
        "POST",
        "/v1/secret/data/db",
        json!({"options": {"cas": 4}, "data": {"a": "b"}}),
    )
    .await;
    assert_eq!(v5["custom_metadata"], json!({"owner": "ops"}));
    assert_ne!(v5["deletion_time"], "", "delete_version_after sets it");
    assert_eq!(
        status(s, "GET", "/v1/secret/data/db?version=1", None)
            .await
            .0,
        404
    );

    // List: secrets and folders; nothing there is Vault's bare 404.
    data(
        s,
        "POST",
        "/v1/secret/data/app/one",
        json!({"data": {"k": "v"}}),
    )
    .await;
    data(
        s,
        "POST",
        "/v1/secret/data/app/sub/two",
        json!({"data": {"k": "v"}}),
    )
    .await;
    let keys = data(s, "LIST", "/v1/secret/metadata/", None).await["keys"].clone();
    assert_eq!(keys, json!(["app/", "db"]));
    let keys = data(s, "GET", "/v1/secret/metadata/app?list=true", None).await["keys"].clone();
    assert_eq!(keys, json!(["one", "sub/"]));
    assert_eq!(
        status(s, "LIST", "/v1/secret/metadata/nothing", None).await,
        (404, json!([]))
    );
    assert_eq!(
        status(s, "GET", "/v1/secret/data/nothing", None).await,
        (404, json!([]))
    );
    assert_eq!(
        call(s, TOKEN, "DELETE", "/v1/secret/metadata/app/one", None)
            .await
            .status,
        204
    );
    assert_eq!(
        status(s, "GET", "/v1/secret/metadata/app/one", None)
            .await
            .0,
        404
    );

    // Config.
    ok(
        s,
        TOKEN,
        "POST",
        "/v1/secret/config",
        json!({"max_versions": 5}),
    )
    .await;
    let config = data(s, "GET", "/v1/secret/config", None).await;
    assert_eq!(
        (
            config["max_versions"].clone(),
            config["cas_required"].clone()
        ),
        (json!(5), json!(false))
    );

    // Bad input: Vault's 400s, never a 500, and nothing written.
    let deep = (0..200).fold(json!("x"), |v, _| json!({ "d": v }));
    let bad: Vec<(&str, &str, Value, &str)> = vec![
        (
            "POST",
            "/v1/secret/data/bad",
            json!({"data": "x"}),
            "JSON object",
        ),
        (
            "POST",
            "/v1/secret/data/bad",
            json!({"data": [1]}),
            "JSON object",
        ),
        ("POST", "/v1/secret/data/bad", json!({}), "no data provided"),
        (
            "POST",
            "/v1/secret/data/bad",
            json!({"data": deep}),
            "invalid request body",
        ),
        (
            "POST",
            "/v1/secret/data/bad/",
            json!({"data": {"a": "b"}}),
            "ending in '/'",
        ),
        (
            "POST",
            "/v1/secret/data/a/%2e%2e/db",
            json!({"data": {"a": "b"}}),
            "relative paths not supported",
        ),
        (
            "POST",
            "/v1/secret/data/a%2F..%2Fdb",
            json!({"data": {"a": "b"}}),
            "relative paths not supported",
        ),
        (
            "GET",
            "/v1/secret/data/a/../db",
            Value::Null,
            "relative paths not supported",
        ),
        (
            "POST",
            "/v1/secret/data/a//db",
            json!({"data": {"a": "b"}}),
            "empty segment",
        ),
        (
            "GET",
            "/v1/secret/data/db?version=abc",
            Value::Null,
            "whole number",
        ),
        (
            "POST",
            "/v1/secret/metadata/db",
            json!({"max_versions": 1000}),
            "at most 100",
        ),
        (
            "POST",
            "/v1/secret/undelete/db",
            json!({"versions": ["x"]}),
            "invalid request body",
        ),
        (
            "POST",
            "/v1/secret/config",
            json!({"max_versions": "abc"}),
            "invalid request body",
        ),
    ];
    for (method, path, body, expected) in bad {
        let body = (!body.is_null()).then_some(body);
        let (code, errors) = status(s, method, path, body).await;
        assert_eq!(code, 400, "{method} {path}: {errors}");
        assert!(
            errors.to_string().contains(expected),
            "{method} {path}: {errors}"
        );
    }
    let long = format!("/v1/secret/data/{}", "a".repeat(300));
    assert_eq!(
        status(s, "POST", &long, json!({"data": {"a": "b"}}))
            .await
            .0,
        400
    );
    assert_eq!(status(s, "GET", "/v1/secret/data/bad", None).await.0, 404);
    // Percent-encoded slashes name the same secret as plain ones, as in Vault.
    data(
        s,
        "POST",
        "/v1/secret/data/enc%2Fpath",
        json!({"data": {"k": "v"}}),
    )
    .await;
    assert_eq!(
        data(s, "GET", "/v1/secret/data/enc/path", None).await["data"]["k"],
        "v"
    );

    // A policy on secret/data/app/* reads there and nowhere else.
    ok(
        s,
        TOKEN,
        "PUT",
        "/v1/sys/policy/app-read",
        json!({"policy": "path \"secret/data/app/*\" { capabilities = [\"read\"] }"}),
    )
    .await;
    let child = ok(
        s,
        TOKEN,
        "POST",
        "/v1/auth/token/create",
        json!({"policies": ["app-read"]}),
    )
    .await["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        call(s, &child, "GET", "/v1/secret/data/app/sub/two", None)
            .await
            .status,
        200
    );
    assert_eq!(
        call(s, &child, "GET", "/v1/secret/data/db", None)
            .await
            .status,
        403
    );
    let r = call(
        s,
        &child,
        "POST",
        "/v1/secret/data/app/new",
        json!({"data": {"a": "b"}}),
    )
    .await;
    assert_eq!(r.status, 403);

    // The secret survives a restart, sealed: its value is nowhere on disk.
    let (stopped, data_dir) = server.stop_keeping_data(libc::SIGTERM);
    assert!(stopped.success());
    for file in walk(data_dir.path()) {
        if file
            .file_name()
            .is_some_and(|n| n == "minikms-enclave.signed")
        {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, VALUE.as_bytes()),
            "{} holds the value",
            file.display()
        );
    }
    // The audit log names paths and versions, never a value.
    let log = entries(&log_path(data_dir.path()));
    let text = std::fs::read_to_string(log_path(data_dir.path())).unwrap();
    assert!(
        !text.contains(VALUE) && !text.contains("third"),
        "a value in the audit log"
    );
    let first_read = log
        .iter()
        .find(|e| e["operation"] == "read secret/data/{*path}" && e["key"] == "db")
        .unwrap_or_else(|| panic!("no read of secret/data/db in {text}"));
    assert_eq!(first_read["key_version"], 2, "{first_read}");

    let server =
        Server::try_start_in(data_dir, DEV).unwrap_or_else(|r| panic!("did not restart: {r:?}"));
    let read = data(&server, "GET", "/v1/secret/data/db?version=4", None).await;
    assert_eq!(read["data"]["port"], 5432);
    let meta = data(&server, "GET", "/v1/secret/metadata/db", None).await;
    assert_eq!(
        (
            meta["current_version"].clone(),
            meta["cas_required"].clone()
        ),
        (json!(5), json!(true))
    );
}

/// A release-only secret: an attested workload reads it wrapped to its
/// key (`?recipient=attested`, the key-release format); no ordinary token,
/// root included, reads it in clear, and the mark cannot be taken off.
#[tokio::test(flavor = "multi_thread")]
async fn a_release_only_secret_goes_only_to_an_attested_workload() {
    use base64::Engine;
    use minikms_client::login::Session;
    use minikms_client::workload::SimulatedWorkload;
    use minikms_testkit::shared_signing_key;

    use crate::key_release::{attestation, mrsigner, url, workload};

    let server = Server::try_start(DEV).unwrap_or_else(|r| panic!("did not start: {r:?}"));
    let s = &server;
    let dir = tempfile::tempdir().unwrap();
    let a = workload(dir.path(), "a", shared_signing_key(), 2, false);
    ok(
        s,
        TOKEN,
        "PUT",
        "/v1/sys/policy/db-reader",
        json!({"policy": "path \"secret/data/db\" { capabilities = [\"read\"] }"}),
    )
    .await;
    ok(
        s,
        TOKEN,
        "POST",
        "/v1/auth/attest/role/app",
        json!({
            "mrsigner": [mrsigner(&a)], "mrenclave": [], "product_id": 1, "min_svn": 2,
            "allow_debug": false, "allow_simulation": true, "policies": ["db-reader"], "ttl": "1h"
        }),
    )
    .await;
    ok(
        s,
        TOKEN,
        "POST",
        "/v1/secret/metadata/db",
        json!({"release_only_to_attested": true}),
    )
    .await;
    data(
        s,
        "POST",
        "/v1/secret/data/db",
        json!({"data": {"password": VALUE}}),
    )
    .await;

    // Root reads neither the data nor its subkeys in clear, and cannot
    // take the mark off.
    for path in [
        "/v1/secret/data/db",
        "/v1/secret/data/db?version=1",
        "/v1/secret/subkeys/db",
    ] {
        let (code, errors) = status(s, "GET", path, None).await;
        assert_eq!(code, 403, "{path}");
        assert!(
            errors[0].as_str().unwrap().contains("release-only"),
            "{errors}"
        );
    }
    let (code, _) = status(
        s,
        "POST",
        "/v1/secret/metadata/db",
        json!({"release_only_to_attested": false}),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        data(s, "GET", "/v1/secret/metadata/db", None).await["release_only_to_attested"],
        true
    );
    // recipient=attested needs a token from the attested login.
    assert_eq!(
        status(s, "GET", "/v1/secret/data/db?recipient=attested", None)
            .await
            .0,
        403
    );

    // The workload logs in with its evidence and gets the data wrapped.
    let w = SimulatedWorkload::from_signed_file(&a, None).unwrap();
    let mut session = Session::login(&url(s.addr), attestation(), "app", &w)
        .await
        .unwrap();
    let answer = session
        .client()
        .api("GET", "secret/data/db?recipient=attested", None)
        .await
        .unwrap();
    assert!(!answer.to_string().contains(VALUE), "{answer}");
    assert_eq!(answer["data"]["metadata"]["version"], 1);
    let wrapped = base64::engine::general_purpose::STANDARD
        .decode(answer["data"]["wrapped_data"].as_str().unwrap())
        .unwrap();
    let opened: Value = serde_json::from_slice(&session.key().unwrap(&wrapped).unwrap()).unwrap();
    assert_eq!(opened, json!({"password": VALUE}));
    // Its token, without recipient, is refused the clear answer too.
    let r = session.client().api("GET", "secret/data/db", None).await;
    assert!(r.is_err(), "read in clear: {r:?}");
}
