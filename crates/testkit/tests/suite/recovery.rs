//! Keys that outlive the machine: `minikms init` splits the store's root
//! key into shares encrypted to people's RSA keys (opened by `openssl
//! pkeyutl`); a copy of the data dir on a "new machine" (no fuse file)
//! starts sealed, refuses wrong shares and impostor servers, and opens
//! with k shares, keys, tokens, policies and the audit log intact. A
//! store without shares gets them from root only, encrypted, at least two
//! to rebuild; and once made, removing the unsealed row that says so (redb
//! or PostgreSQL) does not let them be made again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use minikms_testkit::postgres::Postgres;
use minikms_testkit::{bin, contains, copy_dir, https, walk, Server};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};

use crate::common::{call, openssl, seal_status};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Pins the enclave file the test kit starts servers with.
fn pin() -> Vec<String> {
    let enclave = minikms_testkit::shared_signed_enclave();
    vec!["--enclave".into(), enclave.display().to_string()]
}

/// `minikms` against `addr`, pinned by `pin`.
fn minikms(
    addr: std::net::SocketAddr,
    pin: &[String],
    work: &Path,
    args: &[&str],
) -> (bool, String, String) {
    let out = Command::new(bin("minikms"))
        .args(["--server", &format!("https://{addr}"), "--allow-simulation"])
        .args(pin)
        .args(args)
        .env("MINIKMS_FRESHNESS_FILE", work.join("freshness.json"))
        .env_remove("MINIKMS_SERVER")
        .env_remove("MINIKMS_TOKEN")
        .env_remove("VAULT_TOKEN")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

async fn give(server: &Server, key: &str) -> https::Response {
    https::send_json(
        server.addr,
        "PUT",
        "/v1/sys/unseal",
        &[],
        Some(&json!({ "key": key })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn shares_rebuild_the_store_on_a_new_machine() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // Five people, keys made with openssl; the first two give public keys,
    // the others their key files (the client takes the public half).
    let mut keys: Vec<PathBuf> = Vec::new();
    let mut recipients: Vec<PathBuf> = Vec::new();
    for i in 1..=5 {
        let key = w.join(format!("person-{i}.pem"));
        openssl(&["genrsa", "-out", key.to_str().unwrap(), "2048"]);
        let recipient = if i <= 2 {
            let public = w.join(format!("person-{i}.pub.pem"));
            openssl(&[
                "rsa",
                "-in",
                key.to_str().unwrap(),
                "-pubout",
                "-out",
                public.to_str().unwrap(),
            ]);
            public
        } else {
            key.clone()
        };
        keys.push(key);
        recipients.push(recipient);
    }

    let server = Server::try_start(&["--simulation"]).unwrap();
    let health = server.get("/v1/sys/health").await;
    assert_eq!(
        (health.status, health.body["initialized"].clone()),
        (501, json!(false))
    );
    let out = w.join("shares");
    let mut args = vec![
        "init",
        "--shares",
        "5",
        "--threshold",
        "3",
        "--out",
        out.to_str().unwrap(),
    ];
    for r in &recipients {
        args.extend(["--recipient", r.to_str().unwrap()]);
    }
    let (ok, stdout, stderr) = minikms(server.addr, &pin(), w, &args);
    assert!(ok, "{stderr}");
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    let root = answer["root_token"].as_str().unwrap().to_string();
    assert!(!stdout.contains("keys"), "init printed shares: {stdout}");
    // Each share opens with standard tools and its owner's key only.
    let shares: Vec<Vec<u8>> = (1..=5)
        .map(|i| {
            let file = out.join(format!("share-{i}.enc"));
            openssl(&[
                "pkeyutl",
                "-decrypt",
                "-inkey",
                keys[i - 1].to_str().unwrap(),
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha256",
                "-in",
                file.to_str().unwrap(),
            ])
        })
        .collect();
    assert!(shares.iter().all(|s| s.len() == 41));
    assert_eq!(seal_status(&server).await["n"], 5);
    assert_eq!(server.get("/v1/sys/health").await.status, 200);
    let again = https::send_json(server.addr, "PUT", "/v1/sys/init", &[], Some(&json!({}))).await;
    assert_eq!(again.status, 400, "a second init");

    // Keys, a token and a policy to find again.
    assert!(
        call(&server, &root, "POST", "/v1/transit/keys/k", json!({}))
            .await
            .status
            < 300
    );
    let ct = call(
        &server,
        &root,
        "POST",
        "/v1/transit/encrypt/k",
        json!({"plaintext": "aGVsbG8="}),
    )
    .await;
    let ciphertext = ct.body["data"]["ciphertext"].as_str().unwrap().to_string();
    let policy = r#"path "transit/decrypt/k" { capabilities = ["update"] }"#;
    assert!(
        call(
            &server,
            &root,
            "PUT",
            "/v1/sys/policy/dec",
            json!({"policy": policy})
        )
        .await
        .status
            < 300
    );
    let made = call(
        &server,
        &root,
        "POST",
        "/v1/auth/token/create",
        json!({"policies": ["dec"]}),
    )
    .await;
    let app_token = made.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, old_dir) = server.stop_keeping_data(libc::SIGTERM);

    // A new machine: the data dir without the fuse file.
    let new_dir = tempfile::tempdir().unwrap();
    copy_dir(old_dir.path(), new_dir.path());
    std::fs::remove_file(new_dir.path().join("sim-platform-fuses")).unwrap();
    let server = Server::try_start_in(new_dir, &["--simulation"]).unwrap();
    let s = seal_status(&server).await;
    assert_eq!(
        (
            s["sealed"].clone(),
            s["t"].clone(),
            s["n"].clone(),
            s["progress"].clone()
        ),
        (json!(true), json!(3), json!(5), json!(0))
    );
    let health = server.get("/v1/sys/health").await;
    assert_eq!(
        (health.status, health.body["sealed"].clone()),
        (503, json!(true))
    );
    assert_eq!(
        server.get("/v1/sys/health?sealedcode=299").await.status,
        299
    );
    let r = call(
        &server,
        &root,
        "POST",
        "/v1/transit/decrypt/k",
        json!({"ciphertext": ciphertext}),
    )
    .await;
    assert_eq!(r.status, 503, "a key route while sealed");
    assert!(
        r.body["errors"][0].as_str().unwrap().contains("sealed"),
        "{:?}",
        r.body
    );

    // An impostor in front of it (no evidence), and a pin the enclave does
    // not match: refused before anything is sent.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let proxy = https::man_in_the_middle(
        server.addr,
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .await;
    let share_1 = out.join("share-1.enc");
    let unseal_1 = [
        "unseal",
        "--share",
        share_1.to_str().unwrap(),
        "--identity",
        keys[0].to_str().unwrap(),
    ];
    let (ok, _, stderr) = minikms(proxy, &pin(), w, &unseal_1);
    assert!(
        !ok && stderr.contains("no attestation evidence"),
        "{stderr}"
    );
    let wrong = [
        "--mrenclave".to_string(),
        "00000000000000000000000000000000000000000000000000000000000000ff".to_string(),
    ];
    let (ok, _, stderr) = minikms(server.addr, &wrong, w, &unseal_1);
    assert!(!ok && stderr.contains("refused the server"), "{stderr}");
    assert_eq!(seal_status(&server).await["progress"], 0);

    // A share of another init, an altered share, and a repeated one.
    let other = Server::try_start(&["--simulation"]).unwrap();
    let other_init = https::send_json(
        other.addr,
        "PUT",
        "/v1/sys/init",
        &[],
        Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    let foreign = other_init.body["keys_base64"][0]
        .as_str()
        .unwrap()
        .to_string();
    drop(other);
    let r = give(&server, &foreign).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["errors"][0]
            .as_str()
            .unwrap()
            .contains("another init"),
        "{:?}",
        r.body
    );
    let mut altered = shares[1].clone();
    altered[30] ^= 0x40;
    let r = give(&server, &B64.encode(&altered)).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["errors"][0]
            .as_str()
            .unwrap()
            .contains("not one of the shares"),
        "{:?}",
        r.body
    );
    assert_eq!(seal_status(&server).await["progress"], 0);

    // Two shares: still sealed; reset forgets them.
    let (ok, stdout, stderr) = minikms(server.addr, &pin(), w, &unseal_1);
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["progress"],
        1
    );
    let r = give(&server, &hex::encode(&shares[3])).await;
    assert_eq!(
        (r.body["sealed"].clone(), r.body["progress"].clone()),
        (json!(true), json!(2))
    );
    assert_eq!(
        give(&server, &hex::encode(&shares[3])).await.status,
        400,
        "a repeated share"
    );
    let r = https::send_json(
        server.addr,
        "PUT",
        "/v1/sys/unseal",
        &[],
        Some(&json!({"reset": true})),
    )
    .await;
    assert_eq!(r.body["progress"], 0);
    // Three shares, two of them through `minikms unseal`: open.
    for i in [2usize, 5] {
        let file = out.join(format!("share-{i}.enc"));
        let (ok, _, stderr) = minikms(
            server.addr,
            &pin(),
            w,
            &[
                "unseal",
                "--share",
                file.to_str().unwrap(),
                "--identity",
                keys[i - 1].to_str().unwrap(),
            ],
        );
        assert!(ok, "{stderr}");
    }
    let r = give(&server, &B64.encode(&shares[0])).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["sealed"], false);
    assert_eq!(server.get("/v1/sys/health").await.status, 200);

    // Everything as it was.
    let r = call(
        &server,
        &app_token,
        "POST",
        "/v1/transit/decrypt/k",
        json!({"ciphertext": ciphertext}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["plaintext"], "aGVsbG8=");
    let r = call(
        &server,
        &app_token,
        "POST",
        "/v1/transit/encrypt/k",
        json!({"plaintext": "aGk="}),
    )
    .await;
    assert_eq!(r.status, 403, "the policy still limits the token");
    let (ok, _, stderr) = minikms(server.addr, &pin(), w, &["status"]);
    assert!(ok, "after unseal, the store's CA: {stderr}");
    let (_, nd_kept) = server.stop_keeping_data(libc::SIGTERM);
    let log = nd_kept.path().join("enclave/audit.log");
    let (ok, stdout, stderr) = minikms(
        "127.0.0.1:1".parse().unwrap(),
        &pin(),
        w,
        &["audit", "verify", log.to_str().unwrap()],
    );
    assert!(ok, "the audit log across machines: {stderr}");
    assert!(stdout.contains("\"entries\""), "{stdout}");

    // The new machine opens by itself now.
    let server = Server::try_start_in(nd_kept, &["--simulation"]).unwrap();
    assert_eq!(seal_status(&server).await["sealed"], false);
    let r = call(
        &server,
        &root,
        "POST",
        "/v1/transit/decrypt/k",
        json!({"ciphertext": ciphertext}),
    )
    .await;
    assert_eq!(r.status, 200);
    let logs = server.stderr();
    let (_, nd_kept) = server.stop_keeping_data(libc::SIGTERM);

    // No share and no root key in any file or log, in any encoding.
    let parsed: Vec<blahaj::Share> = shares[..3]
        .iter()
        .map(|s| blahaj::Share::try_from(&s[8..]).unwrap())
        .collect();
    let root_key = blahaj::Sharks(3).recover(&parsed).unwrap();
    let mut secrets: Vec<Vec<u8>> = shares.clone();
    secrets.push(root_key);
    let mut files = walk(old_dir.path());
    files.extend(walk(nd_kept.path()));
    let mut haystacks: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| (f.display().to_string(), std::fs::read(f).unwrap()))
        .collect();
    haystacks.push(("server log".into(), logs.into_bytes()));
    for secret in &secrets {
        let forms = [
            secret.clone(),
            B64.encode(secret).into_bytes(),
            hex::encode(secret).into_bytes(),
        ];
        for (name, bytes) in &haystacks {
            for form in &forms {
                assert!(!contains(bytes, form), "a secret in {name}");
            }
        }
    }
}

