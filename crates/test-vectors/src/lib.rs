//! Where tests find the recorded real-hardware evidence: the folder
//! `shared/vectors` beside the repository (see its README for the sources).
//! It is read in place, never copied into the project.
//!
//! A user's clone has no such folder: tests then skip with a message. Under
//! `CI=true` a missing folder fails the test instead, so a green CI always
//! means the vectors were checked.
#![allow(clippy::panic)]

use std::path::{Path, PathBuf};

/// The vectors folder, or `None` (after printing why) when it is absent.
///
/// # Panics
/// When the folder is absent and `CI=true`.
pub fn dir() -> Option<PathBuf> {
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

/// A file of the vectors folder (`dir/name`); a missing file fails the test,
/// since the folder is there.
///
/// # Panics
/// When the file cannot be read.
pub fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

/// `name` read from the vectors folder, or `None` where [`dir`] skips.
pub fn file(name: &str) -> Option<Vec<u8>> {
    dir().map(|d| read(&d, name))
}
