//! Several replicas on one PostgreSQL database (`kms-host run --storage
//! postgres://…`, further ones with `--join`): every replica serves, a
//! write acknowledged by one is seen by the next request to any other,
//! concurrent writers lose nothing, crashes of a replica or of the
//! database lose no acknowledged write, and the database holds only
//! sealed rows, which replicas refuse once edited, hidden behind their
//! version column, or put back from an older copy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use minikms_testkit::postgres::Postgres;
use minikms_testkit::{bin, contains, copy_dir, https, Server};
use serde_json::{json, Value};

use crate::common;

const TOKEN: &str = "hvs.replicas-test-root";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The first replica: initialises the empty database.
fn first(pg: &Postgres) -> Server {
    Server::try_start(&[
        "--simulation",
        "--storage",
        &pg.url,
        "--dev-root-token",
        TOKEN,
    ])
    .unwrap_or_else(|r| panic!("the first replica did not start: {r:?}"))
}

/// The arguments of a replica joining `peer`, as docs/replicas.md gives
/// them.
fn joiner_args(pg: &Postgres, peer: &Server) -> Vec<String> {
    let join = format!("https://{}", peer.addr);
    let args = ["--simulation", "--storage", &pg.url, "--join", &join];
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.extend(["--dev-root-token".into(), TOKEN.into()]);
    args
}

/// Another replica, joining `peer`.
fn joiner(pg: &Postgres, peer: &Server) -> Server {
    let args = joiner_args(pg, peer);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::try_start(&args).unwrap_or_else(|r| panic!("a joining replica did not start: {r:?}"))
}

/// A replica that joined `peer`, started again on its data dir `dir`.
fn restarted(
    pg: &Postgres,
    peer: &Server,
    dir: tempfile::TempDir,
) -> Result<Server, minikms_testkit::Refusal> {
    let args = joiner_args(pg, peer);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::try_start_in(dir, &args)
}

async fn call(server: &Server, method: &str, path: &str, body: Option<Value>) -> https::Response {
    common::call(server, TOKEN, method, path, body).await
}

/// `call`, which must succeed.
async fn ok(server: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let r = call(server, method, path, body).await;
    assert!(
        r.status == 200 || r.status == 204,
        "{method} {path} on {}: {} {}",
        server.addr,
        r.status,
        r.body
    );
    r.body
}