/// A person holding a share: their RSA key file, and its public half as
/// `pgp_keys` takes it.
fn holder(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(format!("{name}.pem"));
    openssl(&["genrsa", "-out", key.to_str().unwrap(), "2048"]);
    let public = openssl(&["rsa", "-in", key.to_str().unwrap(), "-pubout"]);
    (key, String::from_utf8(public).unwrap())
}

/// A `sys/recovery-shares` body: n shares of which k unseal, to `keys`.
fn shares_body(n: u8, k: u8, keys: &[&str]) -> Value {
    json!({"secret_shares": n, "secret_threshold": k, "pgp_keys": keys})
}

/// The refusal's message of a 4xx answer.
fn refusal(r: &https::Response) -> String {
    r.body["errors"][0].as_str().unwrap_or_default().to_string()
}

/// The store's root key never goes to a token the ACL lets through: only
/// root may make shares for a store that has none, each share encrypted to
/// its own recipient, at least two to rebuild it. A refusal changes
/// nothing.
#[tokio::test(flavor = "multi_thread")]
async fn recovery_shares_are_for_root_only_and_never_in_clear() {
    const ROOT: &str = "hvs.recovery-root-only";
    let work = tempfile::tempdir().unwrap();
    let (_, alice) = holder(work.path(), "alice");
    let (_, bob) = holder(work.path(), "bob");
    let server = Server::try_start(&["--simulation", "--dev-root-token", ROOT]).unwrap();
    let admin =
        r#"path "sys/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }"#;
    let r = call(
        &server,
        ROOT,
        "PUT",
        "/v1/sys/policy/sys-admin",
        json!({"policy": admin}),
    )
    .await;
    assert!(r.status < 300, "{:?}", r.body);
    let made = call(
        &server,
        ROOT,
        "POST",
        "/v1/auth/token/create",
        json!({"policies": ["sys-admin"]}),
    )
    .await;
    let sys_admin = made.body["auth"]["client_token"].as_str().unwrap();

    let path = "/v1/sys/recovery-shares";
    let good = shares_body(2, 2, &[&alice, &bob]);
    let r = call(&server, sys_admin, "PUT", path, good.clone()).await;
    assert_eq!(r.status, 403, "a sys/* token got shares: {:?}", r.body);
    assert!(refusal(&r).contains("only the root token"), "{:?}", r.body);
    let in_clear = json!({"secret_shares": 1, "secret_threshold": 1});
    let r = call(&server, ROOT, "PUT", path, in_clear).await;
    assert_eq!(r.status, 400, "shares in clear: {:?}", r.body);
    assert!(
        refusal(&r).contains("never answers shares in clear"),
        "{:?}",
        r.body
    );
    let r = call(&server, ROOT, "PUT", path, shares_body(1, 1, &[&alice])).await;
    assert_eq!(r.status, 400, "a share that is the root key: {:?}", r.body);
    assert!(refusal(&r).contains("at least 2"), "{:?}", r.body);
    let r = call(
        &server,
        ROOT,
        "PUT",
        path,
        shares_body(2, 2, &[&alice, &alice]),
    )
    .await;
    assert_eq!(r.status, 400, "two shares to one person: {:?}", r.body);
    assert!(refusal(&r).contains("same key"), "{:?}", r.body);
    assert_eq!(
        seal_status(&server).await["n"],
        0,
        "a refusal changed the store"
    );

    let r = call(&server, ROOT, "PUT", path, good).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["keys_encrypted"], true);
    assert_eq!(r.body["data"]["keys_base64"].as_array().unwrap().len(), 2);
    assert_eq!(seal_status(&server).await["n"], 2);
}

