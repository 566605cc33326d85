//! Interoperability: the Python Vault client `hvac` (pinned) drives the real
//! server through `client.secrets.transit`, and Python `cryptography`
//! cross-checks what it returns; then hvac initialises a server with
//! recovery shares and unseals its data dir on a "new machine". The script makes its own virtualenv and
//! installs the pinned packages from PyPI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use minikms_testkit::bin;

#[test]
fn hvac_drives_the_transit_api() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/hvac/run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("KMS_HOST", bin("kms-host"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "hvac interop failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("interop: "), "{stdout}");
    assert!(stdout.contains("recovery checks passed"), "{stdout}");
}
