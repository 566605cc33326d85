//! A `keys.redb` in redb's file format 2, as every build before redb 5
//! wrote it, is upgraded to format 3 at the first start of a newer build,
//! with every key, and crash-safely (a copy left by a start killed
//! midway is made again).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use minikms_testkit::{https, Server};
use redb::{ReadableDatabase as _, ReadableTable as _};
use serde_json::json;

const TOKEN: &str = "s.store-format-root";

/// Rewrites `path` as builds before redb 5 wrote it: the same tables,
/// keys and values, in redb's file format 2 (redb 2.6's default).
pub fn as_format_2(path: &Path) {
    let old = path.with_extension("format-2");
    {
        let new = redb::Database::open(path).unwrap();
        let from = new.begin_read().unwrap();
        let to = redb2::Database::create(&old).unwrap();
        let tx = to.begin_write().unwrap();
        for table in from.list_tables().unwrap() {
            let name = redb::TableHandle::name(&table).to_string();
            if name == "header" {
                let t = from
                    .open_table(redb::TableDefinition::<&str, u64>::new(&name))
                    .unwrap();
                let mut out = tx
                    .open_table(redb2::TableDefinition::<&str, u64>::new(&name))
                    .unwrap();
                for item in t.iter().unwrap() {
                    let (k, v) = item.unwrap();
                    out.insert(k.value(), v.value()).unwrap();
                }
                continue;
            }
            let t = from
                .open_table(redb::TableDefinition::<&str, &[u8]>::new(&name))
                .unwrap();
            let mut out = tx
                .open_table(redb2::TableDefinition::<&str, &[u8]>::new(&name))
                .unwrap();
            for item in t.iter().unwrap() {
                let (k, v) = item.unwrap();
                out.insert(k.value(), v.value()).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    std::fs::rename(old, path).unwrap();
    assert!(matches!(
        redb::Database::open(path),
        Err(redb::DatabaseError::UpgradeRequired(2))
    ));
}

async fn call(
    server: &Server,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> https::Response {
    https::send_json(server.addr, method, path, &[("X-Vault-Token", TOKEN)], body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_of_redb_format_2_is_upgraded_at_start_with_every_key() {
    let server = Server::try_start(&["--simulation", "--dev-root-token", TOKEN]).unwrap();
    let mut ciphertexts = Vec::new();
    for name in ["a", "b", "c"] {
        let r = call(&server, "POST", &format!("/v1/transit/keys/{name}"), None).await;
        assert_eq!(r.status, 200);
        let r = call(
            &server,
            "POST",
            &format!("/v1/transit/encrypt/{name}"),
            Some(&json!({"plaintext": "aGVsbG8="})),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        ciphertexts.push(r.body["data"]["ciphertext"].as_str().unwrap().to_string());
    }
    let (status, dir) = server.stop_keeping_data(libc::SIGTERM);
    assert!(status.success());
    let store = dir.path().join("enclave/keys.redb");
    as_format_2(&store);
    // A start killed during an earlier upgrade left half a copy.
    let copy = dir.path().join("enclave/keys.redb.upgrading");
    std::fs::write(&copy, b"half a copy").unwrap();

    let server = Server::try_start_in(dir, &["--simulation", "--dev-root-token", TOKEN])
        .unwrap_or_else(|r| panic!("did not start on a format-2 store: {}", r.stderr));
    for (name, ciphertext) in ["a", "b", "c"].iter().zip(&ciphertexts) {
        let r = call(
            &server,
            "POST",
            &format!("/v1/transit/decrypt/{name}"),
            Some(&json!({ "ciphertext": ciphertext })),
        )
        .await;
        assert_eq!(r.status, 200, "{name}: {:?}", r.body);
        assert_eq!(r.body["data"]["plaintext"], "aGVsbG8=");
    }
    let stderr = server.stderr();
    assert!(
        stderr.contains("keys.redb to redb's file format 3"),
        "{stderr}"
    );
    let (status, dir) = server.stop_keeping_data(libc::SIGTERM);
    assert!(status.success());
    assert!(!copy.exists(), "the unfinished copy is left");
    drop(redb::Database::open(&store).expect("format 3 now"));
    // And it opens again, upgraded once.
    let server = Server::try_start_in(dir, &["--simulation"]).unwrap();
    assert!(!server.stderr().contains("file format 3"));
    assert!(server.stop_with(libc::SIGTERM).success());
}