/// A store initialised without shares (here by the dev root token, as a
/// store migrated from before recovery shares) gets them once, from root,
/// and then recovers on a new machine like any other. Removing the
/// unsealed copy of "this store has shares" (the host can) does not let
/// shares be made again: the fact is sealed in the store, and the copy is
/// written again at the next start.
#[tokio::test(flavor = "multi_thread")]
async fn an_initialised_store_without_shares_gets_them_once() {
    const ROOT: &str = "hvs.recovery-dev-root";
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (alice, _) = holder(w, "alice");
    let (bob, _) = holder(w, "bob");
    let server = Server::try_start(&["--simulation", "--dev-root-token", ROOT]).unwrap();
    assert_eq!(seal_status(&server).await["n"], 0);
    let out = w.join("shares");
    let args = |token: &'static str| {
        vec![
            "--token".to_string(),
            token.to_string(),
            "recovery-shares".into(),
            "--shares".into(),
            "2".into(),
            "--threshold".into(),
            "2".into(),
            "--recipient".into(),
            alice.display().to_string(),
            "--recipient".into(),
            bob.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ]
    };
    let run = |server: &Server, token: &'static str| {
        let a = args(token);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        minikms(server.addr, &pin(), w, &a)
    };
    let (ok, _, stderr) = run(&server, "hvs.nobody");
    assert!(!ok && stderr.contains("permission denied"), "{stderr}");
    let (ok, stdout, stderr) = run(&server, ROOT);
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("root_token"), "{stdout}");
    assert_eq!(seal_status(&server).await["n"], 2);
    let (ok, _, stderr) = run(&server, ROOT);
    assert!(
        !ok && stderr.contains("already has recovery shares"),
        "{stderr}"
    );
    let shares: Vec<Vec<u8>> = [(&alice, 1), (&bob, 2)]
        .into_iter()
        .map(|(key, i)| {
            openssl(&[
                "pkeyutl",
                "-decrypt",
                "-inkey",
                key.to_str().unwrap(),
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha256",
                "-in",
                out.join(format!("share-{i}.enc")).to_str().unwrap(),
            ])
        })
        .collect();
    let (_, data) = server.stop_keeping_data(libc::SIGTERM);

    // The host removes the unsealed `recovery` row of keys.redb, restarts,
    // and asks again: refused, and the row is back.
    let store = data.path().join("enclave/keys.redb");
    let root_table = redb::TableDefinition::<&str, &[u8]>::new("root");
    {
        let db = redb::Database::open(&store).unwrap();
        let tx = db.begin_write().unwrap();
        assert!(tx
            .open_table(root_table)
            .unwrap()
            .remove("recovery")
            .unwrap()
            .is_some());
        tx.commit().unwrap();
    }
    let server = Server::try_start_in(data, &["--simulation", "--dev-root-token", ROOT]).unwrap();
    assert_eq!(seal_status(&server).await["n"], 2, "the shares forgotten");
    let (ok, _, stderr) = run(&server, ROOT);
    assert!(
        !ok && stderr.contains("already has recovery shares"),
        "shares made again once the row was removed: {stderr}"
    );
    assert!(
        server.stderr().contains("written again"),
        "{}",
        server.stderr()
    );
    let (_, old_dir) = server.stop_keeping_data(libc::SIGTERM);

    // A new machine: sealed, and the two shares open it.
    let new_dir = tempfile::tempdir().unwrap();
    copy_dir(old_dir.path(), new_dir.path());
    std::fs::remove_file(new_dir.path().join("sim-platform-fuses")).unwrap();
    let server =
        Server::try_start_in(new_dir, &["--simulation", "--dev-root-token", ROOT]).unwrap();
    assert_eq!(seal_status(&server).await["sealed"], true);
    let r = give(&server, &B64.encode(&shares[0])).await;
    assert_eq!(r.body["progress"], 1, "{:?}", r.body);
    let r = give(&server, &B64.encode(&shares[1])).await;
    assert_eq!(r.body["sealed"], false, "{:?}", r.body);
    let r = call(
        &server,
        ROOT,
        "GET",
        "/v1/auth/token/lookup-self",
        json!({}),
    )
    .await;
    assert_eq!(r.status, 200);
}

