//! Shared test helpers: the vectors folder, read in place.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// The shared vectors folder, or `None` (with a printed reason) when absent.
/// Under `CI=true` an absent folder fails the test instead: CI must not
/// pass by skipping.
pub fn vectors() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors");
    if dir.is_dir() {
        Some(dir)
    } else if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "the attestation vectors folder {} is absent (CI=true)",
            dir.display()
        );
    } else {
        eprintln!(
            "skipping: the attestation vectors folder {} is absent",
            dir.display()
        );
        None
    }
}

/// A vector file; a missing one fails the test (the folder is there).
pub fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A time inside the collateral's window (its start, like dcap-qvl's
/// `now_from_collateral`).
pub fn at_of(collateral: &[u8]) -> u64 {
    let (from, to) = minikms_verifier::collateral_window_json(collateral).unwrap();
    assert!(from <= to);
    from
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
