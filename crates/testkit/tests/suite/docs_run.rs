//! The README's tour and the walkthroughs in docs/ (replicas, recovery,
//! key release) run as a user types them, block by block, in one shell,
//! from a fresh temporary directory (`minikms_testkit::docs` says how a
//! block runs). The tour's `./run.sh` runs the binaries this test run
//! built (`MINIKMS_BIN_DIR`), not a release build.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use minikms_testkit::{bin, docs};

/// The pages, in the order a user reads them: each after the README's
/// tour, whose names (`KMS`, `TOKEN`, `ENCLAVE`, `REPO`) they use.
const PAGES: [&str; 4] = [
    "README.md",
    "docs/replicas.md",
    "docs/recovery.md",
    "docs/key-release.md",
];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A checkout as a user has it after `./run.sh`: the repository's files
/// the pages use, and `target/release` holding this run's binaries.
fn checkout(at: &Path, repo: &Path, built: &Path) {
    std::fs::create_dir_all(at.join("target")).unwrap();
    for name in ["run.sh", "scripts", "enclave.toml", "bench", "interop"] {
        symlink(repo.join(name), at.join(name)).unwrap();
    }
    symlink(built, at.join("target/release")).unwrap();
}

/// Stops the PostgreSQL servers the pages left in `tmp` (a failed run
/// stops before a page's own stop).
fn stop_postgres(repo: &Path, tmp: &Path) {
    for entry in std::fs::read_dir(tmp).unwrap() {
        let dir = entry.unwrap().path();
        let named = dir.file_name().unwrap().to_string_lossy().into_owned();
        if named.starts_with("minikms-pg.") {
            let _ = Command::new("bash")
                .arg(repo.join("scripts/postgres.sh"))
                .arg("stop")
                .arg(&dir)
                .status();
        }
    }
}

#[test]
fn the_readme_and_the_walkthroughs_run_as_written() {
    let repo = repository();
    let built = bin("kms-host").parent().unwrap().to_path_buf();
    assert!(bin("minikms").is_file());
    let work = tempfile::tempdir().unwrap();
    // The postgres user (scripts/postgres.sh as root) enters TMPDIR.
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (home, tmp, root) = (
        work.path().join("home"),
        work.path().join("tmp"),
        work.path().join("minikms"),
    );
    std::fs::create_dir(&home).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    checkout(&root, &repo, &built);

    let mut blocks = Vec::new();
    for page in PAGES {
        blocks.extend(docs::page_blocks(&repo, page));
    }
    let script = work.path().join("session.sh");
    std::fs::write(&script, docs::script(&blocks)).unwrap();

    let started = Instant::now();
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .current_dir(&root)
        .env("HOME", &home)
        .env("TMPDIR", &tmp)
        .env("MINIKMS_BIN_DIR", &built)
        .stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("XDG_") || name.starts_with("MINIKMS_") || name.starts_with("VAULT_") {
            cmd.env_remove(&name);
        }
    }
    cmd.env("MINIKMS_BIN_DIR", &built);
    let out = cmd.output().unwrap();
    stop_postgres(&repo, &tmp);
    eprintln!(
        "docs_run: {} blocks of {} pages in {:.1} s",
        blocks.len(),
        PAGES.len(),
        started.elapsed().as_secs_f64()
    );
    let tail = |b: &[u8]| {
        let text = String::from_utf8_lossy(b).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    };
    assert!(
        out.status.success(),
        "the docs do not run as written:\n--- stdout (end)\n{}\n--- stderr (end)\n{}",
        tail(&out.stdout),
        tail(&out.stderr)
    );
}