async fn latest_version(server: &Server, name: &str) -> u64 {
    let info = ok(server, "GET", &format!("/v1/transit/keys/{name}"), None).await;
    info["data"]["latest_version"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_write_on_one_replica_is_seen_by_the_next_request_to_any_other() {
    let pg = Postgres::start();
    let a = first(&pg);
    let b = joiner(&pg, &a);
    let c = joiner(&pg, &b);
    assert!(b.stderr().contains("joined"), "{}", b.stderr());
    let status = https::get(c.addr, "/v1/sys/seal-status").await;
    assert_eq!(
        status.body["storage_type"], "postgresql",
        "{:?}",
        status.body
    );

    // Create on A; B and C see it, and decrypt what another encrypted.
    ok(&a, "POST", "/v1/transit/keys/k", Some(json!({}))).await;
    assert_eq!(latest_version(&b, "k").await, 1);
    let plain = B64.encode("across replicas");
    let ct = ok(
        &b,
        "POST",
        "/v1/transit/encrypt/k",
        Some(json!({"plaintext": plain})),
    )
    .await;
    let ct = ct["data"]["ciphertext"].as_str().unwrap().to_string();
    let back = ok(
        &c,
        "POST",
        "/v1/transit/decrypt/k",
        Some(json!({"ciphertext": ct})),
    )
    .await;
    assert_eq!(back["data"]["plaintext"], plain);

    // A KV secret written on A is read on C, and the version B makes
    // next is the one A reads (issue 36: secrets are records like keys).
    let put = Some(json!({"data": {"password": "one"}}));
    ok(&a, "POST", "/v1/secret/data/db", put).await;
    let read = ok(&c, "GET", "/v1/secret/data/db", None).await;
    assert_eq!(read["data"]["data"]["password"], "one");
    let put = Some(json!({"options": {"cas": 1}, "data": {"password": "two"}}));
    ok(&b, "POST", "/v1/secret/data/db", put).await;
    let read = ok(&a, "GET", "/v1/secret/data/db", None).await;
    assert_eq!(read["data"]["data"]["password"], "two");
    assert_eq!(read["data"]["metadata"]["version"], 2);

    // Rotate on B; C encrypts with version 2 at once, A reads it.
    ok(&b, "POST", "/v1/transit/keys/k/rotate", None).await;
    let ct2 = ok(
        &c,
        "POST",
        "/v1/transit/encrypt/k",
        Some(json!({"plaintext": plain})),
    )
    .await;
    assert!(ct2["data"]["ciphertext"]
        .as_str()
        .unwrap()
        .starts_with("vault:v2:"));
    assert_eq!(latest_version(&a, "k").await, 2);

    // Config on C; A refuses decrypting version 1 right after.
    let config = json!({"min_decryption_version": 2, "deletion_allowed": true});
    ok(&c, "POST", "/v1/transit/keys/k/config", Some(config)).await;
    let old = call(
        &a,
        "POST",
        "/v1/transit/decrypt/k",
        Some(json!({"ciphertext": ct})),
    )
    .await;
    assert_eq!(old.status, 400, "{}", old.body);

    // Policy written on A, read on B; token made on B under it, used on C.
    let policy = r#"path "transit/encrypt/k" { capabilities = ["update"] }"#;
    ok(
        &a,
        "PUT",
        "/v1/sys/policy/enc",
        Some(json!({"policy": policy})),
    )
    .await;
    let read = ok(&b, "GET", "/v1/sys/policy/enc", None).await;
    assert!(read.to_string().contains("transit/encrypt/k"), "{read}");
    let made = ok(
        &b,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["enc"]})),
    )
    .await;
    let token = made["auth"]["client_token"].as_str().unwrap().to_string();
    let body = json!({"plaintext": plain});
    let used = common::call(
        &c,
        &token,
        "POST",
        "/v1/transit/encrypt/k",
        Some(body.clone()),
    )
    .await;
    assert_eq!(used.status, 200, "{}", used.body);

    // Revoked on A: refused by B and C at once.
    ok(
        &a,
        "POST",
        "/v1/auth/token/revoke",
        Some(json!({"token": token})),
    )
    .await;
    for s in [&b, &c] {
        let r = common::call(
            s,
            &token,
            "POST",
            "/v1/transit/encrypt/k",
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            r.status, 403,
            "a revoked token served on {}: {}",
            s.addr, r.body
        );
    }

    // Policy deleted on B: C no longer lists it.
    ok(&b, "DELETE", "/v1/sys/policy/enc", None).await;
    let r = call(&c, "GET", "/v1/sys/policy/enc", None).await;
    assert_eq!(r.status, 404, "{}", r.body);

    // Deleted on C: gone on A and B.
    ok(&c, "DELETE", "/v1/transit/keys/k", None).await;
    for s in [&a, &b] {
        let r = call(s, "GET", "/v1/transit/keys/k", None).await;
        assert_eq!(
            r.status, 404,
            "a deleted key is still on {}: {}",
            s.addr, r.body
        );
    }

    // Each replica's own audit log verifies; together, merged by time.
    let logs: Vec<_> = [&a, &b, &c]
        .iter()
        .map(|s| s.data_dir.path().join("enclave/audit.log"))
        .collect();
    let out = Command::new(bin("minikms"))
        .args(["audit", "verify"])
        .args(&logs)
        .args(["--allow-simulation", "--allow-debug"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["logs"].as_array().unwrap().len(), 3, "{report}");
    let merged = report["merged"].as_array().unwrap();
    let times: Vec<&str> = merged
        .iter()
        .map(|m| m["entry"]["time"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "not merged by time: {times:?}"
    );
    for log in 0..3 {
        assert!(
            merged.iter().any(|m| m["log"] == log),
            "no entry of log {log}"
        );
    }
    let revoke = merged
        .iter()
        .position(|m| m["entry"]["operation"] == "update auth/token/revoke")
        .expect("the revoke is in A's log");
    assert_eq!(merged[revoke]["log"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_on_two_replicas_lose_nothing() {
    let pg = Postgres::start();
    let a = first(&pg);
    let b = joiner(&pg, &a);
    let c = joiner(&pg, &a);
    ok(&a, "POST", "/v1/transit/keys/r", Some(json!({}))).await;

    // 10 rotations on each of A and B, all at once: 21 versions.
    let mut rotations = Vec::new();
    for _ in 0..10 {
        for s in [a.addr, b.addr] {
            rotations.push(tokio::spawn(async move {
                let headers = [("X-Vault-Token", TOKEN)];
                https::send_json(s, "POST", "/v1/transit/keys/r/rotate", &headers, None)
                    .await
                    .status
            }));
        }
    }
    for r in rotations {
        assert_eq!(r.await.unwrap(), 200);
    }
    for s in [&a, &b, &c] {
        assert_eq!(latest_version(s, "r").await, 21, "on {}", s.addr);
    }

    // A token of 6 uses, spent from three replicas at once: 6 requests
    // served, never more.
    let made = ok(
        &a,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"num_uses": 6})),
    )
    .await;
    let token = made["auth"]["client_token"].as_str().unwrap().to_string();
    let mut uses = Vec::new();
    for _ in 0..6 {
        for s in [a.addr, b.addr, c.addr] {
            let token = token.clone();
            uses.push(tokio::spawn(async move {
                let headers = [("X-Vault-Token", token.as_str())];
                https::send_json(s, "GET", "/v1/auth/token/lookup-self", &headers, None)
                    .await
                    .status
            }));
        }
    }
    let mut served = 0;
    for u in uses {
        match u.await.unwrap() {
            200 => served += 1,
            403 => {}
            other => panic!("a use answered {other}"),
        }
    }
    assert_eq!(served, 6, "a 6-use token served {served} requests");
}

#[tokio::test(flavor = "multi_thread")]
async fn crashes_lose_no_acknowledged_write_and_the_database_coming_back_is_resumed() {
    let pg = Postgres::start();
    let a = first(&pg);
    let b = joiner(&pg, &a);

    // kill -9 of B while it creates keys: every key it acknowledged is
    // on A, and A goes on serving.
    let load = {
        let addr = b.addr;
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in 0.. {
                let path = format!("/v1/transit/keys/crash-{n}");
                let headers = [("X-Vault-Token", TOKEN)];
                let r = tokio::spawn(async move {
                    https::send_json(addr, "POST", &path, &headers, Some(&json!({}))).await
                })
                .await;
                match r {
                    Ok(r) if r.status == 200 || r.status == 204 => acked.push(n),
                    _ => return acked,
                }
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(b.crash());
    let acked = load.await.unwrap();
    assert!(
        acked.len() > 3,
        "only {} keys were made before the crash",
        acked.len()
    );
    for n in &acked {
        let r = call(&a, "GET", &format!("/v1/transit/keys/crash-{n}"), None).await;
        assert_eq!(
            r.status, 200,
            "acknowledged key crash-{n} is lost: {}",
            r.body
        );
    }

    // The database killed: A answers 503, and says so in sys/health.
    pg.kill();
    let r = call(&a, "GET", "/v1/transit/keys/crash-0", None).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.to_string().contains("unreachable"), "{}", r.body);
    let health = https::get(a.addr, "/v1/sys/health").await;
    assert_eq!(health.status, 503, "{}", health.body);

    // Back again: A resumes by itself.
    pg.restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = call(&a, "POST", "/v1/transit/keys/after", Some(json!({}))).await;
        if r.status == 200 || r.status == 204 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A did not resume: {} {}",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(https::get(a.addr, "/v1/sys/health").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_holds_only_sealed_rows_and_an_edited_row_is_refused() {
    let pg = Postgres::start();
    let a = first(&pg);
    ok(
        &a,
        "POST",
        "/v1/transit/keys/x",
        Some(json!({"exportable": true})),
    )
    .await;
    ok(&a, "POST", "/v1/transit/keys/y", Some(json!({}))).await;
    let marker = "plaintext-marker-that-must-not-leak";
    let plain = B64.encode(marker);
    ok(
        &a,
        "POST",
        "/v1/transit/encrypt/x",
        Some(json!({"plaintext": plain})),
    )
    .await;
    let made = ok(&a, "POST", "/v1/auth/token/create", Some(json!({}))).await;
    let token = made["auth"]["client_token"].as_str().unwrap().to_string();
    let export = ok(&a, "GET", "/v1/transit/export/encryption-key/x/1", None).await;
    let key_b64 = export["data"]["keys"]["1"].as_str().unwrap().to_string();
    let key = B64.decode(&key_b64).unwrap();

    let dump = pg.dump();
    assert!(
        contains(&dump, b"minikms_records"),
        "the dump has no records table"
    );
    for (what, needle) in [
        ("key bytes", key.as_slice()),
        ("key base64", key_b64.as_bytes()),
        ("token", token.as_bytes()),
        ("root token", TOKEN.as_bytes()),
        ("plaintext", marker.as_bytes()),
        ("plaintext base64", plain.as_bytes()),
    ] {
        assert!(
            !contains(&dump, needle),
            "the database dump holds the {what}"
        );
    }

    // Key x's row swapped for y's, as a new write would appear: refused.
    pg.psql(
        "UPDATE minikms_records SET sealed = (SELECT sealed FROM minikms_records \
         WHERE tbl = 'keys' AND id = 'y'), version = version + 1000 \
         WHERE tbl = 'keys' AND id = 'x'",
    );
    let r = call(&a, "GET", "/v1/transit/keys/x", None).await;
    assert_eq!(r.status, 500, "an edited row was taken in: {}", r.body);
    // A replica starting on it refuses to open.
    let join = format!("https://{}", a.addr);
    let r = Server::try_start(&["--simulation", "--storage", &pg.url, "--join", &join]);
    let stderr = match r {
        Ok(s) => panic!("a replica opened an edited database on {}", s.addr),
        Err(r) => r.stderr,
    };
    assert!(stderr.contains("tampered"), "{stderr}");
}

/// Waits until `server` has logged `line` (its log lines reach the host
/// a moment after the answer).
async fn logs(server: &Server, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stderr().contains(line) {
        assert!(
            Instant::now() < deadline,
            "no {line:?} in {}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A token made on `server` (default policy), and that `other` takes it.
async fn token_seen_by(server: &Server, other: &Server) -> String {
    let made = ok(
        server,
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["default"]})),
    )
    .await;
    let token = made["auth"]["client_token"].as_str().unwrap().to_string();
    let r = common::call(other, &token, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    token
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_hiding_writes_behind_their_version_column_is_refused() {
    let pg = Postgres::start();
    let a = first(&pg);
    let b = joiner(&pg, &a);
    // Past generation 7, so that rows pinned at 7 look old to everyone.
    for n in 0..8 {
        let path = format!("/v1/transit/keys/pin-{n}");
        ok(&a, "POST", &path, Some(json!({}))).await;
    }
    let token = token_seen_by(&a, &b).await;

    // Every row written from now on claims version 7: catching up by
    // `version > seen` finds nothing.
    pg.psql(
        "CREATE FUNCTION minikms_pin() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN NEW.version := 7; RETURN NEW; END $$; \
         CREATE TRIGGER minikms_pin BEFORE INSERT OR UPDATE ON minikms_records \
         FOR EACH ROW EXECUTE FUNCTION minikms_pin()",
    );
    ok(
        &a,
        "POST",
        "/v1/auth/token/revoke",
        Some(json!({"token": token})),
    )
    .await;

    // B does not take the revoked token. A token alone in its index
    // bucket is revoked by deleting rows, which no trigger rewrites, and B
    // then sees the revocation (403); otherwise the bucket's row is
    // rewritten, hidden, and B refuses to serve (503).
    let r = common::call(&b, &token, "GET", "/v1/auth/token/lookup-self", None).await;
    assert!(
        r.status == 403 || r.status == 503,
        "B answered a revoked token: {} {}",
        r.status,
        r.body
    );
    // A write that rewrites rows (a rotation) is hidden for certain: B
    // refuses to serve the key rather than answer its old version, and
    // says so to load balancers and in its log.
    ok(&a, "POST", "/v1/transit/keys/pin-0/rotate", None).await;
    let r = common::call(&b, TOKEN, "GET", "/v1/transit/keys/pin-0", None).await;
    assert_eq!(r.status, 503, "B answered a hidden rotation: {}", r.body);
    assert!(
        r.body.to_string().contains("refuses to serve"),
        "{}",
        r.body
    );
    let health = https::get(b.addr, "/v1/sys/health").await;
    assert_eq!(health.status, 503, "{}", health.body);
    let said = health.body["storage_error"].as_str().unwrap_or("");
    assert!(said.contains("refuses to serve"), "{}", health.body);
    logs(
        &b,
        "the key store's database hides what the other replicas wrote",
    )
    .await;
    assert!(b.stderr().contains("minikms_records.version"));
    // A, which holds what it wrote, serves on.
    assert_eq!(https::get(a.addr, "/v1/sys/health").await.status, 200);

    // As B's log says: the trigger removed and B restarted, B is whole.
    pg.psql("DROP TRIGGER minikms_pin ON minikms_records");
    let (_, dir) = b.stop_keeping_data(libc::SIGTERM);
    let b = restarted(&pg, &a, dir).unwrap_or_else(|r| panic!("B did not restart: {r:?}"));
    let r = common::call(&b, &token, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let key = ok(&b, "GET", "/v1/transit/keys/pin-0", None).await;
    assert_eq!(key["data"]["latest_version"], 2, "{key}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_put_back_behind_what_a_replica_saw_is_refused() {
    let pg = Postgres::start();
    let a = first(&pg);
    let b = joiner(&pg, &a);
    let token = token_seen_by(&a, &b).await;
    // The copy, taken now.
    pg.psql("CREATE TABLE minikms_copy AS SELECT * FROM minikms_records");
    ok(
        &a,
        "POST",
        "/v1/auth/token/revoke",
        Some(json!({"token": token})),
    )
    .await;
    // B sees the revocation as load balancers poll it (sys/health is not
    // audited: only B's high-water mark remembers it), then stops.
    assert_eq!(https::get(b.addr, "/v1/sys/health").await.status, 200);
    let (_, dir) = b.stop_keeping_data(libc::SIGTERM);
    let kept = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), kept.path());

    // The old copy put back: the token is live again in the database.
    pg.psql(
        "DELETE FROM minikms_records; \
         INSERT INTO minikms_records SELECT * FROM minikms_copy",
    );

    // A, running, refuses it at once.
    let r = common::call(&a, &token, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body.to_string().contains("refuses to serve"),
        "{}",
        r.body
    );
    logs(
        &a,
        "the key store's database was rolled back: its sealed index went back",
    )
    .await;

    // B refuses to start on it, and says what happened and what to do.
    let refusal = match restarted(&pg, &a, dir) {
        Ok(b) => panic!("B opened a rolled-back database on {}", b.addr),
        Err(refusal) => refusal,
    };
    let error = refusal
        .stderr
        .lines()
        .find(|l| l.starts_with("kms-host: error: "))
        .unwrap_or_else(|| panic!("no error line: {}", refusal.stderr))
        .to_string();
    for says in [
        "was rolled back",
        "this replica has seen generation",
        "store-generation.sealed",
        "Put back its newest copy",
    ] {
        assert!(error.contains(says), "{error}");
    }

    // Going back on purpose: without the mark, B takes the database as
    // it is (the token live again, as in the copy).
    std::fs::remove_file(kept.path().join("enclave/store-generation.sealed")).unwrap();
    let b = restarted(&pg, &a, kept).unwrap_or_else(|r| panic!("B did not start: {r:?}"));
    let r = common::call(&b, &token, "GET", "/v1/auth/token/lookup-self", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// `minikms status` against `server`, remembering in `memory`; its
/// success and stderr.
fn client_status(server: &Server, memory: &std::path::Path) -> (bool, String) {
    let out = Command::new(bin("minikms"))
        .args(["--server", &format!("https://{}", server.addr), "--enclave"])
        .arg(server.signed_enclave())
        .args(["--allow-simulation", "status"])
        .env("MINIKMS_FRESHNESS_FILE", memory)
        .env_remove("MINIKMS_SERVER")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The client alternating between two replicas is not fooled into a
/// rollback (before, the second replica was refused: "the server's state
/// went backwards"): each replica has its own audit log, and b, started
/// after writes, claims a higher store generation than a's certificate.
#[tokio::test(flavor = "multi_thread")]
async fn the_client_alternates_between_replicas_without_seeing_a_rollback() {
    let pg = Postgres::start();
    let a = first(&pg);
    let work = tempfile::tempdir().unwrap();
    let memory = work.path().join("freshness.json");
    for name in ["x", "y", "z"] {
        ok(&a, "POST", &format!("/v1/transit/keys/{name}"), None).await;
    }
    let b = joiner(&pg, &a);
    for server in [&a, &b, &a, &b, &a] {
        let (ok, stderr) = client_status(server, &memory);
        assert!(ok, "refused {}: {stderr}", server.addr);
    }
    let remembered: Value = serde_json::from_slice(&std::fs::read(&memory).unwrap()).unwrap();
    assert_eq!(
        remembered["servers"].as_object().unwrap().len(),
        2,
        "{remembered}"
    );
}
