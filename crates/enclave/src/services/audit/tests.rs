#![allow(clippy::unwrap_used)]
use super::*;
use std::fs::{File, OpenOptions};

/// Request `n`'s entry: its key is named `k{n}`.
fn record(n: u16) -> Record {
    Record {
        request_id: RequestId::new(),
        accessor: None,
        verb: "update",
        route: "transit/encrypt/{name}".into(),
        key: Some(format!("k{n}")),
        key_version: Some(1),
        status: 200,
        attested: None,
    }
}

/// A new log in `dir` with a fresh key, its writer and syncer
/// running; syncs go to `sync_file` if given, else to the log's file.
fn new_log(dir: &Path, sync_file: Option<File>) -> (Arc<AuditLog>, PathBuf) {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let path = dir.join(FILE_NAME);
    let tail = open_tail(&path, key.public_key().as_ref()).unwrap();
    let sync_file = sync_file.unwrap_or_else(|| tail.file.try_clone().unwrap());
    let log = AuditLog::continue_from(
        key,
        path.clone(),
        tail,
        Arc::new(sync_file),
        Default::default(),
        Default::default(),
    );
    (log, path)
}

/// Records request `n`; a request left waiting would hang the test,
/// so each gets a deadline.
async fn answer(log: &AuditLog, n: u16, durable: bool) -> Result<(), AuditError> {
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        log.record(record(n), durable),
    )
    .await
    .expect("the audit log answers within 10 s")
}

/// A write that fails and cannot be cut back off (`/dev/full` under the
/// log's file handle: it cannot be truncated) refuses that request and
/// every later one, durable or not, and nothing after the failure reaches
/// the file. (A failed write that is cut back off recovers: the floods
/// test in the testkit suite fills a real file system.)
#[tokio::test]
async fn a_failed_write_refuses_every_later_request() {
    let dir = tempfile::tempdir().unwrap();
    let (log, path) = new_log(dir.path(), None);

    answer(&log, 1, false).await.unwrap();
    answer(&log, 2, true).await.unwrap();
    let before = std::fs::read(&path).unwrap();
    assert_eq!(before.iter().filter(|&&b| b == b'\n').count(), 2);

    lock(&log.tail).file = OpenOptions::new().append(true).open("/dev/full").unwrap();
    let refused = answer(&log, 3, false).await.unwrap_err();
    assert!(matches!(refused, AuditError::Failed { .. }), "{refused}");
    for durable in [false, true] {
        let later = answer(&log, 4, durable).await.unwrap_err();
        assert!(matches!(later, AuditError::Failed { .. }), "{later}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// A sync that fails (`fdatasync` on `/dev/null` is EINVAL) refuses
/// the request waiting for it and every later one, durable or not.
#[tokio::test]
async fn a_failed_sync_refuses_every_later_request() {
    let dir = tempfile::tempdir().unwrap();
    let (log, path) = new_log(dir.path(), Some(File::open("/dev/null").unwrap()));

    // Written to the file; its sync (within SYNC_INTERVAL) fails later.
    answer(&log, 1, false).await.unwrap();
    let refused = answer(&log, 2, true).await.unwrap_err();
    assert!(matches!(refused, AuditError::Failed { .. }), "{refused}");
    for durable in [false, true] {
        let later = answer(&log, 3, durable).await.unwrap_err();
        assert!(matches!(later, AuditError::Failed { .. }), "{later}");
    }
    // Entry 2 is written unless the failed sync of entry 1 came first;
    // nothing is written after the failure.
    let lines = std::fs::read(&path).unwrap();
    let count = lines.iter().filter(|&&b| b == b'\n').count();
    assert!((1..=2).contains(&count), "{count} lines");
}