/// The attack of issue 33 on PostgreSQL: with write access to the
/// database, delete the `recovery` row of `minikms_header`, restart, and
/// ask for shares again. The sealed init record still says the store has
/// shares: refused, and the row is written again.
#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_recovery_row_in_postgres_does_not_allow_new_shares() {
    const ROOT: &str = "hvs.recovery-postgres-root";
    let work = tempfile::tempdir().unwrap();
    let (_, alice) = holder(work.path(), "alice");
    let (_, bob) = holder(work.path(), "bob");
    let (_, carol) = holder(work.path(), "carol");
    let pg = Postgres::start();
    let args = [
        "--simulation",
        "--storage",
        &pg.url,
        "--dev-root-token",
        ROOT,
    ];
    let server = Server::try_start(&args).unwrap();
    let path = "/v1/sys/recovery-shares";
    let r = call(
        &server,
        ROOT,
        "PUT",
        path,
        shares_body(2, 2, &[&alice, &bob]),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (_, data) = server.stop_keeping_data(libc::SIGTERM);

    let row = "SELECT count(*) FROM minikms_header WHERE name = 'recovery'";
    assert_eq!(pg.psql(row).trim(), "1");
    pg.psql("DELETE FROM minikms_header WHERE name = 'recovery'");
    assert_eq!(pg.psql(row).trim(), "0");
    let server = Server::try_start_in(data, &args).unwrap();
    assert_eq!(seal_status(&server).await["n"], 2, "the shares forgotten");
    let r = call(
        &server,
        ROOT,
        "PUT",
        path,
        shares_body(2, 2, &[&bob, &carol]),
    )
    .await;
    assert_eq!(
        r.status, 400,
        "shares made again once the row was deleted: {:?}",
        r.body
    );
    assert!(
        refusal(&r).contains("already has recovery shares"),
        "{:?}",
        r.body
    );
    assert_eq!(pg.psql(row).trim(), "1", "the row is not written again");
    assert!(
        server.stderr().contains("written again"),
        "{}",
        server.stderr()
    );
}
