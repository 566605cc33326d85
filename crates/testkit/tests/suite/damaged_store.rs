//! A damaged `keys.redb` is refused at start with a message that names it:
//! the enclave reports the failure over the channel and the host exits
//! non-zero at once (before, redb's panic left host and enclave hanging).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use minikms_testkit::{https, Server};
use redb::{ReadableDatabase as _, ReadableTable as _};
use serde_json::json;

use super::store_format::as_format_2;

const TOKEN: &str = "s.damaged-store-root";

/// A stopped server's data dir holding a store with a few keys.
async fn data_dir_with_keys() -> tempfile::TempDir {
    let server = Server::try_start(&["--simulation", "--dev-root-token", TOKEN]).unwrap();
    for name in ["a", "b", "c"] {
        let r = minikms_testkit::https::send_json(
            server.addr,
            "POST",
            &format!("/v1/transit/keys/{name}"),
            &[("X-Vault-Token", TOKEN)],
            Some(&json!({})),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let (status, dir) = server.stop_keeping_data(libc::SIGTERM);
    assert!(status.success());
    dir
}

/// Damages a copy of `original`'s store with `damage`, starts on it, and
/// checks the refusal: quick, non-zero, one error line naming the file.
fn assert_refused(original: &Path, what: &str, damage: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    minikms_testkit::copy_dir(original, dir.path());
    damage(&dir.path().join("enclave/keys.redb"));
    let started = Instant::now();
    let refusal = match Server::try_start_in(dir, &["--simulation"]) {
        Ok(server) => panic!("{what}: started on {}", server.addr),
        Err(refusal) => refusal,
    };
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "{what}: took {took:?}");
    assert_eq!(refusal.status.code(), Some(1), "{what}: {}", refusal.stderr);
    let errors: Vec<&str> = refusal
        .stderr
        .lines()
        .filter(|l| l.starts_with("kms-host: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{what}: {}", refusal.stderr);
    assert!(
        errors[0].contains("keys.redb is corrupt: restore it from a backup"),
        "{what}: {}",
        errors[0]
    );
    for bad in ["panicked", "RUST_BACKTRACE"] {
        assert!(!refusal.stderr.contains(bad), "{what}: {}", refusal.stderr);
    }
    eprintln!("{what}: refused in {took:?}: {}", errors[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_store_is_refused_with_a_clear_message() {
    let original = data_dir_with_keys().await;
    let store = original.path().join("enclave/keys.redb");
    let len = std::fs::metadata(&store).unwrap().len();
    assert!(len > 0x200, "store of {len} bytes");
    assert_refused(original.path(), "a file cut in half", |path| {
        let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.set_len(len / 2).unwrap();
    });
    assert_refused(original.path(), "a byte flipped at 0x100", |path| {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[0x100] ^= 0xff;
        std::fs::write(path, bytes).unwrap();
    });
    // The original still opens: the copies were damaged, not it.
    let server = Server::try_start_in(original, &["--simulation"]).unwrap();
    assert!(server.stop_with(libc::SIGTERM).success());
}

/// Issue 33, point 10: one byte, 0x27, made redb 2 allocate 8 TiB and
/// abort the enclave (cberner/redb#1331). In redb's format 3 that byte is
/// no longer read: the store opens with every key. In the format-2 file
/// an older build left, it is refused as corrupt before redb 2 reads it.
#[tokio::test(flavor = "multi_thread")]
async fn byte_0x27_flipped_is_no_abort() {
    let original = data_dir_with_keys().await;
    let dir = tempfile::tempdir().unwrap();
    minikms_testkit::copy_dir(original.path(), dir.path());
    let store = dir.path().join("enclave/keys.redb");
    let mut bytes = std::fs::read(&store).unwrap();
    bytes[0x27] ^= 0xff;
    std::fs::write(&store, bytes).unwrap();
    let server = Server::try_start_in(dir, &["--simulation"])
        .unwrap_or_else(|r| panic!("refused: {:?} {}", r.status, r.stderr));
    let r = https::send_json(
        server.addr,
        "LIST",
        "/v1/transit/keys",
        &[("X-Vault-Token", TOKEN)],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["keys"], json!(["a", "b", "c"]));
    assert!(server.stop_with(libc::SIGTERM).success());

    assert_refused(original.path(), "format 2, byte 0x27 flipped", |path| {
        as_format_2(path);
        let mut bytes = std::fs::read(path).unwrap();
        bytes[0x27] ^= 0xff;
        std::fs::write(path, bytes).unwrap();
    });
}

/// Issue 33, point 11: a damaged sealed root key (a byte of it changed in
/// `keys.redb`) started the store sealed "on another machine". It starts
/// sealed (recovery shares can still open it) and says the file is
/// damaged and what to do.
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_root_key_says_damaged_not_another_machine() {
    let original = data_dir_with_keys().await;
    let dir = tempfile::tempdir().unwrap();
    minikms_testkit::copy_dir(original.path(), dir.path());
    let store = dir.path().join("enclave/keys.redb");
    let sealed_root = {
        let db = redb::Database::open(&store).unwrap();
        let tx = db.begin_read().unwrap();
        let root = tx
            .open_table(redb::TableDefinition::<&str, &[u8]>::new("root"))
            .unwrap();
        let value = root.get("sealed_root").unwrap().unwrap().value().to_vec();
        value
    };
    let mut bytes = std::fs::read(&store).unwrap();
    // Every copy of it in the file (redb copies pages on write): one byte
    // of the ciphertext, past magic, check value and nonce.
    let places: Vec<usize> = (0..bytes.len() - sealed_root.len())
        .filter(|&at| bytes[at..].starts_with(&sealed_root))
        .collect();
    assert!(!places.is_empty());
    eprintln!(
        "the sealed root key is at {places:#x?} in a file of {:#x} bytes",
        bytes.len()
    );
    for at in places {
        bytes[at + 30] ^= 0x01;
    }
    std::fs::write(&store, bytes).unwrap();
    let server = Server::try_start_in(dir, &["--simulation"])
        .unwrap_or_else(|r| panic!("refused: {:?} {}", r.status, r.stderr));
    let r = server.get("/v1/sys/seal-status").await;
    assert_eq!(r.body["sealed"], true, "{:?}", r.body);
    let stderr = server.stderr();
    assert!(!stderr.contains("another machine"), "{stderr}");
    assert!(
        stderr.contains(
            "keys.redb is damaged: the sealed root key does not open under this CPU's key"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("restore the file from a backup"),
        "{stderr}"
    );
    assert!(server.stop_with(libc::SIGTERM).success());
}
